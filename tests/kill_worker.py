"""A pytest plugin for test_worker_crash: the xdist worker that reaches the call phase of the test
whose id contains $PP_KILL_WORKER_IN dies there at once (``os._exit``: no report, no teardown, as a
kill or the OOM killer leaves it), once per run: it first creates $PP_KILL_WORKER_MARK, and a
worker that finds the file runs the test as usual. So a scheduler that ran the case again would
see it pass, which is what the test must not let through."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    target, mark = os.environ.get("PP_KILL_WORKER_IN"), os.environ.get("PP_KILL_WORKER_MARK")
    if not (target and mark and os.environ.get("PYTEST_XDIST_WORKER")) or target not in item.nodeid:
        return
    try:
        Path(mark).touch(exist_ok=False)
    except FileExistsError:
        return
    os._exit(9)
