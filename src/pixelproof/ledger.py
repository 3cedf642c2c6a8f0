"""The images a run has bought, held against its budget (``--budget``, a profile's
``budget_images``).

One count per process is one count per run for a serial run. A run on several processes sends
from each: `pixelproof run -n N`'s forked workers (lanes.py) and xdist's workers (`pytest suites
-n N`, `pixelproof run -- -n N`) each observe with observers of their own, and with a count each a
budget of 50 let four workers buy 200 images from a paid vendor (two xdist workers bought 20 on
`--budget 10`). Such a run's ledger is one count in a file the run's first process makes
(``shared``) and hands to the others by its path (xdist's ``workerinput``; a fork inherits it),
read and written under an exclusive ``flock`` that each process takes on a descriptor of its own
(a descriptor shared across a fork would share its lock too): the run stops buying at the budget
whichever process reaches it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile


class Ledger:
    """Images bought; with a ``path``, one count for every process that opens that file."""

    def __init__(self, path: str | None = None, owner: int | None = None) -> None:
        self._local = 0
        self.path = path
        self._owner = owner  # the pid of the process that made the file, and removes it (``close``)

    @classmethod
    def shared(cls) -> Ledger:
        """A new count in a new file, for the processes this one will start or fork."""
        fd, path = tempfile.mkstemp(prefix="pixelproof-ledger-")
        os.close(fd)
        return cls(path, owner=os.getpid())

    def spend(self, images: int, budget: int) -> int | None:
        """Buys ``images`` where that stays within ``budget`` (None); else the count bought so
        far, and nothing is spent."""
        if self.path is None:
            if self._local + images > budget:
                return self._local
            self._local += images
            return None
        fd = os.open(self.path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            bought = int.from_bytes(os.pread(fd, 8, 0), "little")
            if bought + images > budget:
                return bought
            os.pwrite(fd, (bought + images).to_bytes(8, "little"), 0)
            return None
        finally:
            os.close(fd)  # (the lock goes with the descriptor)

    def close(self) -> None:
        """The file removed by the process that made it (not by a fork of it); nothing otherwise."""
        if self._owner == os.getpid() and self.path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            self._owner = None
