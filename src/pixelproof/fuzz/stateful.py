"""The stateful phase: schemathesis' state machine over the task APIs' links (submit, then query).

The machine comes from the documented positive subset (so submissions are ones the target must
take), sends through the session (allowance, credentials, tag), and judges every step without
raising: a finding is collected, the scenario goes on, and Hypothesis has nothing to replay
(only a spent allowance stops the machine, and a replay of that sends nothing). In explore mode
the machine draws from Hypothesis' own randomness; the reported seed covers example targets.
Before querying a task it waits the documented initial delay (scaled by the target's clock,
capped), so completed tasks and their images are judged too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import Flaky, FlakyStrategyDefinition

from pixelproof.fuzz.targets import BudgetSpent

if TYPE_CHECKING:
    from pixelproof.fuzz.contracts import SurfaceSchemas
    from pixelproof.fuzz.runner import FuzzSession, _Run

STEPS = 3  # submit, query, query: enough to see a task move on a fast clock
MAX_WAIT_S = 3.0


def _queried_task(surface: str, case: Any) -> str | None:
    if case.method.upper() == "GET":
        return str(case.path_parameters.get("task_id"))
    if surface == "jimeng-official" and case.query.get("Action") == "CVSync2AsyncGetResult":
        body = case.body if isinstance(case.body, dict) else {}
        return body.get("task_id") if isinstance(body.get("task_id"), str) else None
    return None


def _wait_for(session: FuzzSession, run: _Run, case: Any) -> None:
    task_id = _queried_task(run.target.surface, case)
    submitted = run.submitted.get(task_id or "")
    cadence = session.cadence(run.target.surface)
    if submitted is None or cadence is None:
        return
    ready = submitted + min(cadence.initial_delay_s + 2 * cadence.interval_s, MAX_WAIT_S)
    session.clock.sleep(max(0.0, ready - session.clock.monotonic()))


def run_stateful(session: FuzzSession, run: _Run, schemas: SurfaceSchemas) -> None:
    base = schemas.positive.as_state_machine()
    url = session.profile.base_url(run.target.surface)

    class Machine(base):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": url}

        def call(self, case: Any, **kwargs: Any) -> Any:
            _wait_for(session, run, case)
            response = session.send(run, case)
            if response is None:
                raise BudgetSpent  # the allowance is gone (or the target did not answer): stop
            return response

        def validate_response(self, response: Any, case: Any, *args: Any, **kwargs: Any) -> None:
            run.result.examples += 1
            session.check_answer(run, case, response, "stateful: " + _path_of(case))
            session.remember_task(run, case, response)

    if run.allowance.total < 2:
        return  # not even a submission and its query
    steps = min(STEPS, run.allowance.total)
    config = settings(max_examples=max(1, run.allowance.total // steps), stateful_step_count=steps,
                      derandomize=run.result.seed is None, database=None, deadline=None,
                      phases=[Phase.generate], suppress_health_check=list(HealthCheck),
                      print_blob=False)  # fmt: skip
    try:
        Machine.run(settings=config)
    except BudgetSpent:
        pass
    except (FlakyStrategyDefinition, Flaky):
        if run.allowance.left > 0:
            raise  # a replay that differs for another reason than the spent budget is a real error


def _path_of(case: Any) -> str:
    return f"{case.method.upper()} {case.formatted_path}"
