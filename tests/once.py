"""Test data made once per test session, however xdist spreads the tests that read it."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

# name -> (the session's factory, what was made): without xdist, for the session's life.
MADE: dict[str, tuple[pytest.TempPathFactory, Path]] = {}


def _made_in_this_process(
    factory: pytest.TempPathFactory, name: str, produce: Callable[[Path], None]
) -> Path:
    """Without xdist the session has one process, so what it made is remembered here. The
    readers of made data run last (conftest.MADE_ONCE), after other files' tests, so pytest had
    torn the module fixture down in between and set it up again: a serial run (-p no:xdist)
    made the clean fuzz run and the report runs twice. A nested session (its own factory)
    makes its own."""
    made = MADE.get(name)
    if made is None or made[0] is not factory:
        target = factory.mktemp(name)
        produce(target)
        MADE[name] = made = (factory, target)
    return made[1]


def once_per_session(
    factory: pytest.TempPathFactory, name: str, produce: Callable[[Path], None]
) -> Path:
    """A directory ``produce`` fills once for the whole test session, however xdist spreads the
    tests that read it (pytest-xdist's recipe for a session fixture run once): a module fixture
    is set up again on every worker that gets one of its tests (chunks of two: up to three),
    each paying for what it produces. The first worker to ask produces it, holding a lock in the
    session's shared temporary directory; the others wait for the lock, then read what it wrote.
    If ``produce`` fails, nothing is marked done and the next worker to ask tries (and fails)
    itself. Readers must not change what is there."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return _made_in_this_process(factory, name, produce)
    shared = factory.getbasetemp().parent  # pytest-N/, the parent of every worker's popen-gwK/
    target, done = shared / name, shared / f"{name}.done"
    with (shared / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # blocks until the producer is through: no polling
        try:
            if not done.exists():
                shutil.rmtree(target, ignore_errors=True)  # a failed attempt's leftovers
                target.mkdir()
                produce(target)
                done.touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target
