"""The mock's HTTP protocol (mock/protocol.py) puts the same bytes on the wire as uvicorn's.

Two vendor mocks built alike, one served by ``MockHttpProtocol`` and one by uvicorn's httptools
protocol (with the one-write transport both share), get the same raw requests over real loopback
sockets; what comes back must be byte for byte the same once the clock's readings (``date``,
``created``) and the random file tokens are set aside. The requests are chosen where a shortcut
could differ: plain answers and errors, Starlette's own 404 and HEAD, streams, faults that rewrite
or cut an answer, ``Connection: close``, HTTP/1.0, pipelining, ``Expect: 100-continue``, and the
proxy headers that change the URLs an answer gives.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
from collections.abc import Iterator
from typing import Any

import h11
import pytest
from starlette.responses import JSONResponse, Response
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from pixelproof.mock import MockConfig, create_app
from pixelproof.mock.corked import Corked, CorkedHttpToolsProtocol
from pixelproof.mock.protocol import MockHttpProtocol, write_plain
from pixelproof.mock.server import start

GEN = {"model": "gpt-image-2", "prompt": "a lighthouse", "size": "1024x1024"}
URL_GEN = {"model": "dall-e-2", "prompt": "a lighthouse", "response_format": "url", "size": "256x256"}  # fmt: skip


def _post(body: Any, *headers: tuple[str, str], path: str = "/v1/images/generations") -> bytes:
    data = json.dumps(body).encode()
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
             f"Content-Length: {len(data)}", *(f"{k}: {v}" for k, v in headers)]  # fmt: skip
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


CLOSE = b"GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"

# name -> (raw bytes sent at once, responses to read: None = until the server closes)
CASES: dict[str, tuple[bytes, int | None]] = {
    "answer": (_post(GEN), 1),
    "error": (_post(GEN | {"size": "17x3"}), 1),
    "not json": (_post(GEN)[:-5] + b"xxxxx", 1),
    "url answer": (_post(URL_GEN), 1),
    "url answer behind a proxy": (_post(URL_GEN, ("X-Forwarded-Proto", "https")), 1),
    "forwarded for": (_post(GEN, ("X-Forwarded-For", "10.1.2.3")), 1),
    "starlette 404": (_post({}, path="/nowhere"), 1),
    "starlette 405": (b"GET /v1/images/generations HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 1),
    "head": (b"HEAD /v1/images/generations HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + CLOSE, None),
    "stream": (_post(GEN | {"stream": True, "partial_images": 1}), 1),
    "truncated-json fault": (_post(GEN, ("X-Pixelproof-Fault", "truncated-json")), 1),
    "wrong-content-type fault": (_post(GEN, ("X-Pixelproof-Fault", "wrong-content-type")), 1),
    "http-500 fault": (_post(GEN, ("X-Pixelproof-Fault", "http-500")), 1),
    "connection close": (_post(GEN, ("Connection", "close")), None),
    "http/1.0": (_post(GEN).replace(b"HTTP/1.1", b"HTTP/1.0", 1), None),
    "pipelined": (_post(GEN) + _post(GEN | {"size": "17x3"}) + _post(URL_GEN) + CLOSE, None),
    "drop": (_post(GEN | {"prompt": "a [pixelproof-upstream:drop]"}), None),
    "503": (_post(GEN | {"prompt": "a [pixelproof-upstream:503]"}), 1),
    "expect 100-continue": (_post(GEN, ("Expect", "100-continue")), 2),
}


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, str]]:
    """The same vendor mock, served by each protocol."""
    running = {}
    try:
        for name, protocol in (("mock", MockHttpProtocol), ("uvicorn", CorkedHttpToolsProtocol)):
            app = create_app(MockConfig(role="upstream"))
            running[name] = start(app, protocol=protocol)
        yield {name: r.url for name, r in running.items()}
    finally:
        for r in running.values():
            r.stop()


def _read(sock: socket.socket, responses: int | None) -> bytes:
    """Raw bytes of ``responses`` answers (h11 says where each ends), or all until close."""
    got = bytearray()
    parser = h11.Connection(h11.CLIENT)
    done = 0
    while responses is None or done < responses:
        data = sock.recv(65536)
        got += data
        if not data:
            break
        if responses is not None:
            parser.receive_data(data)
            done += _complete(parser)
    return bytes(got)


def _complete(parser: h11.Connection) -> int:
    """Answers h11 has seen end (an interim 100 Continue counts as one)."""
    done = 0
    while True:
        if parser.our_state is h11.IDLE:  # the parser only reads answers to requests it sent
            parser.send(h11.Request(method="POST", target="/", headers=[("Host", "x"), ("Content-Length", "0")]))  # fmt: skip
            parser.send(h11.EndOfMessage())
        event = parser.next_event()
        if event is h11.NEED_DATA or event is h11.PAUSED:
            return done
        if isinstance(event, h11.InformationalResponse | h11.EndOfMessage):
            done += 1
            if isinstance(event, h11.EndOfMessage):
                parser.start_next_cycle()


def _normal(raw: bytes) -> bytes:
    """Without what differs between any two servers: the clocks' readings, random tokens."""
    raw = re.sub(rb"date: [^\r]*\r\n", b"date: -\r\n", raw)
    raw = re.sub(rb'"created": ?\d+', b'"created":0', raw)
    return re.sub(rb"/__pixelproof/files/[A-Za-z0-9_-]+\.", b"/__pixelproof/files/-.", raw)


