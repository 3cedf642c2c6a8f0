"""The harness proves itself: every named fault of the mock is caught by the rules it declares,
the same rules pass on the clean stack, and outages are errors, never broken promises.

Since evidence comes first, a 5xx or malformed answer that repeats (http-500, truncated-json,
wrong-content-type) is the target's answer and fails the rules it breaks; only the absence of a
usable answer (slow -> timeouts, huge-body -> over the cap, task-vanishes) is an error."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pixelproof.catalogue import Catalogue, default_catalogue
from pixelproof.judging.evaluate import evaluate
from pixelproof.mock.faults import CATALOGUE as FAULTS
from pixelproof.mock.faults import FAULT_HEADER, Fault
from pixelproof.mock.server import FastForward, Stack, embedded_stack
from pixelproof.observe import Observer
from pixelproof.plan import Case, cases_for
from pixelproof.target import Profile, embedded_profile

KEY_ENV = "PIXELPROOF_SELFCHECK_KEY"
KEY = "pp-selfcheck-key-0123456789"
RULE_FAULTS = [f for f in FAULTS.values() if f.breaks and not f.infrastructure]
INFRA_FAULTS = [f for f in FAULTS.values() if f.infrastructure]
# Rules an outage (no usable answer) must turn into errors: one per style of surface.
INFRA_PROBE_RULES = {"response_format.b64_json", "task.tasks-official.lifecycle", "jimeng.submit"}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with embedded_stack(time_scale=1000, api_key=KEY) as running:
        yield running


def _profile(
    catalogue: Catalogue, stack: Stack, fault: str | None = None, **extra: object
) -> Profile:
    profile = embedded_profile(catalogue, stack.gateway.url, stack.upstream.url, KEY_ENV, 1000)
    update: dict[str, object] = dict(extra)
    if fault:
        update["headers"] = {FAULT_HEADER: fault}
    return profile.model_copy(update=update)


def _path(catalogue: Catalogue, case: Case) -> tuple[str, str, str]:
    """The way a case's request goes through the stack: its rule, its surface and the upstream
    family the gateway hands its model to (openai, jimeng-visual, ...; none on a vendor surface)."""
    entry = catalogue.model(case.surface, case.model) if case.model else None
    family = entry.upstream.split("/", 1)[0] if entry and entry.upstream else ""
    return case.rule.id, case.surface, family


def _outcomes(
    catalogue: Catalogue,
    profile: Profile,
    rule_ids: set[str],
    stack: Stack,
    one_per_path: bool = False,
    until_failed: bool = False,
) -> dict[str, tuple[str, str]]:
    """Evidence for these rules, task polling on a FastForward clock: a stuck task reaches its
    deadline after its polls without the real-time floor's wait, a finished one still completes.
    ``one_per_path``: only the first case of each ``_path`` (the others differ by model alone).
    ``until_failed``: a rule's cases are judged in plan order until one fails, the rest of that
    rule's are not sent (for a claim that each rule catches something, not every case does)."""
    kinds = {catalogue.rule(rule_id).kind for rule_id in rule_ids}  # planning other kinds: wasted
    cases = [c for c in cases_for(catalogue, profile, kinds) if c.rule.id in rule_ids and c.claimed]
    assert {c.rule.id for c in cases} == rule_ids, "a rule has no case on the embedded stack"
    if one_per_path:
        cases = list({_path(catalogue, c): c for c in reversed(cases)}.values())
    observer = Observer(catalogue, profile, clock=FastForward(stack, profile.time_scale))
    try:
        if not until_failed:
            return evaluate(observer, cases)
        out: dict[str, tuple[str, str]] = {}
        caught: set[str] = set()
        for case in (c for c in cases if c.rule.id not in caught):
            out.update(outcome := evaluate(observer, [case]))
            if outcome[case.id][0] == "failed":
                caught.add(case.rule.id)
        return out
    finally:
        observer.close()


# Every rule a fault declares (the rules whose failing the fault checks below prove).
DECLARED = sorted({rule for fault in RULE_FAULTS for rule in fault.breaks})
SURFACES = sorted(default_catalogue().surfaces)


def test_every_rule_a_fault_declares_is_judged_on_the_embedded_stack(
    stack: Stack, catalogue: Catalogue
) -> None:
    """The clean check below covers the declared rules only if each has a claimed case there."""
    claimed = {c.rule.id for c in cases_for(catalogue, _profile(catalogue, stack)) if c.claimed}
    assert sorted(set(DECLARED) - claimed) == []


