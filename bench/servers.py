"""Servers for bench_mock.py's --raw comparison, each in its own process on a free loopback port:
the pixelproof vendor mock (`pixelproof mock`), and Stoplight Prism's mock (through npx) serving
the very answer the pixelproof mock gave, from a one-operation OpenAPI document."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

PRISM = "@stoplight/prism-cli@5"


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) so far of ``pid`` and its descendants, from /proc."""
    tick, total, todo = os.sysconf("SC_CLK_TCK"), 0.0, [pid]
    while todo:
        current = todo.pop()
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in os.listdir(f"/proc/{current}/task"):
                todo += [
                    int(c)
                    for c in Path(f"/proc/{current}/task/{task}/children").read_text().split()
                ]
    return total


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """The process group this bench started (npx runs node as a child), by its id."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _wait_ready(url: str, path: str, body: dict[str, Any], proc: subprocess.Popen[bytes], limit: float) -> None:  # fmt: skip
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.post(url + path, json=body, timeout=5).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"no 200 from {url}{path} within {limit:.0f} s")


@contextlib.contextmanager
def pixelproof_mock(path: str, body: dict[str, Any]) -> Iterator[tuple[str, int]]:
    port = free_port()
    args = [sys.executable, "-m", "pixelproof.cli", "mock", "--port", str(port), "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, path, body, proc, 60)
        yield url, proc.pid
    finally:
        _stop(proc)


def prism_unavailable() -> str | None:
    """Why Prism cannot run here, or None."""
    if shutil.which("npx") is None or shutil.which("node") is None:
        return "npx/node not on PATH"
    return None


@contextlib.contextmanager
def prism_mock(
    path: str, body: dict[str, Any], answer: bytes, workdir: Path
) -> Iterator[tuple[str, int]]:
    """Prism serving ``answer`` (the pixelproof mock's own bytes) as the operation's example."""
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "bench: one generation answer", "version": "1"},
        "paths": {path: {"post": {
            "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {"200": {"description": "the pixelproof mock's answer", "content": {
                "application/json": {"example": json.loads(answer)}}}},
        }}},
    }  # fmt: skip
    spec_path = workdir / "prism-bench.json"
    spec_path.write_text(json.dumps(spec))
    port = free_port()
    args = ["npx", "-y", PRISM, "mock", "-h", "127.0.0.1", "-p", str(port), "-v", "warn", str(spec_path)]  # fmt: skip
    log = (workdir / "prism.log").open("wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, path, body, proc, 180)
        yield url, proc.pid
    finally:
        _stop(proc)
        log.close()
