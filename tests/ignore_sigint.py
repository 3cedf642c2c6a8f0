"""A pytest plugin for test_run_cli's Ctrl-C test: a worker of `run -n N` ignores SIGINT from its
first test on (as a library that installs its own handler can make it), so only the command's
grace period and SIGKILL (pixelproof.lanes, ``_stop_all``) end it."""

from __future__ import annotations

import signal

import pytest


def pytest_runtest_setup(item: pytest.Item) -> None:
    if hasattr(item.config, "workerinput"):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
