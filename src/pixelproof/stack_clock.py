"""A polling clock that jumps when the embedded stack is idle.

Task polling waits real seconds between queries (``polling.RealTime``). Against the embedded
stack that wait is mostly idle: at ``--time-scale 1000`` a task is done in milliseconds, yet the
first query waits the polling floor (50 ms) and the next ones the deadline's spread (~80 ms); a
default run slept ~5 s that way. ``StackClock.sleep(s)`` asks each of the stack's servers to let
the jobs it has running finish, waiting at most ``s`` real seconds (never longer than the sleep it
replaces), then to move its clock ahead by ``s * time_scale`` virtual seconds; this clock moves
by ``s``. So a job still running gets at least the real time it got before, and a task the stack
has finished is seen finished at the first query, as under real time, without the wait: no
verdict depends on how fast the machine is. If the stack does not answer, the sleep is real.
Between sleeps the clock runs in real time (a poll's own request counts toward its deadline, as
under ``RealTime``): it is real time plus the seconds each jump skipped.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import httpx

CLOCK_PATH = "/__pixelproof/clock"


class StackClock:
    def __init__(self, urls: Sequence[str], time_scale: float, key: str | None,
                 transport: httpx.BaseTransport | None = None) -> None:  # fmt: skip
        self.urls = [u.rstrip("/") for u in urls]
        self.time_scale = time_scale
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}
        # loopback only, never through a proxy; the timeout is on top of the settle wait. Plain
        # HTTP to the embedded stack: no CA bundle loaded for a TLS context it never uses (~50 ms
        # of each process that polls: the run, each xdist worker, the fuzz thread's session)
        self.http = httpx.Client(transport=transport, trust_env=False, timeout=30.0, verify=False)
        self.skipped = 0.0  # seconds jumped over, beyond the real time each settle took
        self.jumps = 0  # sleeps the stack answered (the rest were slept in real time)

    def monotonic(self) -> float:
        return time.monotonic() + self.skipped

    def sleep(self, seconds: float) -> None:
        started = time.monotonic()
        try:
            for url in self.urls:
                left = max(0.0, seconds - (time.monotonic() - started))
                body = {"seconds": seconds * self.time_scale, "settle": left}
                answer = self.http.post(url + CLOCK_PATH, json=body, headers=self.headers)
                answer.raise_for_status()
            self.jumps += 1
            self.skipped += max(0.0, seconds - (time.monotonic() - started))
        except httpx.HTTPError:
            time.sleep(max(0.0, seconds - (time.monotonic() - started)))

    def close(self) -> None:
        self.http.close()
