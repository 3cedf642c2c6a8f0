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
import gc
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

KEY_ENV = "PIXELPROOF_STACK_PROCESS_KEY"
EMBEDDED_KEY_ENV = "PIXELPROOF_EMBEDDED_KEY"  # the run's key for its embedded stack (its name)
# httpx imports its command-line client at import when rich and click are installed (pixelproof
# brings both): ~65 ms of the child's start-up for a module it never runs. Marked missing, httpx
# takes its documented fallback (a stub ``httpx.main``); only this child does that.
# The collector is off while the child starts (imports, the catalogue, the apps: objects that live
# until it ends), then those are frozen out of its walks (``main``): it ran ~150 young and one full
# collection over them, ~0.08 of the child's CPU-s, and found next to nothing.
# The gateway and the upstream each serve in a thread of the child; each hop between them (a
# gateway request forwarded upstream, a Jimeng poll) hands the GIL over, and a thread whose socket
# is ready waited up to the switch interval (5 ms by default) while the other ran. `run -n N`
# sends from several workers at once, so the other thread was often busy: 0.5 ms lets a hop
# through ten times sooner (a `-n auto` fuzz-full run: medians 7.93 / 7.89 -> 7.50 / 7.22 s wall,
# CPU not higher; bench/README.md, session 10). A serial run is one sender (its ahead thread
# overlaps the waits already) and lost by it: fuzz full 10.85 -> 11.8 s, 11.9 -> 12.7 CPU-s
# (two interleaved pairs); it keeps CPython's default.
SWITCH_INTERVAL_S = 0.0005  # a stack that several workers send to (``parallel``)


def several_senders(workers: object) -> bool:
    """Whether a run given the ``-n`` value ``workers`` (the command's string, or the count xdist
    made of it; None: serial) sends to its stack from several processes at once."""
    from pixelproof.workers import worker_count

    try:
        return workers is not None and worker_count(workers) > 1
    except ValueError:
        return False


BOOT = ("import gc; gc.disable(); import sys; sys.modules.setdefault('httpx._main', None); "
        "from pixelproof.mock.stack_process import main; sys.exit(main())")  # fmt: skip


@dataclass(frozen=True)
class Endpoint:
    url: str


@dataclass(frozen=True)
class RemoteStack:
    gateway: Endpoint
    upstream: Endpoint
    pid: int
    ready: Callable[[], None] = lambda: None  # returns once the stack serves; raises if it died


