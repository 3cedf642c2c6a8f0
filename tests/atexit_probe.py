"""A pytest plugin for test_xdist_requests' runs: in each worker of the run it registers an exit
handler writing one marker file per worker into $PP_ATEXIT_PROBE_DIR; its file shows the handler
ran. An xdist worker registers it at import (before pixelproof's own plugin is configured, as
coverage or a user's plugin would); a worker `run -n N` forks (pixelproof.lanes) imported it in
the command, before the fork, and registers it at its first test (as a library would, once
running). The test's own process ($PP_ATEXIT_PROBE_PARENT, the run's command) registers
nothing."""

from __future__ import annotations

import atexit
import os
from pathlib import Path

import pytest

_DIR = os.environ.get("PP_ATEXIT_PROBE_DIR")
_REGISTERED: set[int] = set()  # the processes that registered it
_COMMAND = os.environ.get("PP_ATEXIT_PROBE_PARENT")


def _inherited() -> None:
    """The command's own handler: a forked worker must not run it (pixelproof.lanes)."""
    if os.getpid() != int(str(_COMMAND)):
        Path(str(_DIR), f"inherited.{os.getpid()}").write_text("ran in a worker")


def _mark() -> None:
    Path(str(_DIR), f"{os.environ['PYTEST_XDIST_WORKER']}.{os.getpid()}").write_text("ran")


def _register() -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    parent = os.environ.get("PP_ATEXIT_PROBE_PARENT") == str(os.getpid())
    if _DIR and worker and not parent and os.getpid() not in _REGISTERED:
        _REGISTERED.add(os.getpid())
        atexit.register(_mark)


_register()
if _DIR and _COMMAND == str(os.getpid()):
    atexit.register(_inherited)


def pytest_runtest_setup(item: pytest.Item) -> None:
    _register()
