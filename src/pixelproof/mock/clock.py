"""The mock's clock: real time scaled, so a documented 20 s job can take 20 ms in tests."""

from __future__ import annotations

import time
from collections.abc import Callable


class Clock:
    """Virtual seconds since start = real seconds x ``scale``; ``advance`` jumps ahead."""

    def __init__(self, scale: float = 1.0, source: Callable[[], float] = time.monotonic) -> None:
        if scale <= 0:
            raise ValueError("time scale must be > 0")
        self.scale = scale
        self._source = source
        self._start = source()
        self._offset = 0.0
        self.epoch = time.time()

    def now(self) -> float:
        return (self._source() - self._start) * self.scale + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds

    def wall(self) -> int:
        """Unix time as the mock reports it in `created` fields."""
        return int(self.epoch + self.now())
