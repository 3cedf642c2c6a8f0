"""Strategies kept while fuzzing (fuzz/reuse.py) draw exactly what schemathesis' fresh ones draw."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from schemathesis import GenerationMode

from pixelproof.catalogue import Catalogue
from pixelproof.fuzz import reuse
from pixelproof.fuzz.cases import image_media_types
from pixelproof.fuzz.contracts import load_surface
from pixelproof.fuzz.pinned import pinned_generation
from pixelproof.target import embedded_profile

NOWHERE = "http://127.0.0.1:9"  # nothing is sent: these tests only draw
EDITS = "POST /v1/images/edits"  # a multipart body with encoded image parts, and a JSON one


def _drawn(catalogue: Catalogue, mode: GenerationMode, wrap: Callable[[], Any]) -> list[str]:
    """15 cases of the unified edits operation from a fixed seed, on this (the main) thread, as text."""
    profile = embedded_profile(catalogue, NOWHERE, NOWHERE, "PP_REUSE_KEY", 1000)
    schemas = load_surface(catalogue, profile, "unified")
    schema = schemas.negative if mode is GenerationMode.NEGATIVE else schemas.positive
    operation = {r.ok().label: r.ok() for r in schema.get_all_operations()}[EDITS]
    seen: list[str] = []

    @seed(1129)
    @settings(max_examples=15, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(operation.as_strategy(generation_mode=mode))
    def draw(case: Any) -> None:
        seen.append(repr((case.media_type, case.query, case.body)))

    with image_media_types(), pinned_generation(), wrap():
        draw()
    return seen


@contextlib.contextmanager
def _counted(kept: list[int]) -> Iterator[None]:
    """reused_strategies, counting the strategies it kept."""
    with reuse.reused_strategies():
        fixed, forms = reuse.builder.st, reuse.cases._build_form_strategy_with_encoding
        yield
        kept.append(len(fixed.kept) + sum(len(v) for v in forms.kept.values()))


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_kept_strategies_draw_the_same_cases(catalogue: Catalogue, mode: GenerationMode) -> None:
    fresh = _drawn(catalogue, mode, contextlib.nullcontext)
    kept: list[int] = []
    assert _drawn(catalogue, mode, lambda: _counted(kept)) == fresh
    assert len(set(fresh)) > 5  # the cases vary: the comparison means something
    assert kept[0] > 0  # and strategies were kept


def test_the_builders_are_schemathesis_own_again_afterwards() -> None:
    before = reuse.builder.st, reuse.cases._build_form_strategy_with_encoding
    with reuse.reused_strategies():
        assert reuse.builder.st is not before[0]
        assert reuse.cases._build_form_strategy_with_encoding is not before[1]
    assert (reuse.builder.st, reuse.cases._build_form_strategy_with_encoding) == before


def test_form_bodies_are_kept_per_body_operation_mode_source_and_settings() -> None:
    """The keying itself: a kept form strategy only serves the very same request for it."""
    from schemathesis.config import GenerationConfig

    built: list[tuple[Any, ...]] = []
    forms = reuse._FormBodies(lambda *args: built.append(args) or object())
    body, operation, other = object(), object(), object()
    pos, neg = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
    first = forms(body, operation, GenerationConfig(), pos)
    assert forms(body, operation, GenerationConfig(), pos) is first  # equal settings, new object
    assert len(built) == 1
    for args in ((body, operation, GenerationConfig(), neg), (other, operation, GenerationConfig(), pos),
                 (body, other, GenerationConfig(), pos), (body, operation, GenerationConfig(allow_x00=False), pos),
                 (body, operation, GenerationConfig(), pos, other)):  # fmt: skip
        assert forms(*args) is not first
    assert len(built) == 6
