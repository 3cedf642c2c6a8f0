"""A gateway whose tasks never finish is judged in seconds, not minutes: the deadline rule fails,
every other rule on a stuck task is an error with its reason, and polling stays on its cadence.

Polling runs on a FastForward clock (the stack finishes its jobs, then time jumps), so what a run
would wait is counted, not waited: the outcome never depends on how fast the machine is. The same
classification through a real ``pixelproof run`` in real time: test_broken_targets.py[stuck-task]."""

from __future__ import annotations

import re

import pytest

from conftest import STACK_KEY, STACK_KEY_ENV, Outcomes, judge_official_tasks, keyed_stack
from pixelproof.catalogue import Catalogue
from pixelproof.mock.server import FastForward, Stack
from pixelproof.polling import MAX_POLLS, REAL_TIME_DEADLINE_FLOOR_S

stack = pytest.fixture(keyed_stack, scope="module", name="stack")


def _judge(catalogue: Catalogue, stack: Stack, fault: str | None) -> tuple[Outcomes, FastForward]:
    clock = FastForward(stack, 1000)
    return judge_official_tasks(catalogue, stack, fault, clock), clock


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


def test_the_same_rules_pass_when_tasks_finish(
    stack: Stack, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fake clock makes no task look stuck: without the fault, every case passes."""
    monkeypatch.setenv(STACK_KEY_ENV, STACK_KEY)
    outcomes, _ = _judge(catalogue, stack, None)
    assert len(outcomes) >= 21
    assert {c: o for c, o in outcomes.items() if o[0] != "passed"} == {}
