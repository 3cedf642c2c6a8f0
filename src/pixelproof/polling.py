"""Task polling with the documented cadence, a deadline and an injectable clock.

The cadence comes from the documents (first query after 10-20 s, then every 3-5 s, client timeout
>= 180 s); ``scale`` divides it for targets on a fast clock (the embedded mock). A task that is
still running at the deadline ends the poll with ``deadline_exceeded``, never a hang.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pixelproof.catalogue import Catalogue
from pixelproof.target import Profile

TERMINAL = frozenset({"completed", "failed", "done", "not_found", "expired"})


@dataclass(frozen=True)
class Cadence:
    initial_delay_s: float
    interval_s: float
    max_interval_s: float
    timeout_s: float

    @classmethod
    def for_surface(cls, catalogue: Catalogue, profile: Profile, surface: str) -> Cadence:
        documented = catalogue.defaults.polling[surface]
        override = profile.polling.get(surface)
        values = {
            name: getattr(override, name, None)
            if override and getattr(override, name) is not None
            else getattr(documented, name)
            for name in ("initial_delay_s", "interval_s", "max_interval_s", "timeout_s")
        }
        if not override and profile.time_scale != 1:
            values = {k: v / profile.time_scale for k, v in values.items()}
            # a fast clock speeds the job, not the machine's CPU: keep a real-time floor
            values["timeout_s"] = max(values["timeout_s"], 15.0)
        return cls(**values)


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
        if clock() - start + interval > cadence.timeout_s:
            result.deadline_exceeded = True
            return result
        sleep(interval)
        interval = min(interval * 1.5, cadence.max_interval_s)
