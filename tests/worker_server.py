"""xdist workers for in-process `run -n N`s (conftest.pixelproof_inprocess), forked from one
server per test session, as the `pixelproof` command forks its own (pixelproof/forkworkers.py).

A fresh worker imports pytest, xdist and the pixelproof plugin before its first test: ~0.75
CPU-s each, and test_worker_crash starts six. The command forks them from a server it forks from
itself; a test process cannot do that (it holds xdist's threads and the stacks' it serves, whose
locks a fork would copy), so here the server is a fresh interpreter of its own, started at the
first run that asks for it and holding what the command holds when it forks its server, and the
same forkworkers code serves it: workers forked with the environment and directory of the moment,
their exit status sent back, replacements of dead ones forked too. What differs from the command
is only where the server came from. A run outside ``workers_forked`` starts its workers as xdist
does (test_xdist_requests' run, test_worker_crash's last test): that path stays covered."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from collections.abc import Iterator

from pixelproof import forkworkers

# What the command has imported when it forks its server (boot first, as the console script
# does; forkworkers._serve then imports the rest a worker needs: execnet, xdist, pytest's plugins)
BOOT = (
    "import sys, socket, pixelproof.boot, pixelproof.cli.runner, pixelproof.plugin\n"
    "from pixelproof.forkworkers import _serve\n"
    "_serve(socket.socket(fileno=int(sys.argv[1])), None)\n"
)


class SessionServer(forkworkers.ForkServer):
    """The session's server: a run's end (forkworkers.stop) leaves it serving; ``finish`` ends it."""

    def __init__(self, proc: subprocess.Popen[bytes], sock: socket.socket) -> None:
        super().__init__(proc.pid, sock)
        self.proc = proc

    def close(self) -> None:
        """Called by each run's end: the next run's workers come from here too."""

    def finish(self) -> None:
        self.sock.close()  # the server exits once its socket closes
        self.proc.wait(timeout=30)


_STARTED: list[SessionServer] = []


def _server() -> SessionServer:
    if not _STARTED:
        ours, its = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with its:
            # -P: the working directory is no module source (as the stack's child)
            proc = subprocess.Popen(
                [sys.executable, "-P", "-c", BOOT, str(its.fileno())],
                pass_fds=[its.fileno()],
                stdin=subprocess.DEVNULL,
            )
        _STARTED.append(SessionServer(proc, ours))
    return _STARTED[0]


@contextlib.contextmanager
def workers_forked() -> Iterator[None]:
    """The local xdist workers of the runs in this block come from the session's server."""
    server = _server()
    forkworkers._SERVER.append(server)
    forkworkers._route_execnet()
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):  # the run's end took it off already
            forkworkers._SERVER.remove(server)


def finish() -> None:
    """The session's end: the server (if a test started one) exits and is reaped."""
    while _STARTED:
        _STARTED.pop().finish()
