"""The embedded stack (reference gateway + vendor mock) in a process of its own.

In the controller's process the two servers shared its CPU and its GIL with pytest, the HTTP
client and the image checks: a serial run spent close to half its CPU inside the mock, and
``-n auto`` workers queued behind the controller's GIL. In a child process they run on the other
core. The child prints its two URLs as one JSON line and serves until its standard input closes,
so it ends with its parent however the parent ends. The API key travels in the environment, never
on the command line (``ps`` shows command lines).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

KEY_ENV = "PIXELPROOF_STACK_PROCESS_KEY"


@dataclass(frozen=True)
class Endpoint:
    url: str


@dataclass(frozen=True)
class RemoteStack:
    gateway: Endpoint
    upstream: Endpoint
    pid: int


@contextlib.contextmanager
def stack_process(
    faults: frozenset[str] = frozenset(),
    time_scale: float = 1000.0,
    api_key: str | None = None,
    host: str = "127.0.0.1",
) -> Iterator[RemoteStack]:
    """Start the stack in a child process; stop it (by its pid) when the block ends."""
    args = [sys.executable, "-m", "pixelproof.mock.stack_process", "--time-scale", str(time_scale),
            "--host", host] + [a for f in sorted(faults) for a in ("--fault", f)]  # fmt: skip
    env = {**os.environ, KEY_ENV: api_key or ""}
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the embedded stack process ended ({proc.wait()}) before serving")
        urls = json.loads(line)
        yield RemoteStack(Endpoint(urls["gateway"]), Endpoint(urls["upstream"]), proc.pid)
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: Sequence[str] | None = None) -> int:
    from pixelproof.memory import return_big_buffers
    from pixelproof.mock.server import embedded_stack

    return_big_buffers()  # a 41 MB body or a 4K image, once answered, does not stay resident

    parser = argparse.ArgumentParser(prog="pixelproof.mock.stack_process")
    parser.add_argument("--time-scale", type=float, default=1000.0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--fault", action="append", default=[])
    args = parser.parse_args(argv)
    key = os.environ.pop(KEY_ENV, "") or None
    with embedded_stack(frozenset(args.fault), args.time_scale, api_key=key, host=args.host) as st:
        print(json.dumps({"gateway": st.gateway.url, "upstream": st.upstream.url}), flush=True)
        sys.stdin.read()  # until the parent closes our stdin, or dies
    return 0


if __name__ == "__main__":
    sys.exit(main())
