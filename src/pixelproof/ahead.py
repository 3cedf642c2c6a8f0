"""A serial run's rule cases observed ahead of the tests that judge them, in a thread of their own.

A serial run against the embedded stack spent ~3 s of its ~12 s with the controller waiting: on
the stack's answers (its CPU, on the other core) and on jobs that take real time there (a Jimeng
generation polls its upstream: ~27 ms a request; task polls wait for the stack's jobs), while the
controller's own work (fuzzing, judging) waited on nothing. Here one thread observes the rule
cases (``observe_case``: probes sent, tasks polled, images fetched and decoded, the recorder
read) in the run's order, one case at a time, from the start of the test loop; each case's test
takes its evidence (or the error or skip observing raised) when its setup reaches it, and judges
it on the main thread as before. Its waits now overlap the fuzz targets, which run on the main
thread as before (Hypothesis never runs in another thread of the pytest process, bench/README.md),
and the judging of the cases before it.

What is sent does not change: the same probes, in the same order, by one observer. What runs
beside them does: the fuzz targets send their cases while rule cases are observed, as from two
xdist workers under ``-n``, so this observer gets what a second worker has: a polling clock of its
own (the jumps fuzzing asks for are not its own polls' waits) and breakers of its own (the run's
deadline shared). Only against the embedded stack (a real target may limit its rate or bill
requests sent side by side; a serial run against one stays one request at a time), only when
nothing can stop the run early on a failure (``-x``, ``--maxfail``, ``--stepwise``: cases after
it would have been sent for nothing), and ``PIXELPROOF_OBSERVE_AHEAD=0`` turns it off. A run
stopped early (Ctrl-C) may have observed cases it never reports: at most those ahead of it.

The thread imports none of the modules pytest rewrites on import with ``ast`` (whose converter
is not thread-safe in CPython 3.11: pixelproof's, Hypothesis'): ``observe_case``'s are all
imported at the plugin's import. Pillow's format plugins may load in it on a first decode; pytest
never rewrites them.

Only the items pytest will run are observed: not those a ``skip`` or a true ``skipif`` mark skips,
nor an ``xfail(run=False)`` (their setup never takes an observation, so the requests it sent would
count for no case, and a later case sharing its probes would count none). A skip raised by
another fixture before ``case`` cannot be foreseen: its observation is left untaken.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from pixelproof.judging.evidence import Evidence, observe_case
from pixelproof.observe import Observer
from pixelproof.plan import Case

SWITCH = "PIXELPROOF_OBSERVE_AHEAD"
THREAD = "pixelproof-ahead"
# A serial run's thread observes while the main thread fuzzes, on the CPU: each time an answer
# the thread waits for arrived (connect, headers, every read of a body), it got the GIL back at
# the main thread's next switch, up to 5 ms (CPython's default interval) several times a request,
# and ended last (py-spy: ~40 % of its samples waiting for the GIL on a socket's return). 0.5 ms
# while it observes, the interval before once it ends. Serial fuzz-full runs, interleaved rounds
# on a shared 2-core VM (session 13, bench/README.md): medians 12.47 -> 11.22 s (5 of 5 rounds
# faster), 13.34 -> 12.30 s (6 of 8), 13.25 -> 13.32 s (a busier hour: no difference); CPU not
# higher. A `-n N` worker's thread keeps the default: its main thread judges (Pillow decodes
# without the GIL) or fuzzes with no rule case left to observe.
SWITCH_INTERVAL_S = 0.0005
Observed = tuple[
    "Evidence | BaseException", int, int
]  # evidence or what stopped it, requests, images


def observed(observer: Observer, case: Case) -> Observed:
    """``observe_case``'s evidence, or the exception it raised, and the requests and images the
    observation sent (none for a probe observed before: each is sent once per session)."""
    before = (observer.requests_sent, observer.images_sent)
    result: Evidence | BaseException
    try:
        result = observe_case(observer, case)
    except BaseException as exc:
        result = exc
    return result, observer.requests_sent - before[0], observer.images_sent - before[1]


class Ahead:
    """Observes ``cases`` in order with ``observer`` in a thread; ``take`` hands each one over."""

    def __init__(
        self,
        observer: Observer,
        cases: Sequence[Case],
        clock: Any = None,
        more: bool = False,
        switch_s: float | None = None,
    ) -> None:
        self.observer, self.clock = observer, clock
        self.switch_s = switch_s  # the GIL switch interval while observing (None: unchanged)
        self._cases = list(cases)
        self._planned = {id(c) for c in self._cases}
        self._done: dict[int, Observed] = {}
        self._ready = threading.Condition()
        self._stop = self._finished = False
        self._more = more  # cases may still be added (``extend``) until ``halt``
        self.on_start: Callable[[Case], None] | None = None  # told before each case is observed
        self._thread = threading.Thread(target=self._run, name=THREAD, daemon=True)

    def extend(self, cases: Sequence[Case]) -> None:
        """More cases, observed after those given so far (a `run -n N` worker's next units)."""
        with self._ready:
            self._cases.extend(cases)
            self._planned.update(id(c) for c in cases)
            self._ready.notify_all()

    def start(self) -> Ahead:
        self._thread.start()
        return self

    def _run(self) -> None:
        previous, ours = sys.getswitchinterval(), None
        try:
            if self.switch_s is not None:
                sys.setswitchinterval(min(previous, self.switch_s))
                ours = sys.getswitchinterval()
            index = 0
            while True:
                with self._ready:
                    while index == len(self._cases) and self._more and not self._stop:
                        self._ready.wait()
                    if self._stop or index == len(self._cases):
                        break
                    case = self._cases[index]
                index += 1
                if self.on_start is not None:
                    self.on_start(case)
                result = observed(self.observer, case)
                with self._ready:
                    self._done[id(case)] = result
                    self._ready.notify_all()
        finally:
            if ours is not None and sys.getswitchinterval() == ours:
                sys.setswitchinterval(previous)  # (one set meanwhile, by the user, is kept)
            with self._ready:
                self._finished = True
                self._ready.notify_all()

    def take(self, case: Case) -> Observed:
        """The case's observation, once observed; one it was not given (or did not reach, being
        stopped) is observed here, once it is done (one observer, never two threads in it)."""
        if id(case) in self._planned:
            with self._ready:
                while id(case) not in self._done and not self._finished:
                    self._ready.wait()
                found = self._done.pop(id(case), None)
            if found is not None:
                return found
        self.stop()
        return observed(self.observer, case)

    def halt(self) -> None:
        """No case after the one being observed."""
        with self._ready:
            self._stop = True
            self._ready.notify_all()

    def stop(self) -> None:
        """``halt``, and return once the case being observed is done."""
        self.halt()
        if self._thread.ident is not None:
            self._thread.join()

    def close(self) -> None:
        self.stop()
        if self.clock is not None:
            self.clock.close()


def start(session: pytest.Session, pp: Any) -> Ahead | None:
    """An ``Ahead`` observing the session's rule cases with ``pp``'s observer (made here), started;
    None where the run sends one request at a time (see the module's docstring)."""
    config, option = session.config, session.config.option
    if hasattr(config, "workerinput") or config.pluginmanager.has_plugin("dsession"):
        return None  # -n N: each worker observes its own cases as they come
    if getattr(option, "pixelproof_workers", None):
        return None  # lane_worker.py's workers observe theirs ahead (``for_worker``)
    if not _wanted(session, pp):
        return None
    cases = [c for item in session.items if (c := case_of(item)) is not None]
    if len(cases) < 2:
        return None
    pp.observer, clock = lane_of(pp)
    return Ahead(pp.observer, cases, clock, switch_s=SWITCH_INTERVAL_S).start()


def for_worker(session: pytest.Session, pp: Any) -> Ahead | None:
    """A `run -n N` worker's ``Ahead`` (lane_worker.py), started with no case: the worker
    ``extend``s it with the rule cases of each unit it is handed. None where ``start`` would
    be."""
    if not _wanted(session, pp):
        return None
    pp.observer, clock = lane_of(pp)
    return Ahead(pp.observer, [], clock, more=True).start()


def _wanted(session: pytest.Session, pp: Any) -> bool:
    option = session.config.option
    if os.environ.get(SWITCH, "1") == "0" or not pp.clock_urls or pp.observer is not None:
        return False  # switched off; not the embedded stack; observing began already
    if option.maxfail or getattr(option, "stepwise", False) or option.collectonly:
        return False
    # pytest runs no fixture, or no test at all
    return not getattr(option, "setupplan", False) and not (
        session.testsfailed and not option.continue_on_collection_errors
    )


def case_of(item: pytest.Item) -> Case | None:
    """The case an item's setup observes (None: no case, or one pytest will not run: skipped,
    unclaimed cases included, or an ``xfail(run=False)``), by pytest's own reading of the marks."""
    from _pytest.skipping import evaluate_skip_marks, evaluate_xfail_marks

    callspec = getattr(item, "callspec", None)
    case = callspec.params.get("case") if callspec else None
    if not isinstance(case, Case) or evaluate_skip_marks(item) is not None:
        return None
    xfail = evaluate_xfail_marks(item)
    return None if xfail is not None and not xfail.run else case


def lane_of(session: Any) -> tuple[Observer, Any]:
    """The observer of the ahead thread: the session's catalogue, profile, run id and deadline,
    with breakers and a polling clock of its own (as a second xdist worker has)."""
    from pixelproof.stack_clock import StackClock

    profile = session.profile
    key = os.environ.get(profile.credentials.env or "")
    clock = StackClock(session.clock_urls, profile.time_scale, key)
    guard = session.get_guard().lane()
    observer = Observer(session.catalogue, profile, session.run_id, guard, clock, session.ledger)
    return observer, clock
