"""The mock's HTTP protocol: uvicorn's (httptools, one write per answer), with less around each
request of the pipeline's routes.

At one connection the rate is one round trip at a time, so every microsecond of the server's CPU
per request is a microsecond of latency; py-spy and an in-process driver (bench/README.md) put a
third of the mock's Python time per request in the layers between the socket and the endpoint.
Three of them go, each without changing a byte of what a client sees:

- **ProxyHeadersMiddleware**, for a request without ``X-Forwarded-Proto``/``-For`` headers: it
  only rewrites the scope from those, so without them it only adds an await.
- **Starlette's router and the ASGI send of a plain answer**: a request ``MockApp`` would serve
  lean (``lean.py``) goes straight to its endpoint, still inside uvicorn's own request cycle and
  its error handling (``run_asgi``: a crash is a 500 or a closed connection, as before), and a
  plain ``Response`` (bytes already rendered, no background task) is written as uvicorn's
  ``send`` writes it, head and body in one write, with the same checks and the same
  keep-alive and ``Connection: close`` handling. Anything else (streams, the padded and dropped
  answers of the faults, a response whose connection is paused or gone) goes through ``send``.
- **A keep-alive timer per answer**: uvicorn arms a 30 s timer after every answer and cancels it
  at the next request; here one timer per connection looks at the time of the last answer when
  it fires and re-arms for what is left, so an idle connection still closes when uvicorn's would.
"""

from __future__ import annotations

import functools
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    RequestResponseCycle,
)
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

from pixelproof.mock.corked import CorkedHttpToolsProtocol
from pixelproof.mock.lean import Endpoint, MockApp

PROXY_HEADERS = (b"x-forwarded-proto", b"x-forwarded-for")


def _mock_app(app: Any) -> tuple[MockApp | None, bool]:
    """The MockApp under uvicorn's wrapper (if any), and whether that wrapper is the proxy one."""
    proxied = isinstance(app, ProxyHeadersMiddleware)
    inner = app.app if proxied else app
    return (inner if isinstance(inner, MockApp) else None), proxied


async def _serve_lean(
    cycle: RequestResponseCycle, app: MockApp, run: Endpoint, params: dict[str, Any],
    scope: Any, receive: Any, send: Any,
) -> None:  # fmt: skip
    """MockApp's lean call, writing a plain answer in one go (``write_plain``)."""
    scope["app"] = app
    scope["path_params"] = params
    response = await run(Request(scope, receive, send))
    if not write_plain(cycle, response):
        await response(scope, receive, send)


def _plain(cycle: RequestResponseCycle, response: Response) -> bool:
    return (
        type(response).__call__ is Response.__call__
        and response.background is None
        and not cycle.response_started
        and not cycle.disconnected
        and not cycle.flow.write_paused
        and cycle.scope["method"] != "HEAD"
    )


_VALID: set[tuple[bytes, bytes]] = set()  # header pairs already checked (the same every answer)
VALID_KEPT = 512  # pairs remembered at most: the date header is new each second


def _check_header(name: bytes, value: bytes) -> None:
    """uvicorn's checks of one header, remembered once passed: they depend on its bytes alone."""
    if HEADER_RE.search(name):
        raise RuntimeError("Invalid HTTP header name.")
    if HEADER_VALUE_RE.search(value):
        raise RuntimeError("Invalid HTTP header value.")
    if len(_VALID) >= VALID_KEPT:
        _VALID.clear()
    _VALID.add((name, value))


def write_plain(cycle: RequestResponseCycle, response: Response) -> bool:
    """Send ``response`` as uvicorn's ``send`` sends its start and body messages (same bytes,
    same checks, same state), in one write; False (nothing done) if it is not a plain answer."""
    if not _plain(cycle, response):
        return False
    cycle.response_started = True
    cycle.waiting_for_100_continue = False
    status, body = response.status_code, response.body
    if cycle.access_log:
        scope = cycle.scope
        cycle.access_logger.info('%s - "%s %s HTTP/%s" %d', get_client_addr(scope), scope["method"],
                                 get_path_with_query_string(scope), scope["http_version"], status)  # fmt: skip
    content = [STATUS_LINE[status]]
    close = False
    for name, value in cycle.default_headers + response.raw_headers:
        if (name, value) not in _VALID:
            _check_header(name, value)
        name = name.lower()
        if name == b"content-length" and cycle.chunked_encoding is None:
            cycle.expected_content_length = int(value.decode())
            cycle.chunked_encoding = False
        elif name == b"transfer-encoding" and value.lower() == b"chunked":
            cycle.expected_content_length = 0
            cycle.chunked_encoding = True
        elif name == b"connection" and b"close" in [t.lower().strip() for t in value.split(b",")]:
            cycle.keep_alive = False
            close = True
        content.extend([name, b": ", value, b"\r\n"])
    if not cycle.keep_alive and not close:
        content.append(b"connection: close\r\n")
    if cycle.chunked_encoding is None and status not in (204, 304):
        cycle.chunked_encoding = True
        content.append(b"transfer-encoding: chunked\r\n")
    content.append(b"\r\n")
    _body(cycle, content, body)
    return True


def _body(cycle: RequestResponseCycle, content: list[Any], body: Any) -> None:
    """The body message's half of ``send`` (``more_body`` false), written with the head."""
    transport = cycle.transport
    if cycle.chunked_encoding:
        content.extend([b"%x\r\n" % len(body), body, b"\r\n"] if body else [])
        content.append(b"0\r\n\r\n")
    elif len(body) > cycle.expected_content_length:
        transport.write(b"".join(content))  # send wrote the head before it found this
        raise RuntimeError("Response content longer than Content-Length")
    else:
        cycle.expected_content_length -= len(body)
        content.append(body)
    transport.write_now(content)
    if cycle.expected_content_length != 0:
        raise RuntimeError("Response content shorter than Content-Length")
    cycle.response_complete = True
    cycle.message_event.set()
    if not cycle.keep_alive:
        transport.close()
    cycle.on_response()


class MockHttpProtocol(CorkedHttpToolsProtocol):
    """uvicorn's httptools protocol for the mock: lean routes served without Starlette's layers,
    one keep-alive timer per connection (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._mock, self._proxied = _mock_app(self.app)
        self._idle_from: float | None = None

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        if app is self.app and self._mock is not None:
            app = self._lean_app(cycle) or app
        super()._start_asgi_task(cycle, app)

    def _lean_app(self, cycle: RequestResponseCycle) -> Any:
        scope = cycle.scope
        if scope["root_path"]:
            return None
        if self._proxied:
            if any(name in PROXY_HEADERS for name, _ in scope["headers"]):
                return None
            app: Any = self.app.app
        else:
            app = self.app
        found = app.lean_route(scope["method"], scope["path"])
        if found is None:
            return None
        return functools.partial(_serve_lean, cycle, app, *found)

    # one keep-alive timer per connection, re-armed from the last answer's time when it fires
    def _unset_keepalive_if_required(self) -> None:
        self._idle_from = None  # busy: the timer, when it fires, re-arms or stands down

    def on_response_complete(self) -> None:
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._unset_keepalive_if_required()
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self._idle_from = self.loop.time()
        if self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self._keep_alive_due
            )

    def _keep_alive_due(self) -> None:
        self.timeout_keep_alive_task = None
        if self._idle_from is None:
            return  # a request is being served: its answer re-arms
        left = self._idle_from + self.timeout_keep_alive - self.loop.time()
        if left > 0:
            self.timeout_keep_alive_task = self.loop.call_later(left, self._keep_alive_due)
        else:
            self.timeout_keep_alive_handler()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None
