"""Running the mock for real: uvicorn on loopback, in the foreground or in a background thread."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import threading
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette

from pixelproof.memory import freeze
from pixelproof.mock.app import app_state, create_app
from pixelproof.mock.protocol import MockHttpProtocol
from pixelproof.mock.sockets import bind, url_of
from pixelproof.mock.state import MockConfig

__all__ = [
    "FastForward",
    "Running",
    "Stack",
    "bind",
    "embedded_stack",
    "serve_forever",
    "start",
    "url_of",
]


def _server(app: Starlette, log_level: str, protocol: type[Any] = MockHttpProtocol) -> uvicorn.Server:  # fmt: skip
    config = uvicorn.Config(
        app, log_level=log_level, access_log=False, lifespan="off", timeout_keep_alive=30,
        http=protocol,
    )  # fmt: skip
    return uvicorn.Server(config)


@dataclass
class Running:
    url: str
    app: Starlette
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        """Stop now: by then nobody reads what is still in flight (a ``slow`` fault's 2 s answer,
        a ``huge-body`` pad), and a graceful shutdown waited for it, up to the 10 s join."""
        self.server.should_exit = True
        self.server.force_exit = True
        self.thread.join(timeout=10)

    def settle(self, ignore: Collection[asyncio.Task[Any]] = (), timeout_s: float = 120.0) -> None:
        """Return once every job this server has started (but those in ``ignore``) is done,
        waited for on its own loop. ``timeout_s`` guards against a hang: it raises, never goes on."""
        for job in app_state(self.app).busy():
            if job in ignore:
                continue
            waiting = asyncio.run_coroutine_threadsafe(asyncio.wait([job]), job.get_loop())
            waiting.result(timeout=timeout_s)


def start(
    app: Starlette,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str = "warning",
    sock: socket.socket | None = None,
    protocol: type[Any] = MockHttpProtocol,
) -> Running:
    """Serve ``app`` in a daemon thread (on ``sock`` if given, already listening); returns once
    it accepts connections. ``protocol``: uvicorn's HTTP protocol class (tests compare two)."""
    sock = sock or bind(host, port)
    server = _server(app, log_level, protocol)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="pixelproof-mock"
    )
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"mock server on {url_of(sock)} did not start")
        time.sleep(0.01)
    return Running(url_of(sock), app, server, thread)


@dataclass
class Stack:
    gateway: Running
    upstream: Running


class FastForward:
    """A polling clock for the embedded stack that never waits: ``sleep`` lets the stack finish
    every job it has started (rendering takes no virtual time), then moves this clock and both mock
    clocks ahead by the same span (``time_scale`` virtual seconds per second). A task the stack
    finishes completes as under real time; a task it never finishes (the stuck-task faults) runs
    into the polling deadline after the same polls, in milliseconds instead of the real-time
    floor's seconds. For tests whose stack runs in their own process (pass ``sleep``/``monotonic``
    to an Observer); runs, whose stack has a process of its own, jump its clock over HTTP
    (stack_clock.py)."""

    def __init__(self, stack: Stack, time_scale: float) -> None:
        self.stack = stack
        self.time_scale = time_scale
        self.now = 0.0
        # jobs of earlier observers (a timed-out slow answer, say) are theirs, not waited for
        self.earlier = {
            job for r in (stack.gateway, stack.upstream) for job in app_state(r.app).busy()
        }

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.stack.gateway.settle(self.earlier)
        self.stack.upstream.settle(self.earlier)
        self.now += seconds
        for running in (self.stack.gateway, self.stack.upstream):
            app_state(running.app).clock.advance(seconds * self.time_scale)


@contextlib.contextmanager
def embedded_stack(
    faults: frozenset[str] = frozenset(),
    time_scale: float = 1000.0,
    api_key: str | None = None,
    host: str = "127.0.0.1",
    socks: list[socket.socket] | None = None,
) -> Iterator[Stack]:
    """The reference gateway in front of the vendor mock, both on free loopback ports (or on
    ``socks``: gateway, upstream, listening already)."""
    gateway_sock, upstream_sock = socks or (None, None)
    upstream = start(
        create_app(
            MockConfig(role="upstream", time_scale=time_scale, api_key=api_key, faults=faults)
        ),
        host,
        sock=upstream_sock,
    )
    try:
        gateway_config = MockConfig(
            role="gateway", time_scale=time_scale, api_key=api_key, faults=faults,
            upstream_url=upstream.url, upstream_key=api_key,
        )  # fmt: skip
        gateway = start(create_app(gateway_config), host, sock=gateway_sock)
        try:
            yield Stack(gateway, upstream)
        finally:
            upstream.server.should_exit = upstream.server.force_exit = True  # both stop at once
            gateway.stop()
    finally:
        upstream.stop()


def serve_forever(app: Starlette, host: str, port: int, log_level: str = "info") -> None:
    sock = bind(host, port)
    print(f"pixelproof mock listening on {url_of(sock)}", flush=True)
    server = _server(app, log_level)
    server.config.load()
    gc.collect()
    freeze()
    server.run(sockets=[sock])