def _exchange(url: str, raw: bytes, responses: int | None) -> bytes:
    host, port = url.rsplit("/", 1)[1].split(":")
    with contextlib.closing(socket.create_connection((host, int(port)), timeout=5)) as sock:
        if b"100-continue" in raw:
            head, body = raw.split(b"\r\n\r\n", 1)
            sock.sendall(head + b"\r\n\r\n")
            got = _read(sock, 1)  # the interim answer, sent when the app reads the body
            sock.sendall(body)
            return got + _read(sock, 1)
        sock.sendall(raw)
        return _read(sock, responses)


@pytest.mark.parametrize("case", list(CASES))
def test_the_mock_protocol_sends_uvicorns_bytes(servers: dict[str, str], case: str) -> None:
    raw, responses = CASES[case]
    answers = {name: _normal(_exchange(url, raw, responses)) for name, url in servers.items()}
    assert answers["mock"] == answers["uvicorn"]
    assert answers["mock"].startswith(b"HTTP/1.1 ")


class _Wire:
    def __init__(self) -> None:
        self.data, self.closed = bytearray(), False

    def write(self, data: bytes) -> None:
        self.data += data

    def writelines(self, parts: list[bytes]) -> None:
        self.data += b"".join(parts)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


def _odd(status: int = 200, body: bytes = b"{}", **headers: str) -> Response:
    response = Response(body, status)
    response.raw_headers = [(k.encode(), v.encode()) for k, v in headers.items()]
    return response


# answers the mock never gives but a plain Response can: each branch of uvicorn's send
PLAIN = {
    "json": JSONResponse({"a": 1}),
    "no content": Response(status_code=204),
    "not modified": Response(b"", 304),
    "connection close": _odd(**{"content-length": "2", "Connection": "Keep-Alive, Close"}),
    "no length: chunked": _odd(**{"content-type": "text/plain"}),
    "empty chunked": _odd(body=b"", **{"transfer-encoding": "chunked"}),
    "longer than declared": _odd(**{"content-length": "1"}),
    "shorter than declared": _odd(**{"content-length": "3"}),
    "bad header name": _odd(**{"content-length": "2", "bad name": "x"}),
    "bad header value": _odd(**{"content-length": "2", "x-a": "1\n2"}),
}


def _sent(response: Response, keep_alive: bool, plain: bool) -> tuple[Any, ...]:
    """What one response puts on a wire, through uvicorn's send or through ``write_plain``."""
    loop = asyncio.new_event_loop()
    try:
        wire = _Wire()
        transport = Corked(wire, loop)
        done: list[bool] = []
        scope: Any = {"type": "http", "method": "POST", "http_version": "1.1", "path": "/", "query_string": b"",
                      "client": ("127.0.0.1", 1), "headers": []}  # fmt: skip
        cycle = RequestResponseCycle(
            scope, transport, FlowControl(transport), None, None, False,  # type: ignore[arg-type]
            [(b"server", b"uvicorn")], asyncio.Event(), False, keep_alive, lambda: done.append(True),
        )  # fmt: skip
        try:
            if plain:
                assert write_plain(cycle, response)
            else:
                loop.run_until_complete(response(scope, cycle.receive, cycle.send))
            error = None
        except RuntimeError as exc:
            error = str(exc)
        loop.run_until_complete(asyncio.sleep(0))  # anything held leaves
        state = (cycle.response_started, cycle.response_complete, cycle.keep_alive)
        return bytes(wire.data), wire.closed, error, state, done
    finally:
        loop.close()


