"""A pytest plugin for test_worker_crash: every probe request a run sends, one line (its key) per
send in $PP_COUNT_PROBES, from whichever process sends it (the run's forked workers inherit the
wrapper: it is put on ``Observer._send`` at configure, taken off at unconfigure)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from pixelproof.observe import Observer

_ORIGINAL: list[Any] = []


def _counted(self: Observer, probe: Any, nonce: str, **more: Any) -> Any:
    path = os.environ.get("PP_COUNT_PROBES")
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{probe.key}\n".encode())
        finally:
            os.close(fd)
    return _ORIGINAL[0](self, probe, nonce, **more)


def pytest_configure(config: pytest.Config) -> None:
    _ORIGINAL[:] = [Observer._send]
    Observer._send = _counted  # type: ignore[method-assign]


def pytest_unconfigure(config: pytest.Config) -> None:
    if _ORIGINAL:
        Observer._send = _ORIGINAL.pop()  # type: ignore[method-assign]
