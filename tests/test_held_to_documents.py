"""The other direction of the self-check: behaviours the documents allow pass.

A rule stronger than its document fails gateways that keep every documented promise. For each
weakened or re-scoped rule, a mock fault or variant shows such a behaviour: the rule as it reads
now passes, and the rule as it read before (its old expectation, rebuilt below from the catalogue
as it was) fails on the very same answers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from pixelproof.catalogue import Catalogue, Rule
from pixelproof.judging.evaluate import evaluate
from pixelproof.mock.faults import CATALOGUE as FAULTS
from pixelproof.mock.faults import FAULT_HEADER, Fault
from pixelproof.mock.server import Stack, embedded_stack
from pixelproof.observe import Observer
from pixelproof.plan import BUILDERS, Case, Context, cases_for
from pixelproof.target import Profile, embedded_profile

KEY_ENV = "PIXELPROOF_HELD_KEY"
KEY = "pp-held-key-0123456789"
HOLDING = [f for f in FAULTS.values() if f.holds]

# How each rule read before it was held to its document (issue 12), as (rule id, model, changes).
OLD: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    "official-transparent-ignored": [
        ("background.transparent", "gpt-image-1-official",
         {"expect": {"alpha": True}, "models": None, "severity": "MUST"}),
    ],
    "auth-403": [("auth.missing", "gpt-image-2", {"expect": {"status": 401}}),
                 ("auth.wrong", "gpt-image-2", {"expect": {"status": 401}})],
    "error-json-plain": [
        ("error.shape.unified", "gpt-image-2", {"expect": {"status": "4xx", "error_shape": "openai"}}),
        ("model.required", "gpt-image-2", {"expect": {"status": "4xx", "error_shape": "openai"}}),
    ],
    "seedream-url-alone": [
        ("response_format.b64_json.seedream-url-alone", "doubao-seedream-4-0-250828",
         {"expect": {"output": "b64_json"}}),
    ],
    "watermark-omitted-as-true": [
        ("watermark.omitted.not-forwarded", "doubao-seedream-4-0-250828",
         {"expect": {"forwarded": "absent", "marked": True}}),
    ],
    "gemini-other-pixels": [
        ("size.gemini-3-pro-image-preview.16:9.1k", "gemini-3-pro-image-preview",
         {"expect": {"ratio": "16:9", "tier": "1K", "size": "1344x768"}}),
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with embedded_stack(time_scale=1000, api_key=KEY) as running:
        yield running


def _profile(catalogue: Catalogue, stack: Stack, fault: str | None) -> Profile:
    profile = embedded_profile(catalogue, stack.gateway.url, stack.upstream.url, KEY_ENV, 1000)
    return profile.model_copy(update={"headers": {FAULT_HEADER: fault}} if fault else {})


def _judge(catalogue: Catalogue, profile: Profile, cases: list[Case]) -> dict[str, str]:
    observer = Observer(catalogue, profile)
    try:
        return {k: outcome for k, (outcome, _) in evaluate(observer, cases).items()}
    finally:
        observer.close()


def _old_case(catalogue: Catalogue, profile: Profile, rule_id: str, model: str, change: dict[str, Any]) -> Case:  # fmt: skip
    old: Rule = catalogue.rule(rule_id).model_copy(update={"id": f"{rule_id}.old", **change})
    surface = old.surface if old.surface != "*" else "unified"
    case = Case(old, surface, model)
    return Case(old, surface, model, tuple(BUILDERS[old.kind](case, Context(catalogue, profile))))


@pytest.mark.parametrize("fault", HOLDING, ids=[f.name for f in HOLDING])
def test_documented_behaviour_passes(
    fault: Fault, stack: Stack, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    profile = _profile(catalogue, stack, fault.name)
    kinds = {catalogue.rule(rule_id).kind for rule_id in fault.holds}  # planning others: wasted
    cases = [c for c in cases_for(catalogue, profile, kinds)
             if c.rule.id in fault.holds and c.claimed]  # fmt: skip
    assert {c.rule.id for c in cases} == set(fault.holds)
    outcomes = _judge(catalogue, profile, cases)
    judged = {k: o for k, o in outcomes.items() if o != "not-claimed"}  # above the target's level
    assert {rule_id.split("[")[0] for rule_id in judged} == set(fault.holds)
    assert {k: o for k, o in judged.items() if o != "passed"} == {}
    if fault.allowed:
        assert fault.breaks == ()


@pytest.mark.parametrize("name", sorted(OLD), ids=sorted(OLD))
def test_the_old_rule_failed_the_same_answers(
    name: str, stack: Stack, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    profile = _profile(catalogue, stack, name)
    cases = [_old_case(catalogue, profile, *spec) for spec in OLD[name]]
    outcomes = _judge(catalogue, profile, cases)
    assert set(outcomes.values()) == {"failed"}, outcomes


def test_every_old_rule_names_a_fault_or_variant_that_holds_its_successor() -> None:
    assert all(FAULTS[name].holds for name in OLD)


def test_a_rule_quoting_a_should_is_at_most_should(catalogue: Catalogue) -> None:
    """A document's "should" is at most SHOULD (prompt.required was a MUST on seed 003's
    "this should be treated as required"); a MUST needs a sentence that makes it one."""
    stronger = [r.id for r in catalogue
                if r.severity == "MUST" and re.search(r"\bshould\b", r.source.quote, re.I)]  # fmt: skip
    assert stronger == []
