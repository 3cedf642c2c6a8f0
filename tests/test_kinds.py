"""A rule kind is registered once (plan.KINDS: builder, suite test, forwarding) and its verdict
against the same name; every kind in the catalogue has all of them and a fault that breaks it."""

from __future__ import annotations

import ast

import pytest

from pixelproof.catalogue import Catalogue
from pixelproof.judging.verdicts import VERDICTS, verdict
from pixelproof.mock.faults import CATALOGUE as FAULTS
from pixelproof.plan import KINDS
from pixelproof.resources import suites_dir


def _suite_tests() -> set[str]:
    """Names of the suite test functions marked ``@pytest.mark.pixelproof`` (read, not imported)."""
    marked = set()
    for path in suites_dir().glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and any(
                ast.unparse(d) == "pytest.mark.pixelproof" for d in node.decorator_list
            ):
                marked.add(node.name)
    return marked


def test_every_kind_in_the_catalogue_is_registered_whole(catalogue: Catalogue) -> None:
    kinds = {rule.kind for rule in catalogue}
    suites = _suite_tests()
    broken = {
        catalogue.rule(r).kind for f in FAULTS.values() if not f.infrastructure for r in f.breaks
    }
    missing = {
        kind: [what for what, ok in [
            ("registration", kind in KINDS), ("verdict", kind in VERDICTS),
            ("suite test", kind in KINDS and KINDS[kind].suite in suites), ("fault", kind in broken),
        ] if not ok]
        for kind in sorted(kinds)
    }  # fmt: skip
    assert {k: v for k, v in missing.items() if v} == {}


def test_no_registration_without_a_verdict_and_no_suite_test_judging_nothing() -> None:
    assert sorted(KINDS) == sorted(VERDICTS)
    assert _suite_tests() == {kind.suite for kind in KINDS.values()}


def test_a_verdict_for_an_unregistered_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="not registered"):
        verdict("no_such_kind")(lambda j: None)
