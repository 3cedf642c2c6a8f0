"""Task polling with the documented cadence, a deadline, a poll cap and an injectable clock.

The cadence comes from the documents (first query after 10-20 s, then every 3-5 s, client timeout
>= 180 s); ``time_scale`` divides it for targets on a fast clock (the embedded mock), but never
below ``FLOOR_S`` between queries, and the deadline keeps a real-time floor (rendering is not
sped up by a fast clock). ``max_polls`` caps the queries per task whatever the numbers say. A task
still running at the deadline or the cap ends the poll with ``deadline_exceeded``, never a hang.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from pixelproof.surfaces.paths import twin

if TYPE_CHECKING:
    from pixelproof.catalogue import Catalogue
    from pixelproof.target import Profile

TERMINAL = frozenset({"completed", "failed", "done", "not_found", "expired"})
FLOOR_S = 0.05  # never query a task faster than this, whatever the time scale
# On a fast clock: the slowest clean embedded task (a 31 MB reference) takes ~1.5 s on a loaded
# 2-core machine and was once seen past 5 s under heavier load; 10 s leaves room for that.
REAL_TIME_DEADLINE_FLOOR_S = 10.0
MAX_POLLS = 120  # per task, whatever the cadence (the documented cadence makes ~40 in 180 s)
NAMES = ("initial_delay_s", "interval_s", "max_interval_s", "timeout_s")


class PollClock(Protocol):
    """What polling waits with: real time against a target, a clock that jumps when the embedded
    stack is idle in runs on it (stack_clock.StackClock), a fake clock in tests (FastForward)."""

    def sleep(self, seconds: float) -> None: ...

    def monotonic(self) -> float: ...


class RealTime:
    sleep = staticmethod(time.sleep)
    monotonic = staticmethod(time.monotonic)


@dataclass(frozen=True)
class Cadence:
    initial_delay_s: float
    interval_s: float
    max_interval_s: float
    timeout_s: float
    max_polls: int = MAX_POLLS

    @classmethod
    def for_surface(cls, catalogue: Catalogue, profile: Profile, surface: str) -> Cadence:
        documented = catalogue.defaults.polling[twin(surface)]
        override = profile.polling.get(surface)
        values = {
            name: getattr(override, name, None)
            if override and getattr(override, name) is not None
            else getattr(documented, name)
            for name in NAMES
        }
        if not override and profile.time_scale != 1:
            values = {k: v / profile.time_scale for k, v in values.items()}
            values["timeout_s"] = max(values["timeout_s"], REAL_TIME_DEADLINE_FLOOR_S)
        values["initial_delay_s"] = max(values["initial_delay_s"], FLOOR_S)
        # the cap must not cut the deadline short: spread MAX_POLLS over it if need be
        slowest = max(FLOOR_S, values["timeout_s"] / (MAX_POLLS - 1))
        for name in ("interval_s", "max_interval_s"):
            values[name] = max(values[name], slowest)
        cap = math.ceil(values["timeout_s"] / values["interval_s"]) + 1
        return cls(**values, max_polls=min(cap, MAX_POLLS))

    def impatient(self, polls: int = 3) -> Cadence:
        """The same cadence for a few queries only: for tasks on a surface that has just left
        one task running past its deadline (nothing suggests this one will do better)."""
        return replace(self, max_polls=min(polls, self.max_polls))


@dataclass
class PollResult:
    status: str | None
    answers: list[Any] = field(default_factory=list)  # whatever poll_once returned, in order
    times: list[float] = field(default_factory=list)  # seconds after submission of each query
    deadline_exceeded: bool = False


def poll(
    poll_once: Callable[[], tuple[str | None, Any]],
    cadence: Cadence,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> PollResult:
    """Call ``poll_once`` (-> (status, answer)) on the cadence until a terminal status or the
    deadline. A None status (no usable answer) stops polling: the caller judges the answer."""
    start = clock()
    result = PollResult(status=None)
    sleep(cadence.initial_delay_s)
    interval = cadence.interval_s
    while True:
        status, answer = poll_once()
        result.times.append(clock() - start)
        result.answers.append(answer)
        result.status = status
        if status is None or status in TERMINAL:
            return result
        if len(result.times) >= cadence.max_polls or clock() - start + interval > cadence.timeout_s:
            result.deadline_exceeded = True
            return result
        sleep(interval)
        interval = min(interval * 1.5, cadence.max_interval_s)
