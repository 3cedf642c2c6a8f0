"""Test data made once per test session, however xdist spreads the tests that read it."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest


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
        target = factory.mktemp(name)
        produce(target)
        return target
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
