"""A pytest plugin for test_reports' faulty run: at the end of the session (before the run's reports are
written) it records whether the embedded stack's process still runs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pixelproof.plugin import session_of

SEEN: dict[str, str] = {}


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
