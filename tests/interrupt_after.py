"""A pytest plugin for the Ctrl-C test: raises KeyboardInterrupt (what Ctrl-C raises) once
PIXELPROOF_TEST_INTERRUPT_AFTER test cases have finished, so the interruption is deterministic."""

from __future__ import annotations

import os

_finished = 0


def pytest_runtest_logfinish(nodeid: str, location: object) -> None:
    global _finished
    _finished += 1
    if _finished >= int(os.environ.get("PIXELPROOF_TEST_INTERRUPT_AFTER", "0") or 10**9):
        raise KeyboardInterrupt