@contextlib.contextmanager
def stack_process(
    faults: frozenset[str] = frozenset(),
    time_scale: float = 1000.0,
    api_key: str | None = None,
    host: str = "127.0.0.1",
    wait: bool = True,
    parallel: bool = False,
) -> Iterator[RemoteStack]:
    """Start the stack in a child process; stop it (by its pid) when the block ends.

    The listening sockets are bound here and handed to the child, so the URLs are known at once:
    with ``wait=False`` the block starts while the child still imports (~1 s that a run spends
    collecting its tests meanwhile), and ``ready()`` must be called before the first request
    (a connection made earlier waits in the socket's backlog; one to a child that died would
    wait for its timeout, which ``ready`` turns into a clear error instead). ``parallel``: several
    processes will send to it at once (SWITCH_INTERVAL_S)."""
    from pixelproof.mock.sockets import bind, url_of

    socks = [bind(host), bind(host)]  # gateway, upstream
    # -P: ``python -c`` would put the working directory first on the path, and a user's
    # ``http.py`` (or ``random.py``...) there would be imported in place of the standard library's
    args = [sys.executable, "-P", "-c", BOOT, "--time-scale", str(time_scale),
            "--host", host, "--fds", ",".join(str(s.fileno()) for s in socks)]  # fmt: skip
    args += [a for f in sorted(faults) for a in ("--fault", f)]
    args += ["--switch-interval", str(SWITCH_INTERVAL_S)] if parallel else []
    env = {**os.environ, KEY_ENV: api_key or ""}
    fds = tuple(s.fileno() for s in socks)
    proc = subprocess.Popen(
        args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, pass_fds=fds
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    out = proc.stdout

    def ready() -> None:
        if not socks:
            return
        line = out.readline()
        for sock in socks:  # the child holds its own copies; a dead child's port now refuses
            sock.close()
        socks.clear()
        if not line:
            raise RuntimeError(f"the embedded stack process ended ({proc.wait()}) before serving")

    try:
        stack = RemoteStack(Endpoint(url_of(socks[0])), Endpoint(url_of(socks[1])), proc.pid, ready)
        if wait:
            ready()
        yield stack
    finally:
        for sock in socks:
            sock.close()
        proc.stdin.close()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class EarlyStack:
    """The embedded stack started by `pixelproof run` before it imports pytest and the plugin.

    The child's own start-up (~1 CPU-s of imports) then runs beside the run's, on the core that
    was idle, instead of beside the collection (serial) or the xdist workers' start-up (``-n``),
    which it slowed. `pixelproof run` registers it as a plugin object; the plugin's configure
    takes it when it would have started the same stack (faults, clock speed, key), and stops it
    as its own. ``close`` stops one that no session took (pytest never configured, another
    fault set given through pytest's options): always called by the command that started it."""

    def __init__(self, faults: frozenset[str], time_scale: float, parallel: bool = False) -> None:
        os.environ.setdefault(EMBEDDED_KEY_ENV, "pp-embedded-" + secrets.token_hex(12))
        self.key = (faults, time_scale, os.environ[EMBEDDED_KEY_ENV])
        self.context = stack_process(
            faults, time_scale, api_key=self.key[2], wait=False, parallel=parallel
        )
        self.stack = self.context.__enter__()
        self.taken = False

    def take(self, faults: frozenset[str], time_scale: float, api_key: str) -> Any:
        """(context, stack) for a session asking for this very stack, once; else None."""
        if self.taken or (faults, time_scale, api_key) != self.key:
            return None
        self.taken = True
        return self.context, self.stack

    def close(self) -> None:
        """Stops it unless a session took it. Killed, not asked to end: no one will ever send it
        a request, and asked (its stdin closed) it first finished starting (~0.45 CPU-s of
        imports and apps) only to notice and exit."""
        if not self.taken:
            self.taken = True
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.stack.pid, signal.SIGKILL)
            self.context.__exit__(None, None, None)


def run_stack(
    plugins: Iterable[object], faults: frozenset[str], scale: float, parallel: bool = False
) -> Any:
    """(context, stack) for a run's session: the EarlyStack among ``plugins`` when it is this
    very stack, else one started now (with the run's key, made here if the run has none)."""
    os.environ.setdefault(EMBEDDED_KEY_ENV, "pp-embedded-" + secrets.token_hex(12))
    key = os.environ[EMBEDDED_KEY_ENV]
    early = [plugin for plugin in plugins if isinstance(plugin, EarlyStack)]
    for plugin in early:
        taken = plugin.take(faults, scale, key)
        if taken is not None:
            return taken
    for plugin in early:  # not this run's stack (another fault set): one session a run, none
        plugin.close()  # will take it

    context = stack_process(faults, scale, api_key=key, wait=False, parallel=parallel)
    return context, context.__enter__()


def main(argv: Sequence[str] | None = None) -> int:
    from pixelproof.memory import keep_for_the_run, return_big_buffers
    from pixelproof.mock.server import embedded_stack

    return_big_buffers()  # a 41 MB body or a 4K image, once answered, does not stay resident
    parser = argparse.ArgumentParser(prog="pixelproof.mock.stack_process")
    parser.add_argument("--time-scale", type=float, default=1000.0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--fault", action="append", default=[])
    parser.add_argument("--fds", default="", help="listening sockets bound by the parent")
    parser.add_argument("--switch-interval", type=float, help="seconds (sys.setswitchinterval)")
    args = parser.parse_args(argv)
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)  # (this process is the stack's alone)
    key = os.environ.pop(KEY_ENV, "") or None
    socks = [socket.socket(fileno=int(fd)) for fd in args.fds.split(",") if fd] or None
    faults = frozenset(args.fault)
    with embedded_stack(faults, args.time_scale, api_key=key, host=args.host, socks=socks) as st:
        keep_for_the_run()  # imports, catalogue, apps: alive to the end, never walked again
        gc.enable()  # off since BOOT
        print(json.dumps({"gateway": st.gateway.url, "upstream": st.upstream.url}), flush=True)
        sys.stdin.read()  # until the parent closes our stdin, or dies
    return 0


if __name__ == "__main__":
    sys.exit(main())
