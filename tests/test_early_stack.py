"""`pixelproof run` starts the embedded stack's process before it imports pytest (EarlyStack in
mock/stack_process.py), so the child's start-up runs beside the run's own; the run's session
takes that very process (asserted on test_reports' faulty run, a default run: one stack process
started, the session's, gone once the run ends), and one no session took is stopped by the
command."""

from __future__ import annotations

from pathlib import Path

import pytest

import stack_watch
from conftest import pixelproof_inprocess
from pixelproof.mock.stack_process import EarlyStack


@pytest.fixture
def stacks_started(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pids of every stack process started in this test."""
    return stack_watch.record_stack_starts(monkeypatch)


def test_a_stack_no_session_asked_for_is_stopped_by_close(stacks_started: list[int]) -> None:
    early = EarlyStack(frozenset(), 1000.0)
    key = early.key[2]
    assert early.take(frozenset({"size-ignored"}), 1000.0, key) is None  # not this stack
    assert early.take(frozenset(), 10.0, key) is None
    assert early.take(frozenset(), 1000.0, "another key") is None
    early.close()
    assert stacks_started == [early.stack.pid]
    assert stack_watch.gone(early.stack.pid)
    assert early.take(frozenset(), 1000.0, key) is None  # closed: no session gets it now


def test_a_run_given_other_faults_through_pytest_starts_its_own_and_stops_both(
    tmp_path: Path, stacks_started: list[int]
) -> None:
    out = pixelproof_inprocess("run", "--rules", "size.gpt-image-2.4:3", "--fuzz", "off",
                               "--report-dir", str(tmp_path), "--",
                               "--pixelproof-fault", "size-ignored")  # fmt: skip
    assert out.returncode == 1, out.stderr  # the fault is in the stack that served the run
    assert len(stacks_started) == 2
    assert all(stack_watch.gone(pid) for pid in stacks_started)
