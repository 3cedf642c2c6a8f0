"""`pixelproof run -n N`'s xdist workers, forked from a copy of the command instead of started
as fresh interpreters.

A worker xdist starts is a new Python: before its first test it imports pytest, xdist and the
pixelproof plugin (httpx, pydantic, Pillow, YAML, allure's helpers), about half of its ~0.8
CPU-s of start-up (bench/README.md, session 8), and both workers pay it on the same two cores
right when the run is waiting for them. The command has imported all of that already. Just
before pytest starts, it forks a small server (``start``) holding those modules and nothing else
of the run: no thread, no pytest configuration yet, no file descriptor but stderr and its socket
(its copies of the embedded stack's pipes and sockets are closed). execnet then gets the local
workers from it: for each, the command makes the two pipes it would have given a new interpreter
and hands them over; the server forks a child that runs on them the very bootstrap line execnet
gives ``python -c``. From there all is xdist's (the worker configures pytest from the command's
arguments, collects, runs what it is handed), so no verdict depends on how a worker started.
The worker's pid is its own (xdist and Ctrl-C signal it directly); its exit status comes back
through the server, which reaps it.

Only where that is safe: the ``pixelproof`` command itself (not ``main`` called in another
program), Linux, a single thread at the fork (the child copies no other thread's locks), and
xdist's plain local workers (``popen`` with no ``python=``, ``via`` or ``chdir``). Otherwise, or
with PIXELPROOF_FORK_WORKERS=0, xdist starts its workers as ever.
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import gc
import importlib
import json
import os
import select
import signal
import socket
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any, NoReturn

ENV = "PIXELPROOF_FORK_WORKERS"  # "0": xdist starts its workers itself
_SERVER: list[ForkServer] = []  # the command's server while its run lasts
_COMMAND = [False]  # this process is the `pixelproof` command (``allow``), not a program using main
# modules a worker imports that the command has not yet when it forks (pytest imports its own
# plugins, xdist and allure's while configuring)
PRELOAD = ("execnet", "execnet.gateway_base", "xdist.plugin", "xdist.remote", "xdist.looponfail",
           "allure_pytest.plugin")  # fmt: skip


class ForkedPopen:
    """What execnet needs of a ``subprocess.Popen`` (pipes, pid, poll, wait, kill), for a worker
    the server forked: its status arrives on ``status`` once the server reaped it."""

    def __init__(self, pid: int, stdin: Any, stdout: Any, status: socket.socket) -> None:
        self.pid, self.stdin, self.stdout, self.status = pid, stdin, stdout, status
        self.returncode: int | None = None
        self.lock = threading.Lock()

    def poll(self) -> int | None:
        return self.wait(0) if self._ready(0) else self.returncode

    def wait(self, timeout: float | None = None) -> int:
        with self.lock:
            if self.returncode is None:
                if not self._ready(timeout):
                    import subprocess

                    raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout or 0)
                data = _recv_exactly(self.status, 4)
                # no status: the server itself is gone (killed); the worker's exit is unknown
                self.returncode = int.from_bytes(data, "big", signed=True) if data else 255
                self.status.close()
        return self.returncode

    def _ready(self, timeout: float | None) -> bool:
        if self.returncode is not None:
            return True
        return bool(select.select([self.status], [], [], timeout)[0])

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class ForkServer:
    """The command's side: the server's pid and the socket it takes requests on."""

    def __init__(self, pid: int, sock: socket.socket) -> None:
        self.pid, self.sock = pid, sock
        self.lock = threading.Lock()

    def spawn(self) -> ForkedPopen:
        """A worker child with fresh pipes for its stdin and stdout (as ``Popen`` would)."""
        child_in, to_child = os.pipe()
        from_child, child_out = os.pipe()
        mine, theirs = socket.socketpair()
        try:
            # the environment and directory the child would get from Popen now
            state = json.dumps({"env": dict(os.environ), "cwd": os.getcwd()}).encode()
            with self.lock:
                socket.send_fds(self.sock, [state], [child_in, child_out, theirs.fileno()])
        finally:
            for fd in (child_in, child_out):
                os.close(fd)
            theirs.close()
        pid = int.from_bytes(_recv_exactly(mine, 8) or b"\xff" * 8, "big", signed=True)
        if pid <= 0:
            mine.close()
            os.close(to_child)
            os.close(from_child)
            raise OSError("the fork server could not fork a worker")
        return ForkedPopen(pid, os.fdopen(to_child, "wb"), os.fdopen(from_child, "rb"), mine)

    def close(self) -> None:
        """The server ends once its socket closes; reaped here (it exits at once)."""
        self.sock.close()
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        piece = sock.recv(size - len(data))
        if not piece:
            return b""
        data += piece
    return data


def allow() -> None:
    """Called by the command's entry point: only its own process forks (a program calling
    ``main`` may hold threads or state its children must not copy)."""
    _COMMAND[0] = True


def wanted() -> bool:
    return (
        _COMMAND[0]
        and os.environ.get(ENV, "1") != "0"
        and sys.platform == "linux"  # macOS' system libraries are not fork-safe (CPython's own
        # default there is spawn); elsewhere untested
        and hasattr(os, "fork")
        and hasattr(socket, "send_fds")
        and threading.active_count() == 1
    )


def start(warm: Callable[[], object] | None = None) -> ForkServer | None:
    """Forks the server (see the module's docstring) and routes execnet's local workers to it;
    None where that is not safe (then nothing changed). ``warm`` runs in the server before any
    worker is forked: what every worker would compute the same way, computed once."""
    if _SERVER or not wanted():
        return None
    ours, its = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)  # one request a message
    sys.stdout.flush()
    sys.stderr.flush()
    # Ctrl-C waits until the fork is done and the server known: raised inside the fork's
    # hooks, its KeyboardInterrupt was discarded ("Exception ignored") and the run went on
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        try:
            pid = os.fork()
        except OSError:  # no process to spare: xdist starts its workers itself
            ours.close()
            its.close()
            return None
        if pid == 0:  # the server: never returns into the command's frames
            try:
                ours.close()
                _serve(its, warm)
            finally:
                os._exit(1)
        its.close()
        server = ForkServer(pid, ours)
        _SERVER.append(server)
        _route_execnet()
        return server
    finally:  # (the server's ``_serve`` ignores SIGINT, then takes this mask back)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def stop() -> None:
    if _SERVER:
        _SERVER.pop().close()


def _route_execnet() -> None:
    """execnet's ``create_io`` for plain local workers, from the server (once per process)."""
    from execnet import gateway_io

    original = gateway_io.create_io
    if getattr(original, "pixelproof_forked", False):
        return

    class ForkedIO(gateway_io.Popen2IOMaster):  # type: ignore[misc]
        def __init__(self, popen: ForkedPopen, execmodel: Any) -> None:
            self.popen = popen
            gateway_io.Popen2IO.__init__(self, popen.stdin, popen.stdout, execmodel=execmodel)

    def create_io(spec: Any, execmodel: Any) -> Any:
        plain = spec.popen and not (
            spec.python or spec.via or spec.chdir or spec.dont_write_bytecode
        )
        if plain and _SERVER:
            with contextlib.suppress(OSError):
                return ForkedIO(_SERVER[-1].spawn(), execmodel)
        return original(spec, execmodel)

    create_io.pixelproof_forked = True  # type: ignore[attr-defined]
    gateway_io.create_io = create_io


def _serve(sock: socket.socket, warm: Callable[[], object] | None) -> NoReturn:
    """The server's loop: fork a worker per request, report each one's exit; end when the
    command closes its socket (or dies). Ctrl-C is the command's and its workers' to handle."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # blocked by ``start``
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    _preload_pytest_plugins()
    if warm is not None:
        with contextlib.suppress(Exception):  # a worker computes it itself then, as ever
            warm()
    gc.collect()  # garbage of the command's goes now, while the descriptors it holds are valid
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    _close_all_but(sock.fileno())
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    from pixelproof import memory  # ctypes: not for every command that imports this module

    memory.freeze()  # what the workers inherit is never walked again (no page copied for it)
    children: dict[int, socket.socket] = {}
    while True:
        ready = select.select([sock, wake_r], [], [])[0]
        if wake_r in ready:
            os.read(wake_r, 512)
            _reap(children)
        if sock in ready:
            msg, fds, _, _ = socket.recv_fds(sock, 1 << 20, 3)
            if not msg or len(fds) != 3:
                os._exit(0)
            _fork_worker(json.loads(msg), fds, children, (sock.fileno(), wake_r, wake_w))


def _preload_pytest_plugins() -> None:
    from _pytest.config import default_plugins

    for name in default_plugins:
        with contextlib.suppress(ImportError):
            importlib.import_module(f"_pytest.{name}")


def _close_all_but(keep: int) -> None:
    """Every descriptor above stderr but ``keep``: the ones open (Linux lists them), else the
    whole range (``closerange``: one call where the kernel has close_range, one per number
    up to the limit where it has not)."""
    try:
        open_fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        limit = os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 1024
        os.closerange(3, keep)
        os.closerange(keep + 1, limit)
        return
    for fd in open_fds:
        if fd > 2 and fd != keep:
            with contextlib.suppress(OSError):  # the listing's own, closed by now
                os.close(fd)


def _reap(children: dict[int, socket.socket]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        sock = children.pop(pid, None)
        if sock is not None:
            code = os.waitstatus_to_exitcode(status)
            with contextlib.suppress(OSError):
                sock.sendall(code.to_bytes(4, "big", signed=True))
            sock.close()


def _fork_worker(
    state: dict[str, Any], fds: list[int], children: dict[int, socket.socket], own: tuple[int, ...]
) -> None:
    child_in, child_out, status_fd = fds
    status = socket.socket(fileno=status_fd)
    try:
        pid = os.fork()
    except OSError:
        pid = -1
    if pid == 0:
        keep = (child_in, child_out)
        _become_worker(state, keep, [*own, status_fd, *(s.fileno() for s in children.values())])
    os.close(child_in)
    os.close(child_out)
    with contextlib.suppress(OSError):
        status.sendall(pid.to_bytes(8, "big", signed=True))
    if pid > 0:
        children[pid] = status
    else:
        status.close()


def _become_worker(state: dict[str, Any], pipes: tuple[int, int], close: list[int]) -> NoReturn:
    """The child: the pipes as its stdin and stdout, the command's environment and directory as
    they are now, Python's defaults for signals and exit handlers, then execnet's bootstrap line run as ``python -c`` runs it, and the exit Python
    would make (non-daemon threads joined, exit handlers run, streams flushed)."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.dup2(pipes[0], 0)
        os.dup2(pipes[1], 1)
        for fd in (*pipes, *close):
            os.close(fd)
        _fresh_exit_and_tracing()
        os.environ.clear()
        os.environ.update(state["env"])
        os.chdir(state["cwd"])
        sys.argv = ["-c"]
        sys.stdin = open(0, encoding="utf-8", closefd=False)
        sys.stdout = open(1, "w", encoding="utf-8", buffering=1, closefd=False)
        code = _run_bootstrap()
    finally:
        os._exit(code)


def _fresh_exit_and_tracing() -> None:
    """What a fresh interpreter would have at exit and for tracing. The command's exit handlers
    and ``weakref.finalize`` objects are the command's (its stack, its temporary directories):
    none runs in a worker, but logging's flush at exit does, as in any Python, and a finalizer
    the worker makes registers its exit hook again. A tracer or profiler the command ran under
    (coverage, cProfile) stays the command's: this thread's, new threads' (threading's hooks)
    and, from Python 3.12, ``sys.monitoring`` tools."""
    atexit._clear()
    if "logging" in sys.modules:
        atexit.register(sys.modules["logging"].shutdown)
    weakref.finalize._registry.clear()  # type: ignore[attr-defined]
    weakref.finalize._registered_with_atexit = False  # type: ignore[attr-defined]
    sys.settrace(None)
    sys.setprofile(None)
    threading.settrace(None)  # type: ignore[arg-type]
    threading.setprofile(None)  # type: ignore[arg-type]
    monitoring = getattr(sys, "monitoring", None)
    for tool in range(6) if monitoring is not None else ():
        if monitoring.get_tool(tool) is not None:
            monitoring.set_events(tool, 0)
            monitoring.free_tool_id(tool)


def _run_bootstrap() -> int:
    from execnet.gateway_io import popen_bootstrapline

    code: int = 0
    try:
        exec(popen_bootstrapline, {"__name__": "__main__", "__builtins__": builtins})
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    return code
