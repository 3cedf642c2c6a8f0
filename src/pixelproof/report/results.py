"""Outcomes of a run, keyed by test, with the rule metadata the reports group by."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pixelproof.cli.exits import verdict_exit

if TYPE_CHECKING:
    from pixelproof.plan import Case

# not-claimed: the rule is above the level the target claims (reported, never sent)
OUTCOMES = ("passed", "failed", "error", "waived", "fixed", "skipped", "not-claimed")


def case_properties(case: Case) -> list[tuple[str, Any]]:
    """What a rule case's reports carry (its test's user properties), for grouping and naming."""
    rule = case.rule
    return [
        ("rule", rule.id), ("case", case.id), ("kind", rule.kind), ("surface", case.surface),
        ("model", case.model or ""), ("severity", rule.severity), ("source", rule.cite()),
        ("statement", rule.statement), ("levels", ",".join(rule.levels)), ("level", case.level or ""),
    ]  # fmt: skip


@dataclass
class Outcome:
    nodeid: str
    outcome: str  # one of OUTCOMES
    props: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    duration_s: float = 0.0

    @property
    def rule(self) -> str:
        return str(self.props.get("rule", self.nodeid))


@dataclass
class Results:
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    def add(self, report: Any) -> None:
        """Fold one pytest TestReport (setup, call or teardown) into the test's outcome."""
        props = dict(report.user_properties)
        previous = self.outcomes.get(report.nodeid)
        outcome = _classify(report)
        if outcome is None:
            return
        if outcome == "skipped" and props.get("claimed") == "no":
            outcome = "not-claimed"
        if previous is not None and (
            _rank(previous.outcome) >= _rank(outcome)
            # a teardown error leaves a verdict seen in full as it was
            or (previous.outcome in ("failed", "fixed") and report.when == "teardown")
        ):
            previous.duration_s += report.duration
            return
        message = (  # whole: a long fuzz finding's heading is at its start
            str(report.longrepr)
            if report.longrepr and outcome in ("failed", "error", "fixed")
            else ""
        )
        if outcome == "skipped" and isinstance(report.longrepr, tuple):
            message = str(report.longrepr[2])
        self.outcomes[report.nodeid] = Outcome(
            report.nodeid, outcome, props, message, report.duration
        )

    def counts(self) -> Counter[str]:
        return Counter(o.outcome for o in self.outcomes.values())

    def by(self, *keys: str) -> dict[tuple[str, ...], Counter[str]]:
        table: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)
        for o in self.outcomes.values():
            table[tuple(str(o.props.get(k, "-")) for k in keys)][o.outcome] += 1
        return dict(table)

    def exit_code(self) -> int:
        return verdict_exit(self.counts())


def _classify(report: Any) -> str | None:
    if report.when == "call":
        if hasattr(report, "wasxfail"):
            return "fixed" if report.passed else "waived"
        if report.failed and str(report.longrepr).startswith("[XPASS(strict)]"):
            return "fixed"  # a waived rule now passes: the waiver must go
        return "passed" if report.passed else "failed" if report.failed else "skipped"
    if report.failed:
        return "error"
    if report.skipped:
        return "waived" if hasattr(report, "wasxfail") else "skipped"
    return None


def _rank(outcome: str) -> int:
    return {
        "passed": 0,
        "not-claimed": 1,
        "skipped": 1,
        "waived": 1,
        "fixed": 2,
        "failed": 3,
        "error": 4,
    }[outcome]
