"""A pytest plugin for test_fork_workers: each xdist worker of a run writes one line to
$PP_FORK_PROBE: whether the pixelproof plugin was already imported when pytest imported this one
(``-p`` plugins come before the entry points: in a fresh interpreter it never is; in a worker
forked from the command it always is), its pid and its parent's."""

from __future__ import annotations

import json
import os
import sys

import pytest

PRELOADED = "pixelproof.plugin" in sys.modules


def pytest_configure(config: pytest.Config) -> None:
    path = os.environ.get("PP_FORK_PROBE")
    workerinput = getattr(config, "workerinput", None)
    if path and workerinput is not None:
        line = {"worker": workerinput["workerid"], "preloaded": PRELOADED,
                "pid": os.getpid(), "parent": os.getppid()}  # fmt: skip
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")
