"""A pytest plugin for test_reports' faulty run: at the end of the session (before the run's reports are
written) it records the embedded stack's process (its pid) and whether it still runs. And
``record_stack_starts``: the stack processes a block of a test starts (test_early_stack, and
test_reports around its faulty run)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from pixelproof.mock import stack_process
from pixelproof.mock.stack_process import BOOT
from pixelproof.plugin import session_of

SEEN: dict[str, Any] = {}


def record_stack_starts(patch: pytest.MonkeyPatch) -> list[int]:
    """The pids of every stack process started while ``patch`` is in place (appended as they
    start)."""
    pids: list[int] = []
    real = subprocess.Popen

    def popen(args: Any, *a: Any, **kw: Any) -> subprocess.Popen[bytes]:
        proc = real(args, *a, **kw)
        if BOOT in args:
            pids.append(proc.pid)
        return proc

    patch.setattr(stack_process.subprocess, "Popen", popen)
    return pids


def gone(pid: int) -> bool:
    """Whether the process has ended and been reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _state(pid: int) -> str:
    """The process's state letter from /proc (Z: ended, not yet reaped), or "gone"."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "gone"


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    pp = session_of(session.config)
    assert pp is not None
    assert pp.stack_pid is not None
    deadline = time.monotonic() + 10  # a kill is delivered at once; the wait is only for the OS
    while _state(pp.stack_pid) not in ("Z", "gone") and time.monotonic() < deadline:
        time.sleep(0.01)
    SEEN["stack"] = _state(pp.stack_pid)
    SEEN["pid"] = pp.stack_pid
