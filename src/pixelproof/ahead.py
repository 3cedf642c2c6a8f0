"""Fuzzing ahead: a serial run against the embedded stack fuzzes in a second thread.

A serial run is ping-pong: the controller builds a request, waits while the stack's process
answers it, judges the answer; one of the two processes is idle at any time. Fuzzing's cost is
mostly the controller's own CPU (Hypothesis drawing cases from schemathesis' strategies), so it
can run while the rule cases wait for the stack: the fuzz targets run one after the other in a
thread, started once the case that sends the large sample has run (memory.py: the tree's peak),
and the fuzz tests, moved to the end of the run, report the results in the usual order.

What stays exact: the targets run in the order the serial run would run them, each with the
same allowance, one at a time, with a FuzzSession and a stack clock of their own (as on an xdist
worker; the clock's jumps move the shared stack as another worker's would). Attribution of
upstream calls does not change: every fuzz request carries the run header, which the reference
gateway forwards, so a rule's window of the recorder counts it as the harness's own
(observe._harness_own). Only for the embedded stack (free, local): against a target with a
budget or a bill, a fuzz request the serial run would not have sent (``-x``, Ctrl-C) must not be
sent, so there fuzzing runs in the test that reports it, as before.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

# While the fuzz thread draws cases (pure Python, holding the GIL), the thread judging rule
# cases waits up to one switch interval each time it comes back from the socket: CPython's
# default of 5 ms per return would cost more than the overlap gains.
SWITCH_INTERVAL_S = 0.0005


class FuzzAhead:
    """Runs ``targets`` one after the other in a daemon thread, with the session
    ``make_session`` builds; ``result(target)`` waits for one target's result (or raises what
    running it raised, in the test that reports it)."""

    def __init__(self, targets: Sequence[Any], make_session: Callable[[], Any],
                 run: Callable[[Any, Any], Any], close: Callable[[Any], None]) -> None:  # fmt: skip
        self.targets = list(targets)
        self.futures: dict[str, Future[Any]] = {t.id: Future() for t in self.targets}
        self._make_session, self._run, self._close = make_session, run, close
        self._stop = threading.Event()
        self._session: Any = None
        self._thread: threading.Thread | None = None
        self._interval = sys.getswitchinterval()

    @property
    def started(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        """Builds the session here, in the calling thread (its clients read the environment,
        which pytest changes as tests run: os.environ is not safe to iterate from another
        thread), then starts the thread."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._work, name="pixelproof-fuzz", daemon=True)
        try:
            self._session = self._make_session()
        except Exception as exc:  # each target's test reports it, as the fixture would have
            for future in self.futures.values():
                future.set_exception(exc)
            return
        sys.setswitchinterval(min(self._interval, SWITCH_INTERVAL_S))
        self._thread.start()

    def _work(self) -> None:
        try:
            for target in self.targets:
                future = self.futures[target.id]
                if self._stop.is_set() or not future.set_running_or_notify_cancel():
                    continue
                try:
                    future.set_result(self._run(self._session, target))
                except BaseException as exc:  # reported by the target's test
                    future.set_exception(exc)
        finally:
            sys.setswitchinterval(self._interval)

    def result(self, target: Any) -> Any:
        """The target's result; the thread starts here if the run reached it first."""
        self.start()
        return self.futures[target.id].result()

    def stop(self) -> None:
        """Ends the thread when the session ends: targets not begun are cancelled; one still
        running (an interrupted run) is cut short by closing its session's clients."""
        self._stop.set()
        for future in self.futures.values():
            future.cancel()
        if self._thread is None or self._session is None:
            return
        if self._thread.is_alive():
            self._close(self._session)
        self._thread.join()
        self._close(self._session)
        sys.setswitchinterval(self._interval)


def fuzz_last(items: list[Any]) -> None:
    """Fuzz tests run last (stable order otherwise), so their thread has the whole run to work."""
    items.sort(key=lambda item: item.get_closest_marker("pixelproof_fuzz") is not None)


def plan(config: Any, items: Sequence[Any], pp: Any) -> FuzzAhead | None:
    """The fuzz thread for this run's fuzz items, or None where fuzzing stays in its tests: an
    xdist worker (its share is not known in advance), a target other than the embedded stack,
    a run that stops at the first failures (``-x``/``--maxfail``: no request beyond them)."""
    if pp.stack is None or hasattr(config, "workerinput") or config.option.maxfail:
        return None
    targets = [item.callspec.params["fuzzed"] for item in items
               if item.get_closest_marker("pixelproof_fuzz") and hasattr(item, "callspec")
               and getattr(item.callspec.params.get("fuzzed"), "allowance", 0) > 0]  # fmt: skip
    if not targets:
        return None
    mode = config.getoption("pixelproof_fuzz_mode")

    def make_session() -> Any:
        from pixelproof.fuzz.runner import FuzzSession
        from pixelproof.stack_clock import StackClock

        key = os.environ.get(pp.profile.credentials.env or "")
        clock = StackClock(pp.clock_urls, pp.profile.time_scale, key)
        # (its requests session reads nothing from os.environ per request, trust_env off: that
        # iterated os.environ, not safe while pytest sets PYTEST_CURRENT_TEST in the main thread)
        return FuzzSession(pp.catalogue, pp.profile, mode=mode, run_id=pp.run_id,
                           guard=pp.get_guard(), clock=clock)  # fmt: skip

    def close(session: Any) -> None:
        session.close()
        session.clock.close()

    from pixelproof.fuzz.targets import run_target

    return FuzzAhead(targets, make_session, run_target, close)
