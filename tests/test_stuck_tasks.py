"""A gateway whose tasks never finish is judged in seconds, not minutes: the deadline rule fails,
every other rule on a stuck task is an error with its reason, and polling stays on its cadence.

Polling runs on a FastForward clock (the stack finishes its jobs, then time jumps), so what a run
would wait is counted, not waited: the outcome never depends on how fast the machine is. The same
classification through a real ``pixelproof run`` in real time: test_broken_targets.py[stuck-task].

Each test also judges the same cases on the StackClock (stack_clock.py: the same jumps, asked of
the stack over its clock route, as a run's polling does) and holds it to the FastForward verdicts:
every wait a jump the stack answered, none slept. A clock route that did not move the mocks'
clocks leaves the tasks queued: deadline errors. (These were test_stack_clock's, which judged the
FastForward reference a second time.)"""

from __future__ import annotations

import re

import httpx
import pytest

from conftest import STACK_KEY, STACK_KEY_ENV, Outcomes, judge_official_tasks, keyed_stack
from pixelproof.catalogue import Catalogue
from pixelproof.mock.server import FastForward, Stack
from pixelproof.polling import MAX_POLLS, REAL_TIME_DEADLINE_FLOOR_S
from pixelproof.stack_clock import StackClock

stack = pytest.fixture(keyed_stack, scope="module", name="stack")


def _judge(catalogue: Catalogue, stack: Stack, fault: str | None) -> tuple[Outcomes, FastForward]:
    clock = FastForward(stack, 1000)
    return judge_official_tasks(catalogue, stack, fault, clock), clock


def _gateway_clock(stack: Stack) -> float:
    return float(
        httpx.get(stack.gateway.url + "/__pixelproof/health", verify=False).json()["clock"]
    )


def _same_on_the_stack_clock(
    catalogue: Catalogue, stack: Stack, fault: str | None, reference: Outcomes
) -> float:
    """The same cases judged on the StackClock end as on FastForward (``reference``), and each
    task's first wait was a jump the stack answered, which moved the gateway's clock. Returns
    the seconds the StackClock's polling took (jumped and real)."""
    before = _gateway_clock(stack)  # FastForward moved it too: only this judging's jumps count
    clock = StackClock([stack.gateway.url, stack.upstream.url], 1000, STACK_KEY)
    started = clock.monotonic()
    try:
        outcomes = judge_official_tasks(catalogue, stack, fault, clock)
    finally:
        clock.close()
    took = clock.monotonic() - started
    assert {c: o for c, (o, _) in outcomes.items()} == {c: o for c, (o, _) in reference.items()}
    assert clock.jumps >= 21, "each task's first wait is a jump the stack answered"
    moved = _gateway_clock(stack) - before
    assert moved >= clock.skipped * 1000, "the gateway's clock moved with the jumps"
    return took


def test_a_stuck_task_gateway_is_judged_in_seconds(
    stack: Stack, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STACK_KEY_ENV, STACK_KEY)
    outcomes, clock = _judge(catalogue, stack, "task-stuck")
    by_outcome: dict[str, list[tuple[str, str]]] = {}
    for case_id, (outcome, message) in outcomes.items():
        by_outcome.setdefault(outcome, []).append((case_id, message))
    assert by_outcome.get("skipped") is None
    assert [c.split("[")[0] for c, _ in by_outcome["failed"]] == ["task.tasks-official.deadline"]
    assert "a terminal state within the client timeout" in by_outcome["failed"][0][1]
    errors = by_outcome["error"]
    assert len(errors) >= 20, "every size case on the official channel waits on a stuck task"
    assert all("still 'processing'" in m for _, m in errors)
    abandoned = [m for _, m in errors if "not polled to the deadline" in m]
    assert len(abandoned) >= len(errors) - 2, "after the first stuck task, a few polls each"
    assert all(int(re.findall(r"after (\d+) polls", m)[0]) <= 3 for m in abandoned)
    # What a real run waits: two full deadlines at most (the deadline rule's own request and the
    # first other stuck task), then three short polls per abandoned task; 48 s were measured.
    full = 2 * REAL_TIME_DEADLINE_FLOOR_S
    interval = REAL_TIME_DEADLINE_FLOOR_S / (MAX_POLLS - 1)
    assert clock.now <= full + len(errors) * 4 * interval, f"{clock.now:.1f} s of polling waits"
    took = _same_on_the_stack_clock(catalogue, stack, "task-stuck", outcomes)
    assert took >= 10, "polled to the (virtual) deadline"


def test_the_same_rules_pass_when_tasks_finish(
    stack: Stack, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fake clock makes no task look stuck: without the fault, every case passes."""
    monkeypatch.setenv(STACK_KEY_ENV, STACK_KEY)
    outcomes, _ = _judge(catalogue, stack, None)
    assert len(outcomes) >= 21
    assert {c: o for c, o in outcomes.items() if o[0] != "passed"} == {}
    _same_on_the_stack_clock(catalogue, stack, None, outcomes)
