"""A pytest plugin for test_xdist_requests' run: in an xdist worker of the run it registers, at
import (before pixelproof's own plugin is configured, as coverage or a user's plugin would), an
exit handler writing one marker file per worker into $PP_ATEXIT_PROBE_DIR; its file shows the
handler ran. The test's own process ($PP_ATEXIT_PROBE_PARENT, the run's controller) registers
nothing."""

from __future__ import annotations

import atexit
import os
from pathlib import Path

_DIR = os.environ.get("PP_ATEXIT_PROBE_DIR")
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")


def _mark() -> None:
    Path(str(_DIR), f"{_WORKER}.{os.getpid()}").write_text("ran")


if _DIR and _WORKER and os.environ.get("PP_ATEXIT_PROBE_PARENT") != str(os.getpid()):
    atexit.register(_mark)
