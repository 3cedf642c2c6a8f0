"""A pytest plugin for test_worker_crash: the xdist worker that reaches a phase of a test whose id
contains a target named in $PP_KILL_WORKER_AT dies there at once (``os._exit``: no report, no
teardown, as a kill or the OOM killer leaves it), once per kill and run: it first creates its
mark, file K in the directory $PP_KILL_WORKER_MARKS for the K-th kill, and a worker that finds
the file runs the test as usual. So a scheduler that ran the case again would see it pass, which
is what the test must not let through.

$PP_KILL_WORKER_AT is a JSON list of ``[phase, target]`` pairs, one per kill (one run can kill
several workers, each replacement dying in turn). The phase is ``call`` (after the case's setup
sent its requests, before any verdict), ``teardown`` (after the call's report reached the
controller) or ``logfinish`` (after every report of the test, before xdist hears it is
complete)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

CONFIG: list[pytest.Config] = []  # the run's; its controller calls logfinish too, in its process


def pytest_configure(config: pytest.Config) -> None:
    CONFIG[:] = [config]


def _die_in(phase: str, nodeid: str) -> None:
    marks = os.environ.get("PP_KILL_WORKER_MARKS")
    # (a worker's ``workerinput`` is set once it is forked: pixelproof.lanes)
    if not (marks and CONFIG and hasattr(CONFIG[0], "workerinput")):
        return
    for index, (when, target) in enumerate(json.loads(os.environ.get("PP_KILL_WORKER_AT", "[]"))):
        if when != phase or target not in nodeid:
            continue
        try:
            (Path(marks) / str(index)).touch(exist_ok=False)
        except FileExistsError:
            continue
        os._exit(9)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    _die_in("call", item.nodeid)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    _die_in("teardown", item.nodeid)


@pytest.hookimpl(trylast=True)
def pytest_runtest_logfinish(nodeid: str) -> None:
    _die_in("logfinish", nodeid)
