"""A run's pixelproof session: the catalogue and profile, the plan, the observer and the clock,
made once per pytest session and kept in ``config.stash`` (the plugin's hooks and fixtures, the
runner, fuzzing and the suites read it through ``session_of``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from pixelproof.deadline import Guard
from pixelproof.ledger import Ledger
from pixelproof.observe import Observer
from pixelproof.plan import cases_for
from pixelproof.polling import RealTime
from pixelproof.report import allure_results
from pixelproof.report.allure import flush_results
from pixelproof.report.results import Results
from pixelproof.schedule import probe_groups
from pixelproof.stack_clock import StackClock

if TYPE_CHECKING:
    from pixelproof.ahead import Ahead
    from pixelproof.catalogue import Catalogue
    from pixelproof.plan import Case
    from pixelproof.polling import PollClock
    from pixelproof.target import Profile


@dataclass
class PixelproofSession:
    catalogue: Catalogue
    profile: Profile
    run_id: str
    stack: Any = None
    stack_pid: int | None = None  # the embedded stack's process (stopped once the tests are done)
    observer: Observer | None = None
    ahead: Ahead | None = None  # a serial run's rule cases observed ahead of their tests
    results: Results = field(default_factory=Results)
    guard: Guard | None = None
    planned: int | None = None  # cases collected: "interrupted after N of M cases"
    groups: dict[str, str] | None = None
    plan: list[Case] | None = None  # every case the profile makes (``cases``)
    clock_urls: tuple[str, ...] = ()  # the embedded stack's servers: task polling jumps its clock
    clock: PollClock | None = None
    stack_ready: Callable[[], None] = lambda: None  # the embedded stack serves once this returns
    gc_before: tuple[tuple[int, ...], bool] | None = None  # for release_after_the_run
    ledger: Ledger = field(default_factory=Ledger)  # images bought, every observer's (ledger.py)

    def shared_ledger(self) -> str | None:
        """For a run about to send from several processes (forked or xdist workers): its image
        count moved into a file they all open, by its path; None when the run has no budget."""
        if self.profile.budget_images is None:
            return None
        if self.ledger.path is None:
            self.ledger = Ledger.shared()
        return self.ledger.path

    def get_guard(self) -> Guard:
        """The run deadline and breakers, shared by the observer and fuzzing."""
        if self.guard is None:
            self.guard = Guard(self.profile.run_timeout_s, self.profile.breaker_after)
        return self.guard

    def cases(self, kinds: set[str] | None = None) -> list[Case]:
        """``cases_for`` of the session's catalogue and profile, planned once: each suite
        function's tests and the xdist groups had each planned theirs (~10 ms a run)."""
        if self.plan is None:
            self.plan = cases_for(self.catalogue, self.profile)
        return self.plan if kinds is None else [c for c in self.plan if c.rule.kind in kinds]

    def probe_groups(self) -> dict[str, str]:
        """Probe key -> its xdist group (``schedule.probe_groups``), worked out once."""
        if self.groups is None:
            self.groups = probe_groups(self.cases())
        return self.groups

    def get_clock(self) -> PollClock:
        """What task polling (observer and fuzzing) waits with: real time, or against the
        embedded stack a clock that jumps once the stack's jobs are done (stack_clock.py)."""
        if self.clock is None:
            self.clock = RealTime()
            if self.clock_urls:
                key = os.environ.get(self.profile.credentials.env or "")
                self.clock = StackClock(self.clock_urls, self.profile.time_scale, key)
        return self.clock

    def get_observer(self) -> Observer:
        if self.observer is None:
            self.observer = Observer(
                self.catalogue, self.profile, self.run_id, self.get_guard(), self.get_clock(),
                self.ledger,
            )  # fmt: skip
        return self.observer


SESSION = pytest.StashKey["PixelproofSession"]()


def session_of(config: pytest.Config) -> PixelproofSession | None:
    """The run's pixelproof session (None when no suite runs: e.g. the project's own tests)."""
    return config.stash.get(SESSION, None)


def close_process(config: pytest.Config) -> PixelproofSession | None:
    """What this process of a run holds, closed: Allure's files written (in a thread,
    report/allure.py), the observer's connections and the polling clock's. The command's
    unconfigure, and each `run -n N` worker before it ends (lane_worker.py: the embedded stack
    is the command's, left alone)."""
    allure_results.stop(config)
    for problem in flush_results():
        print(f"pixelproof: allure result not written: {problem}", file=sys.__stderr__)
    session = session_of(config)
    if session is not None and session.observer is not None:
        session.observer.close()
    if session is not None and isinstance(session.clock, StackClock):
        session.clock.close()
    return session
