"""A pytest plugin for the Ctrl-C tests, so the interruption is deterministic.

PIXELPROOF_TEST_INTERRUPT_AFTER=N raises KeyboardInterrupt (what Ctrl-C raises) once N test cases
have finished. PIXELPROOF_TEST_SWALLOWED_SIGINT_AFTER=N sends this process a real SIGINT once N
cases have finished and swallows the KeyboardInterrupt it raises, as a finalizer does when the
signal lands in one ("Exception ignored in ..."): the run must stop anyway.
PIXELPROOF_TEST_BREAK_INTERRUPT_REPORT=1 makes pytest's own report of the interruption raise, as
pytest 9 on CPython 3.11 once did (a traceback entry without a line number): still exit 130."""

from __future__ import annotations

import os
import signal

_finished = 0


def _after(name: str) -> int:
    return int(os.environ.get(name, "0") or 0) or 10**9


def pytest_configure(config: object) -> None:
    """Counted per run: a process that nests runs (a test worker) imports this module once."""
    global _finished
    _finished = 0


def pytest_runtest_logfinish(nodeid: str, location: object) -> None:
    global _finished
    _finished += 1
    if _finished == _after("PIXELPROOF_TEST_SWALLOWED_SIGINT_AFTER"):
        try:
            signal.raise_signal(signal.SIGINT)  # the handler runs before this returns
        except KeyboardInterrupt:
            pass
    if _finished >= _after("PIXELPROOF_TEST_INTERRUPT_AFTER"):
        raise KeyboardInterrupt


def pytest_keyboard_interrupt(excinfo: object) -> None:
    if os.environ.get("PIXELPROOF_TEST_BREAK_INTERRUPT_REPORT"):
        raise TypeError("unsupported operand type(s) for -: 'NoneType' and 'int'")
