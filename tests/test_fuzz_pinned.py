"""Fuzz cases depend on the contract, the seed and the budget: not on which local modules the
process happened to import (Hypothesis mixes their literals into its draws), nor on the text of
the function that runs the draws."""

from __future__ import annotations

import contextlib
import gc
import importlib
import sys
from collections.abc import Callable
from pathlib import Path

import hypothesis
import pytest
from hypothesis import Phase, core, given, seed, settings
from hypothesis import strategies as st
from hypothesis.internal import entropy
from hypothesis.internal.entropy import deterministic_PRNG

from pixelproof.fuzz.pinned import deterministic_seed, pinned_generation

PROBES = (314159, 271828, 161803, 141421)  # literals no other module is likely to hold


def _draws(wrap: Callable[[], object]) -> list[object]:
    """300 six-digit integers from a fixed seed, drawn on this (the main) thread: Hypothesis
    picks about one in twenty from the constants it knows that fit the bounds."""
    seen: list[object] = []

    @seed(20261129)
    @settings(max_examples=300, database=None, deadline=None, phases=[Phase.generate])
    @given(st.integers(100_000, 999_999))
    def draw(value: object) -> None:
        seen.append(value)

    with wrap():  # type: ignore[attr-defined]
        draw()
    return seen


def _with_probe_module(tmp_path: Path, name: str) -> None:
    """A new local module full of literals, imported as a conftest.py or a bench script would be."""
    (tmp_path / f"{name}.py").write_text(f"NUMBERS = {PROBES!r}\n")
    sys.path.insert(0, str(tmp_path))
    try:
        importlib.import_module(name)
    finally:
        sys.path.remove(str(tmp_path))


def test_importing_a_local_module_does_not_change_pinned_draws(tmp_path: Path) -> None:
    before = _draws(pinned_generation)
    _with_probe_module(tmp_path, "pp_pinned_probe_a")
    after = _draws(pinned_generation)
    assert after == before
    assert not set(after) & set(PROBES)


def test_unpinned_draws_do_change_with_a_local_module(tmp_path: Path) -> None:
    """The control: without the pin the new module's literals turn up in the draws."""
    _with_probe_module(tmp_path, "pp_pinned_probe_b")
    assert set(_draws(contextlib.nullcontext)) & set(PROBES)


def test_pinned_generation_restores_hypothesis_afterwards() -> None:
    from hypothesis.internal.conjecture import providers

    original = providers._get_local_constants, providers.CONSTANTS_CACHE
    with pinned_generation():
        assert providers._get_local_constants is not original[0]
        assert providers.CONSTANTS_CACHE is not original[1]
        assert not list(providers._get_local_constants())
    assert (providers._get_local_constants, providers.CONSTANTS_CACHE) == original


def test_deterministic_seeds_are_stable_and_differ_per_target() -> None:
    target = "unified POST /v1/images/generations negative"
    assert deterministic_seed(target) == deterministic_seed(str(target))
    assert deterministic_seed(target) != deterministic_seed(target.replace("negative", "positive"))


def _full_collections(monkeypatch: pytest.MonkeyPatch, setup: Callable[[], object]) -> int:
    """Full garbage collections made on the way to schemathesis' setup (which enters
    ``deterministic_PRNG``) in a process whose Hypothesis has no global PRNG yet, and whose
    ``register_random`` is Hypothesis' own (schemathesis' setup replaces it once it has run)."""
    calls: list[int] = []
    collect = gc.collect
    monkeypatch.setattr(core.threadlocal, "_hypothesis_global_random", None)
    monkeypatch.setattr(entropy, "register_random", hypothesis.register_random)
    monkeypatch.setattr(gc, "collect", lambda *a: calls.append(1) or collect(*a))
    with setup():  # type: ignore[attr-defined]
        with deterministic_PRNG():
            pass
    made = core.threadlocal._hypothesis_global_random
    assert made is not None
    assert made in entropy.RANDOMS_TO_MANAGE.values()
    return len(calls)


def test_hypothesis_random_is_registered_without_a_full_collection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _full_collections(monkeypatch, pinned_generation) == 0


# Hypothesis' own path also warns there (it finds no referrer to the PRNG it keeps per thread)
@pytest.mark.filterwarnings("ignore:It looks like `register_random`")
def test_hypothesis_registers_its_random_with_a_full_collection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The control: left to Hypothesis, the same first use collects the whole heap."""
    assert _full_collections(monkeypatch, contextlib.nullcontext) == 1
