"""The images a run has bought, held against its budget (``--budget``, a profile's
``budget_images``).

One count per process is one count per run for a serial run. `pixelproof run -n N`'s workers are
forked from one session (lanes.py), each with observers of its own: with a count each, a budget of
50 let four workers buy 200 images from a paid vendor. Their ledger is one count in memory the
forks share (made before the first fork), taken under a lock: the run stops buying at the budget
whichever worker reaches it.
"""

from __future__ import annotations

from typing import Any


class Ledger:
    """Images bought; ``shared``: one count for every process forked after it was made."""

    def __init__(self, shared: bool = False) -> None:
        self._local = 0
        self._shared: Any = None
        if shared:
            import multiprocessing  # (only a forked run with a budget pays its import)

            self._shared = multiprocessing.get_context("fork").Value("q", 0)

    def spend(self, images: int, budget: int) -> int | None:
        """Buys ``images`` where that stays within ``budget`` (None); else the count bought so
        far, and nothing is spent."""
        if self._shared is None:
            if self._local + images > budget:
                return self._local
            self._local += images
            return None
        with self._shared.get_lock():
            if self._shared.value + images > budget:
                return int(self._shared.value)
            self._shared.value += images
            return None