@pytest.mark.parametrize("surface", SURFACES)
def test_clean_stack_keeps_every_promise(
    surface: str, stack: Stack, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every case the embedded profile claims passes on the clean stack: nothing fails, nothing is
    an error or skipped (the other half of each fault check: the rules that catch a fault pass
    without it). The judging is the run's own (observe_case, then judge); a `pixelproof run`
    through the plugin and xdist is test_xdist_requests'. One observer per surface (a probe
    several rules share is sent once), a test per surface to spread them over xdist workers."""
    monkeypatch.setenv(KEY_ENV, KEY)
    profile = _profile(catalogue, stack)
    cases = [c for c in cases_for(catalogue, profile) if c.claimed and c.surface == surface]
    assert cases, f"the embedded profile claims nothing on {surface}"
    observer = Observer(catalogue, profile, clock=FastForward(stack, profile.time_scale))
    try:
        clean = evaluate(observer, cases)
    finally:
        observer.close()
    assert len(clean) == len(cases)
    assert {k: v for k, v in clean.items() if v[0] != "passed"} == {}, (
        "the clean stack must keep every promise"
    )


@pytest.mark.parametrize("fault", RULE_FAULTS, ids=[f.name for f in RULE_FAULTS])
def test_fault_is_caught_by_the_rules_it_declares(
    fault: Fault, stack: Stack, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each rule the fault declares fails on at least one case; once a rule has failed, its
    remaining cases (other models, mostly failing the same way) add nothing and are not sent."""
    monkeypatch.setenv(KEY_ENV, KEY)
    declared = set(fault.breaks)  # that the clean stack passes them: test_clean_stack_keeps_...
    profile = _profile(catalogue, stack, fault.name)
    faulty = _outcomes(catalogue, profile, declared, stack, until_failed=True)
    failed_rules = {
        case_id.split("[")[0] for case_id, (outcome, _) in faulty.items() if outcome == "failed"
    }
    missed = declared - failed_rules
    assert not missed, f"{fault.name} went undetected by {sorted(missed)}: {faulty}"
    for case_id, (outcome, message) in faulty.items():
        if outcome == "failed":
            assert message.startswith(f"rule {case_id}"), "a failure names its rule first"
            assert "source: " in message
            assert "expected: " in message
            assert "observed: " in message
            assert "request: " in message


@pytest.mark.parametrize("fault", INFRA_FAULTS, ids=[f.name for f in INFRA_FAULTS])
def test_outages_are_errors_not_broken_promises(
    fault: Fault, stack: Stack, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One case per path through the stack (rule, surface, upstream family), not per model: the
    models of one path differ only in the name the mock echoes, while an outage's answer is the
    same for all of them (no answer in time, or 64 MiB of padding), so the harness's handling of
    it is too. Every path is still seen: the gateway padding its upstream's padded answer (the
    unified models, openai and jimeng-visual upstreams), the gateway's own task answer, the
    vendor surface. Each huge-body case moves 64 MiB twice: the models were 3/4 of its time."""
    monkeypatch.setenv(KEY_ENV, KEY)
    rules = (
        {"task.tasks-official.lifecycle"} if fault.name == "task-vanishes" else INFRA_PROBE_RULES
    )
    # slow answers after 2 s of real time: no answer can come in time whatever the timeout, and a
    # connect slowed by a loaded machine is a timeout too (an error all the same), so 0.25 s is
    # only waiting; huge-body keeps 1 s: its padded answers get the time to reach the body cap.
    timeout_s = 0.25 if fault.name == "slow" else 1.0
    profile = _profile(catalogue, stack, fault.name, timeout_s=timeout_s)
    outcomes = _outcomes(catalogue, profile, rules, stack, one_per_path=True)
    assert outcomes, "no cases judged"
    assert {case_id: o for case_id, (o, _) in outcomes.items() if o != "error"} == {}


def test_every_fault_declares_real_rules(catalogue: Catalogue) -> None:
    ids = {rule.id for rule in catalogue}
    unknown = {f.name: sorted(set(f.breaks) - ids) for f in FAULTS.values() if set(f.breaks) - ids}
    assert unknown == {}


def test_every_rule_kind_has_a_fault(catalogue: Catalogue) -> None:
    """A kind no fault exercises is a kind whose verdict was never seen to fail."""
    kinds = {rule.kind for rule in catalogue}
    caught = {catalogue.rule(r).kind for f in RULE_FAULTS for r in f.breaks}
    assert sorted(kinds - caught) == []


def test_refused_connection_is_an_error(
    catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    profile = Profile.model_validate(
        {
            "surfaces": {"unified": {"base_url": "http://127.0.0.1:9", "models": ["gpt-image-2"]}},
            "timeout_s": 2,
        }
    )
    cases = [c for c in cases_for(catalogue, profile) if c.rule.id == "n.default.zero"]
    outcomes = evaluate(Observer(catalogue, profile), cases)
    assert [o for o, _ in outcomes.values()] == ["error"]


def test_identical_requests_are_sent_once(
    stack: Stack, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Observe once, judge many: three rules needing the same request buy one image."""
    monkeypatch.setenv(KEY_ENV, KEY)
    profile = _profile(catalogue, stack)
    shared = {"n.default.omitted", "response_format.b64_json", "prompt.revised"}
    cases = [
        c for c in cases_for(catalogue, profile) if c.rule.id in shared and c.model == "gpt-image-2"
    ]
    assert len(cases) == 3
    observer = Observer(catalogue, profile)
    outcomes = evaluate(observer, cases)
    assert {o for o, _ in outcomes.values()} == {"passed"}
    assert observer.requests_sent == 1
    assert observer.images_sent == 1
    seen = observer.forwarded(observer.observe(cases[0].probes[0]))
    assert len(seen) == 1  # and the upstream saw it once
