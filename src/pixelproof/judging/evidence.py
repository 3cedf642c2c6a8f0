"""A case made ready to judge: its probes observed, infrastructure problems raised as errors.

Shared by the pytest plugin (setup phase) and by ``evaluate``, the harness's in-process runner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pixelproof.observe import Observation, Observer, TargetError, infra_problem
from pixelproof.plan import Case

REJECTING_KINDS = frozenset({
    "model_required", "model_unknown", "error_shape", "variations", "auth", "ref_limit", "ref_format",
    "ref_bytes", "task_unknown", "task_caller_id", "safety", "jimeng_query", "jimeng_unknown", "task_failure",
})  # fmt: skip


class NotJudged(Exception):
    """The case cannot be judged for a stated reason (no recorder, budget spent): a skip."""


@dataclass
class Judged:
    """What a verdict judges: its case, one observation per probe, and the observer."""

    case: Case
    observations: list[Observation]
    observer: Observer

    @property
    def rule(self) -> Any:
        return self.case.rule

    @property
    def obs(self) -> Observation:
        return self.observations[0]


def observe_case(observer: Observer, case: Case) -> Judged:
    rule = case.rule
    if "recorder" in rule.needs and observer.profile.recorder is None:
        raise NotJudged(
            "needs the recorder of a pixelproof mock upstream behind the target (profile key `recorder`)"
        )
    observations = [observer.observe(p) for p in case.probes]
    for obs in observations:
        if obs.skipped:
            raise NotJudged(obs.skipped)
        problem = infra_problem(obs, tolerate_5xx=rule.kind in REJECTING_KINDS or rule.rejected)
        if problem:
            raise TargetError(f"{case.id}: target could not be judged: {problem}")
        if obs.poll and obs.poll.deadline_exceeded and rule.kind != "task_deadline":
            raise TargetError(
                f"{case.id}: task {obs.task_id} still {obs.poll.status} at the polling deadline"
            )
    return Judged(case, observations, observer)
