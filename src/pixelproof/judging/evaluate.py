"""Judging cases without pytest: observe, then judge, outcome per case. The harness's self-checks
use it, so checking every fault needs no nested pytest run."""

from __future__ import annotations

from pixelproof.judging.evidence import NotJudged, observe_case
from pixelproof.judging.failures import RuleFailure
from pixelproof.judging.verdicts import judge
from pixelproof.observe import Observer, TargetError
from pixelproof.plan import Case, not_claimed_reason


def evaluate(observer: Observer, cases: list[Case]) -> dict[str, tuple[str, str]]:
    """Judge ``cases`` without pytest: case id -> (outcome, message). For the harness's own tests."""
    out: dict[str, tuple[str, str]] = {}
    for case in cases:
        if not case.claimed:
            out[case.id] = ("not-claimed", not_claimed_reason(case))
            continue
        try:
            evidence = observe_case(observer, case)
        except NotJudged as exc:
            out[case.id] = ("skipped", str(exc))
            continue
        except TargetError as exc:
            out[case.id] = ("error", str(exc))
            continue
        try:
            judge(evidence)  # pure: no I/O, so only a RuleFailure can come out of it
            out[case.id] = ("passed", "")
        except RuleFailure as exc:
            out[case.id] = ("failed", str(exc))
    return out
