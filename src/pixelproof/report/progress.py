"""The live progress line of `pixelproof run` on a terminal: cases judged of the total, requests
sent, images bought, failures so far and the time elapsed, rewritten in place.

Runs against paid targets take minutes; a line that moves says the run is alive and what it has
spent. In CI logs (CI=true) or when the output is not a terminal it stays silent, and while it is
on, pytest's per-test letters are off so the two do not write over each other.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any, TextIO

import pytest

MIN_INTERVAL_S = 0.1  # redraw at most ten times a second
_LIVE: weakref.WeakSet[LiveProgress] = weakref.WeakSet()


def _hold_drawing() -> None:
    """Around a fork (`run -n N` forks a worker in place of one that died while this line
    ticks): no redraw in flight, so the child never inherits stdout's lock held mid-write."""
    for live in list(_LIVE):
        live._lock.acquire()


def _release_drawing() -> None:
    for live in list(_LIVE):
        live._lock.release()


os.register_at_fork(
    before=_hold_drawing, after_in_parent=_release_drawing, after_in_child=_release_drawing
)


def wanted(stream: TextIO, env: Mapping[str, str] = os.environ, verbose: int = 0) -> bool:
    """On a terminal, not in CI, and not when -v already prints a line per case."""
    if verbose or env.get("CI", "").lower() in ("1", "true", "yes"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


class LiveProgress:
    """A pytest plugin (controller side; with xdist, workers' reports arrive here too)."""

    pixelproof_controller_only = True  # (lanes.py's workers drop it)

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.started = clock()
        self.total = 0
        self.judged: set[str] = set()
        self.failing: set[str] = set()
        self.requests = 0
        self.images = 0
        self._drawn_at: float | None = None
        self._write: Callable[[str], None] | None = None
        self._finish: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        _LIVE.add(self)

    def line(self) -> str:
        total = f"/{self.total}" if self.total else ""
        failed = f" · {len(self.failing)} failing" if self.failing else ""
        return (
            f"pixelproof: {len(self.judged)}{total} cases judged · {self.requests} requests · "
            f"{self.images} images{failed} · {_elapsed(self.clock() - self.started)} elapsed"
        )

    def record(self, report: Any) -> None:
        """Count a case once, at its teardown, with what its setup spent."""
        if report.failed:
            self.failing.add(report.nodeid)
        if report.when != "teardown":
            return
        self.judged.add(report.nodeid)
        props = dict(report.user_properties)
        self.requests += int(props.get("requests") or 0)
        self.images += int(props.get("images") or 0)

    def draw(self, force: bool = False) -> None:
        with self._lock:
            now = self.clock()
            if self._write is None:
                return
            if not force and self._drawn_at is not None and now - self._drawn_at < MIN_INTERVAL_S:
                return
            self._drawn_at = now
            self._write(self.line())

    def start_ticking(self, interval_s: float = 1.0) -> None:
        """Redraw every second, so the elapsed time moves while one slow case (a 4K image) is
        pending; pytest prints nothing else while the line is on."""
        if self._ticker is not None or self._write is None:
            return
        self._ticker = threading.Thread(
            target=self._tick, args=(interval_s,), name="pixelproof-progress", daemon=True
        )
        self._ticker.start()

    def _tick(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            self.draw(force=True)

    def stop_ticking(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()

    # ---- pytest hooks
    @pytest.hookimpl(trylast=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        reporter.showfspath = False  # no per-file prefixes under the live line
        self._write = lambda text: reporter.rewrite(text, erase=True)
        self._finish = reporter.ensure_newline

    @pytest.hookimpl(wrapper=True)
    def pytest_report_teststatus(self, report: Any, config: pytest.Config) -> Any:
        """Keep pytest's categories (its summary counts them) but print no letter per test."""
        category, _letter, _word = yield
        return category, "", ""

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.total = self.total or len(session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.total = max(self.total, len(ids))

    def pytest_runtest_logstart(self) -> None:
        """Ticking from the first test on: `-n N` forks its workers before it (lanes.py), from
        a process that must have no other thread then."""
        self.start_ticking()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.record(report)
        self.draw()

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        self.stop_ticking()
        self.draw(force=True)
        if self._finish is not None:
            self._finish()
