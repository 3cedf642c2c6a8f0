"""A gateway whose tasks never finish is judged in seconds, not minutes: the deadline rule fails,
every other rule on a stuck task is an error with its reason, and polling stays on its cadence.

Polling runs on a FastForward clock (the stack finishes its jobs, then time jumps), so what a run
would wait is counted, not waited: the outcome never depends on how fast the machine is. The same
classification through a real ``pixelproof run`` in real time: test_broken_targets.py[stuck-task]."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from pixelproof.catalogue import Catalogue
from pixelproof.judging.evaluate import evaluate
from pixelproof.mock.faults import FAULT_HEADER
from pixelproof.mock.server import FastForward, Stack, embedded_stack
from pixelproof.observe import Observer
from pixelproof.plan import cases_for
from pixelproof.polling import MAX_POLLS, REAL_TIME_DEADLINE_FLOOR_S
from pixelproof.target import embedded_profile

KEY_ENV = "PIXELPROOF_STUCK_KEY"
KEY = "pp-stuck-key-0123456789"
RULES = ("task.tasks-official.", "size.gpt_image_2_official.")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with embedded_stack(time_scale=1000, api_key=KEY) as running:
        yield running


def _judge(
    catalogue: Catalogue, stack: Stack, fault: str | None
) -> tuple[dict[str, tuple[str, str]], FastForward]:
    profile = embedded_profile(catalogue, stack.gateway.url, stack.upstream.url, KEY_ENV, 1000)
    if fault:
        profile = profile.model_copy(update={"headers": {FAULT_HEADER: fault}})
    cases = [c for c in cases_for(catalogue, profile) if c.rule.id.startswith(RULES) and c.claimed]
    clock = FastForward(stack, profile.time_scale)
    observer = Observer(catalogue, profile, clock=clock)
    try:
        return evaluate(observer, cases), clock
    finally:
        observer.close()


def test_a_stuck_task_gateway_is_judged_in_seconds(
    stack: Stack, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
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
    monkeypatch.setenv(KEY_ENV, KEY)
    outcomes, _ = _judge(catalogue, stack, None)
    assert len(outcomes) >= 21
    assert {c: o for c, o in outcomes.items() if o[0] != "passed"} == {}
