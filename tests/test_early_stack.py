"""`pixelproof run` starts the embedded stack's process before it imports pytest (EarlyStack in
mock/stack_process.py), so the child's start-up runs beside the run's own; the run's session
takes that very process, and one no session took is stopped by the command."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import pixelproof_inprocess
from pixelproof.mock import stack_process
from pixelproof.mock.stack_process import BOOT, EarlyStack


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def stacks_started(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pids of every stack process started in this test."""
    pids: list[int] = []
    real = subprocess.Popen

    def popen(args: Any, *a: Any, **kw: Any) -> subprocess.Popen[bytes]:
        proc = real(args, *a, **kw)
        if BOOT in args:
            pids.append(proc.pid)
        return proc

    monkeypatch.setattr(stack_process.subprocess, "Popen", popen)
    return pids


def test_a_run_uses_the_stack_it_started_before_pytest(
    tmp_path: Path, stacks_started: list[int]
) -> None:
    out = pixelproof_inprocess("run", "--rules", "size.gpt-image-2.1:1", "--fuzz", "off",
                               "--report-dir", str(tmp_path))  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert len(stacks_started) == 1  # one process: the early one, taken by the session
    run = json.loads(next(tmp_path.glob("*/run.json")).read_text())
    assert run["counts"]["passed"] >= 1
    assert _gone(stacks_started[0])


def test_a_stack_no_session_asked_for_is_stopped_by_close(stacks_started: list[int]) -> None:
    early = EarlyStack(frozenset(), 1000.0)
    key = early.key[2]
    assert early.take(frozenset({"size-ignored"}), 1000.0, key) is None  # not this stack
    assert early.take(frozenset(), 10.0, key) is None
    assert early.take(frozenset(), 1000.0, "another key") is None
    early.close()
    assert stacks_started == [early.stack.pid]
    assert _gone(early.stack.pid)
    assert early.take(frozenset(), 1000.0, key) is None  # closed: no session gets it now


def test_a_run_given_other_faults_through_pytest_starts_its_own_and_stops_both(
    tmp_path: Path, stacks_started: list[int]
) -> None:
    out = pixelproof_inprocess("run", "--rules", "size.gpt-image-2.4:3", "--fuzz", "off",
                               "--report-dir", str(tmp_path), "--",
                               "--pixelproof-fault", "size-ignored")  # fmt: skip
    assert out.returncode == 1, out.stderr  # the fault is in the stack that served the run
    assert len(stacks_started) == 2
    assert all(_gone(pid) for pid in stacks_started)
