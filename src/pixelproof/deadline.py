"""Whole-exchange deadlines and the run's guard (run deadline, per-surface breaker).

httpx timeouts bound each socket operation, so a server that drips one byte a second keeps a
request alive forever. Here every socket operation's timeout is the *time left* until the
exchange's deadline (held in a context variable while the client sends), so connect -> last byte
is bounded by ``timeout_s`` however the server paces itself.

The ``Guard`` is shared by every client of a run: after the run deadline nothing more is sent, and
after ``breaker_after`` consecutive exchanges without an answer on one surface that surface gets no
more requests; both answer with an error that names why (and the first failure).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import certifi
import httpcore
import httpx

HOLD_BYTES = 64 * 1024  # writes up to this size are sent together with what follows them
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "pixelproof_deadline", default=None
)


@contextlib.contextmanager
def deadline_at(when: float) -> Iterator[None]:
    token = _DEADLINE.set(when)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _left(timeout: float | None, error: type[Exception]) -> float | None:
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the exchange deadline passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    """A connection whose reads and writes end by the exchange deadline.

    A small write (a request head, a small body) is held until the next write or the first read
    and goes out with what follows: a request is one segment instead of two, so the server
    wakes once and both ends spend one send/receive less (py-spy of bench/bench_fuzz.py: the
    client's socket writes were 8% of a fuzz pass). Same bytes, same order. A write error on
    the held bytes at the read is dropped as httpcore drops one while it writes a request: the
    read then tells what the server did."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self.inner = inner
        self.held, self.held_timeout = b"", None

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self.held:
            held, self.held = self.held, b""
            try:
                self.inner.write(held, _left(self.held_timeout, httpcore.WriteTimeout))
            except httpcore.WriteError:
                pass
        return self.inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if self.held and len(self.held) + len(buffer) <= HOLD_BYTES:
            buffer, self.held = self.held + buffer, b""
        elif self.held:
            held, self.held = self.held, b""
            self.inner.write(held, _left(timeout, httpcore.WriteTimeout))
        if 0 < len(buffer) <= HOLD_BYTES:
            self.held, self.held_timeout = buffer, timeout
            return
        self.inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self.held = b""
        self.inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:  # fmt: skip
        left = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self.inner.start_tls(ssl_context, server_hostname, left))

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's sync backend with every operation bounded by the current exchange deadline."""

    def __init__(self) -> None:
        self.inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:  # fmt: skip
        left = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self.inner.connect_tcp(host, port, left, local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:  # fmt: skip
        left = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self.inner.connect_unix_socket(path, left, socket_options))

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


@functools.cache
def _tls(verify: bool) -> ssl.SSLContext | bool:
    """One verifying TLS context per process: building one loads the CA bundle (~70 ms), and a run
    makes a client per worker, recorder and fuzz session."""
    return ssl.create_default_context(cafile=certifi.where()) if verify else False


def shared_tls() -> ssl.SSLContext:
    """The process's one verifying TLS context (for clients outside this module)."""
    context = _tls(True)
    assert isinstance(context, ssl.SSLContext)
    return context


# Loopback targets (the embedded stack, a local gateway) are never sent through a proxy, whatever
# NO_PROXY says: a corporate HTTP_PROXY must not break the quick start.
_DIRECT: dict[str, None] = {"all://127.0.0.1": None, "all://localhost": None, "all://[::1]": None}


def _bounded(transport: httpx.BaseTransport | None) -> None:
    """Put the deadline backend under one of httpx's transports (direct or through a proxy).

    httpx has no public hook for the network backend; its pools (httpcore.ConnectionPool and the
    proxy pools derived from it) keep it in ``_network_backend``. A different httpx fails loudly
    here, at client creation, rather than silently running without whole-exchange deadlines."""
    if transport is None:
        return
    pool = getattr(transport, "_pool", None)
    if not isinstance(pool, httpcore.ConnectionPool) or not hasattr(pool, "_network_backend"):
        raise RuntimeError(
            f"pixelproof cannot bound exchanges with this httpx ({httpx.__version__}): "
            f"{type(transport).__name__} has no httpcore pool"
        )
    pool._network_backend = DeadlineBackend()


def deadline_client(timeout: httpx.Timeout, verify: bool = True) -> httpx.Client:
    """An httpx client whose every exchange, direct or through an HTTP(S)_PROXY from the
    environment (NO_PROXY honoured, loopback always direct), is bounded by the exchange deadline."""
    client = httpx.Client(timeout=timeout, verify=_tls(verify), mounts=_DIRECT, trust_env=True)
    for transport in (client._transport, *client._mounts.values()):
        _bounded(transport)
    return client


class Guard:
    """Run deadline and per-surface breaker, shared by every client of a run (thread-safe)."""

    def __init__(self, run_timeout_s: float | None = None, breaker_after: int = 3,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.clock = clock
        self.run_timeout_s = run_timeout_s
        self.ends = None if run_timeout_s is None else clock() + run_timeout_s
        self.breaker_after = breaker_after
        self._misses: dict[str, list[str]] = {}
        self._open: dict[str, str] = {}
        self._lock = threading.Lock()

    def lane(self) -> Guard:
        """A guard for requests sent beside this one's, as from another xdist worker: the same run
        deadline, breakers of its own."""
        lane = Guard(self.run_timeout_s, self.breaker_after, self.clock)
        lane.ends = self.ends
        return lane

    def refusal(self, surface: str) -> str | None:
        """Why nothing may be sent to ``surface`` now, or None."""
        if self.ends is not None and self.clock() >= self.ends:
            return f"not sent: the run deadline passed (run_timeout_s={self.run_timeout_s:g})"
        with self._lock:
            return self._open.get(surface)

    def deadline(self, timeout_s: float) -> float:
        """The exchange deadline: ``timeout_s`` from now, never past the run deadline."""
        own = self.clock() + timeout_s
        return own if self.ends is None else min(own, self.ends)

    def record(self, surface: str, no_answer: str | None) -> None:
        """An exchange ended: ``no_answer`` is its connection failure/timeout, None if it answered."""
        with self._lock:
            if no_answer is None:
                self._misses.pop(surface, None)
                return
            misses = self._misses.setdefault(surface, [])
            misses.append(no_answer)
            if self.breaker_after and len(misses) >= self.breaker_after:
                self._open.setdefault(
                    surface,
                    f"not sent: {surface or 'the target'} gave no answer {len(misses)} times in a "
                    f"row (breaker_after={self.breaker_after}); first: {misses[0]}",
                )