@pytest.mark.parametrize("keep_alive", [True, False])
@pytest.mark.parametrize("name", list(PLAIN))
def test_a_plain_answer_is_written_as_uvicorns_send_writes_it(name: str, keep_alive: bool) -> None:
    response = PLAIN[name]
    assert _sent(response, keep_alive, plain=True) == _sent(response, keep_alive, plain=False)


def test_remembered_header_checks_still_refuse_a_bad_header() -> None:
    """``write_plain`` remembers header pairs that passed uvicorn's checks: each answer again,
    after every other has been written (the memory warm), is still written as uvicorn writes it,
    and the memory stays bounded."""
    from pixelproof.mock import protocol

    for name in [*PLAIN, *PLAIN]:
        assert _sent(PLAIN[name], True, plain=True) == _sent(PLAIN[name], True, plain=False), name
    assert (b"bad name", b"x") not in protocol._VALID
    assert (b"x-a", b"1\n2") not in protocol._VALID
    for i in range(protocol.VALID_KEPT + 5):
        _sent(_odd(**{"content-length": "2", "x-n": str(i)}), True, plain=True)
    assert len(protocol._VALID) <= protocol.VALID_KEPT


class _Clock:
    """An event loop's timer side, on a clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[list[Any]] = []  # [when, callback, cancelled]

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Any) -> Any:
        timer = [self.now + delay, callback, False]
        self.timers.append(timer)
        return type("Handle", (), {"cancel": lambda _: timer.__setitem__(2, True)})()

    def call_soon(self, callback: Any, *args: Any) -> None:
        callback(*args)

    def run_until(self, when: float) -> None:
        while due := sorted((t for t in self.timers if not t[2] and t[0] <= when), key=lambda t: t[0]):  # fmt: skip
            self.timers.remove(due[0])
            self.now = due[0][0]
            due[0][1]()
        self.now = when


def _closed_at(protocol_class: type[Any], events: list[tuple[float, str]]) -> float | None:
    """When a connection is closed for idling, given when requests come and answers leave."""
    import uvicorn
    from uvicorn.server import ServerState

    clock = _Clock()
    config = uvicorn.Config(create_app(MockConfig()), timeout_keep_alive=30, http=protocol_class)
    protocol = protocol_class(config, ServerState(), {}, _loop=clock)
    wire = _Wire()
    wire.get_extra_info = lambda name, default=None: None  # type: ignore[attr-defined]
    closed: list[float] = []
    wire.close = lambda: closed.append(clock.now)  # type: ignore[method-assign]
    protocol.connection_made(wire)
    for when, what in [*events, (1000.0, "end")]:
        clock.run_until(when)
        if closed:
            return closed[0]
        if what == "request":
            protocol._unset_keepalive_if_required()  # what data_received does first
        elif what == "answer":
            protocol.on_response_complete()
    return None


KEEP_ALIVE = {
    "idle after one answer": [(0, "answer")],
    "a request before the timeout": [(0, "answer"), (10, "request"), (12, "answer")],
    "busy when it fires": [(0, "answer"), (5, "request"), (50, "answer")],
    "answers back to back": [(t, w) for i in range(40) for t, w in ((i, "request"), (i + 0.5, "answer"))],
    "a request, no answer yet": [(0, "answer"), (29, "request")],
}  # fmt: skip


@pytest.mark.parametrize("case", list(KEEP_ALIVE))
def test_an_idle_connection_closes_when_uvicorns_would(case: str) -> None:
    mine = _closed_at(MockHttpProtocol, KEEP_ALIVE[case])
    assert mine == _closed_at(CorkedHttpToolsProtocol, KEEP_ALIVE[case])
