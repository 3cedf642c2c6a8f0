"""The "nothing reaches the upstream" half of auth.* and model.unknown* is a rule of its own that
needs the recorder: without one it is skipped with the reason, never passed on the 4xx alone (a
gateway forwarding `Bearer undefined` or an unknown model and relaying the upstream's 4xx used to
pass every such rule when the profile had no recorder). Judged on the embedded stack's faults."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pixelproof.catalogue import Catalogue
from pixelproof.judging.evaluate import evaluate
from pixelproof.mock.faults import FAULT_HEADER
from pixelproof.mock.server import Stack, embedded_stack
from pixelproof.observe import Observer
from pixelproof.plan import cases_for
from pixelproof.target import embedded_profile

KEY_ENV = "PP_NOT_FORWARDED_SPLIT_KEY"
KEY = "pp-not-forwarded-split-key-0123"
SPLIT = {
    "auth-forwarded": ("auth.missing", "auth.wrong"),
    "model-forwarded": ("model.unknown", "model.unknown.suffix", "model.unknown.lookalike"),
}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with embedded_stack(time_scale=1000, api_key=KEY) as running:
        yield running


def _outcomes(
    catalogue: Catalogue, stack: Stack, fault: str, recorder: bool
) -> dict[str, tuple[str, str]]:
    profile = embedded_profile(catalogue, stack.gateway.url, stack.upstream.url, KEY_ENV, 1000)
    update: dict[str, object] = {"headers": {FAULT_HEADER: fault}}
    if not recorder:
        update["recorder"] = None
    profile = profile.model_copy(update=update)
    rules = {r for base in SPLIT[fault] for r in (base, f"{base}.not-forwarded")}
    cases = [c for c in cases_for(catalogue, profile) if c.rule.id in rules and c.claimed]
    cases = [c for c in cases if c.surface == "unified" and c.model in (None, "gpt-image-2")]
    observer = Observer(catalogue, profile)
    try:
        return evaluate(observer, cases)
    finally:
        observer.close()


def _by_rule(outcomes: dict[str, tuple[str, str]]) -> dict[str, set[str]]:
    rules: dict[str, set[str]] = {}
    for case_id, (outcome, _) in outcomes.items():
        rules.setdefault(case_id.split("[")[0], set()).add(outcome)
    return rules


def test_every_never_forwarded_only_row_needs_the_recorder(catalogue: Catalogue) -> None:
    for rule in catalogue:
        if rule.expect.get("upstream") == "none" and "status" not in rule.expect:
            assert "recorder" in rule.needs, rule.id


@pytest.mark.parametrize("fault", sorted(SPLIT))
def test_without_a_recorder_the_forwarding_half_is_skipped_never_passed(
    catalogue: Catalogue, stack: Stack, fault: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    outcomes = _outcomes(catalogue, stack, fault, recorder=False)
    rules = _by_rule(outcomes)
    for base in SPLIT[fault]:
        assert rules[base] == {"passed"}, base  # the upstream's 4xx JSON error, relayed
        assert rules[f"{base}.not-forwarded"] == {"skipped"}, base
    reasons = {m for k, (o, m) in outcomes.items() if o == "skipped"}
    assert reasons
    assert all("needs the recorder" in m for m in reasons)


@pytest.mark.parametrize("fault", sorted(SPLIT))
def test_with_the_recorder_the_forwarding_half_fails_alone(
    catalogue: Catalogue, stack: Stack, fault: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    rules = _by_rule(_outcomes(catalogue, stack, fault, recorder=True))
    for base in SPLIT[fault]:
        assert rules[base] == {"passed"}, base
        assert rules[f"{base}.not-forwarded"] == {"failed"}, base
