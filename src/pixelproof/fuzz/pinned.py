"""Hypothesis set up for fuzzing: the cases depend on the contracts, the seed and the budget only.

* **No local constants.** Hypothesis draws about one value in twenty from the literals of the
  process's "local" modules: every module in ``sys.modules`` outside site-packages and the stdlib
  (tests excepted), found by parsing their source. For pixelproof that was its own source when
  installed with ``pip install -e`` and none from a wheel, plus whatever else the process had
  imported (a bench script, a suite's conftest.py): the same deterministic run sent other cases
  from a checkout than from the installed wheel, and any edit of any short string anywhere in
  pixelproof changed them. Those literals (rule ids, model names, report words) say nothing about
  the target's contract; Hypothesis' own edge-case constants stay. While fuzzing the local pool is
  empty, which also saves parsing and hashing every local module and writing a cache file per
  module under ``.hypothesis/constants/``.
* **One stable seed per target** in deterministic mode, from the target's id, where Hypothesis'
  ``derandomize`` seeds from the test function's source text: reformatting ``FuzzSession.generate``
  no longer changes every case.

Hypothesis' global PRNG is also registered here, before schemathesis' setup would, without a full
garbage collection (``_global_random_registered``).

The constants switch is process-wide state of Hypothesis, so it holds only inside
``pinned_generation()`` (as the image media types do), with a cache of permitted constants of its
own, so that no value worked out on one side is used on the other.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from random import Random

from hypothesis import core
from hypothesis.internal import entropy
from hypothesis.internal.conjecture import providers
from hypothesis.internal.constants_ast import Constants

NO_LOCAL_CONSTANTS = Constants()
# The constants each choice's bounds permit, worked out once per bounds for the whole process (a
# new pool per target meant checking every constant Hypothesis knows again: ~58k checks a run)
PINNED_CONSTANTS = type(providers.CONSTANTS_CACHE)(1024)


def _no_local_constants() -> Constants:
    return NO_LOCAL_CONSTANTS


def _global_random_registered() -> None:
    """Hypothesis' own global PRNG, made and registered as its first use would, without the full
    garbage collection ``register_random`` runs to warn about a generator nothing else refers to
    (this one is held by Hypothesis itself): 0.2-0.4 s once per process, every object not frozen
    (schemathesis registers its workers' the same way). Before schemathesis' setup, which makes it."""
    if core.threadlocal._hypothesis_global_random is None:
        made = core.threadlocal._hypothesis_global_random = Random()
        entropy.RANDOMS_TO_MANAGE[next(entropy._RKEY)] = made


@contextlib.contextmanager
def pinned_generation() -> Iterator[None]:
    """Hypothesis draws no constants from local modules inside this block."""
    _global_random_registered()
    saved = providers._get_local_constants, providers.CONSTANTS_CACHE
    providers._get_local_constants = _no_local_constants
    providers.CONSTANTS_CACHE = PINNED_CONSTANTS
    try:
        yield
    finally:
        providers._get_local_constants, providers.CONSTANTS_CACHE = saved


def deterministic_seed(target_id: str) -> int:
    """The Hypothesis seed of a target in deterministic mode: the same for the same target id."""
    return int.from_bytes(hashlib.sha256(target_id.encode()).digest()[:8], "big")
