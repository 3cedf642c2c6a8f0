"""The gateway's loopback hop (mock/hop.py) says and hears what httpx said and heard.

A scripted upstream on a raw socket answers each connection with fixed bytes; the same call goes
once through the hop and once through httpx (the hop switched off), and the two must agree: the
request bytes the upstream received, and what the gateway made of the answer (a JSON value, or
its error's status and words). The scripts are the answers where a hand-written HTTP client goes
wrong: chunked and unframed bodies, gzip, interim answers, a body cut short, a connection closed
before answering, answers over the cap, and connections the upstream closed while idle.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import select
import socket
import threading
from typing import Any

import pytest

from pixelproof.mock import faults
from pixelproof.mock import upstream as upstream_module
from pixelproof.mock.errors import ApiError
from pixelproof.mock.http import RUN_TRACE
from pixelproof.mock.upstream import Upstream

OK = b'{"data": [{"b64_json": "QUJD"}], "note": "\xc3\xa9"}'


def _framed(body: bytes, *extra: bytes) -> bytes:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n" + b"".join(extra)
    return head + b"content-length: %d\r\n\r\n" % len(body) + body


def _chunked(body: bytes) -> bytes:
    pieces = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in (body[:7], body[7:]))
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n" + pieces + b"0\r\nx-trailer: 1\r\n\r\n"  # fmt: skip


_JSON_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
_CHUNKED_HEAD = _JSON_HEAD + b"transfer-encoding: chunked\r\n\r\n"
GZ = gzip.compress(OK)

# name: (bytes sent after each request, then close?). A framed answer is never followed by a close
# without "connection: close": that races the next call, for httpx as for the hop.
ANSWERS: dict[str, tuple[bytes, bool]] = {
    "framed": (_framed(OK), False),
    "chunked": (_chunked(OK), False),
    "unframed, to the end of the connection": (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n" + OK,
        True,
    ),
    "gzip": (_framed(gzip.compress(OK), b"content-encoding: gzip\r\n"), False),
    "interim 100 first": (b"HTTP/1.1 100 Continue\r\n\r\n" + _framed(OK), False),
    "503 page": (
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/html\r\ncontent-length: 9\r\n\r\n<h1>x</h1",
        False,
    ),
    "400 json error": (
        b'HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 30\r\n\r\n{"error": {"message": "nope"}}',
        False,
    ),
    "body cut short": (
        b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 4096\r\n\r\n{"data": [',
        True,
    ),
    "closed before answering": (b"", True),
    "garbage status line": (b"SPDY/9 what\r\n\r\n", True),
    "over the cap, declared": (b"HTTP/1.1 200 OK\r\ncontent-length: 999999\r\n\r\n", True),
    "over the cap, chunked": (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
        + b"%x\r\n%s\r\n" % (600, b" " * 600) * 3,
        True,
    ),
    "not json": (_framed(b"<html>hello</html>"), False),
    "connection: close": (_framed(OK, b"connection: close\r\n"), True),
    # malformed or odd answers (the reviewer's parity script): httpx refuses or accepts each
    "extra bytes after the body": (_framed(OK) + b"JUNK", False),
    "negative chunk size": (_CHUNKED_HEAD + b"-5\r\nabc\r\n0\r\n\r\n", True),
    "chunk size with 0x": (_CHUNKED_HEAD + b"0x2\r\n{}\r\n0\r\n\r\n", True),
    "chunk size with extension and spaces": (_CHUNKED_HEAD + b"2 ; a=b\r\n{}\r\n0\r\n\r\n", False),
    "chunk data not followed by CRLF": (_CHUNKED_HEAD + b"2\r\n{}XX0\r\n\r\n", True),
    "content-length a superscript digit": (_JSON_HEAD + b"content-length: \xb2\r\n\r\n{}", True),
    "two different content-lengths": (
        _JSON_HEAD + b"content-length: 2\r\ncontent-length: 3\r\n\r\n{}x",
        True,
    ),
    "content-length repeated, same": (
        _JSON_HEAD + b"content-length: 2\r\ncontent-length: 2, 2\r\n\r\n{}",
        False,
    ),
    "content-length with a sign": (_JSON_HEAD + b"content-length: +2\r\n\r\n{}", True),
    "http/1.0 answer": (
        b"HTTP/1.0 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
        True,
    ),
    "101 switching protocols": (
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\n\r\n" + _framed(OK),
        True,
    ),
    "103 early hints first": (
        b"HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n" + _framed(OK),
        False,
    ),
    "transfer-encoding gzip, chunked": (
        b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ntransfer-encoding: gzip, chunked\r\n\r\n"
        + b"%x\r\n%s\r\n0\r\n\r\n" % (len(GZ), GZ),
        True,
    ),
    "gzip body, chunked": (
        b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ntransfer-encoding: chunked\r\n\r\n"
        + b"%x\r\n%s\r\n0\r\n\r\n" % (len(GZ), GZ),
        False,
    ),
    "content-encoding gzip, gzip": (
        _framed(gzip.compress(GZ), b"content-encoding: gzip, gzip\r\n"),
        False,
    ),
    "content-encoding twice, and an unknown one": (
        _framed(gzip.compress(GZ), b"content-encoding: gzip\r\ncontent-encoding: br2, gzip\r\n"),
        False,
    ),
    "gzip, gzip over the cap once decoded": (
        _framed(gzip.compress(gzip.compress(b" " * 5000)), b"content-encoding: gzip, gzip\r\n"),
        False,
    ),
    "no reason phrase": (
        b"HTTP/1.1 200\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
        False,
    ),
    "bare LF head": (
        b"HTTP/1.1 200 OK\ncontent-type: application/json\ncontent-length: 2\n\n{}",
        False,
    ),
    "204 with a body": (b"HTTP/1.1 204 No Content\r\ncontent-length: 2\r\n\r\n{}", False),
    "status 999": (
        _JSON_HEAD.replace(b"200 OK", b"999 What") + b"content-length: 2\r\n\r\n{}",
        False,
    ),
    "status of two digits": (
        _JSON_HEAD.replace(b"200", b"20") + b"content-length: 2\r\n\r\n{}",
        True,
    ),
    "latin-1 header value": (_framed(OK, b"x-h: \xe9\r\n"), False),
    "content-type twice": (_framed(OK, b"content-type: text/plain\r\n"), False),
    "space before the colon": (
        b"HTTP/1.1 200 OK\r\ncontent-type : application/json\r\ncontent-length: 2\r\n\r\n{}",
        True,
    ),
    "obs-fold continuation line": (
        _JSON_HEAD + b"x-a: 1\r\n  2\r\ncontent-length: 2\r\n\r\n{}",
        False,
    ),
    "control character in a value": (
        _JSON_HEAD + b"x-a: 1\x01\r\ncontent-length: 2\r\n\r\n{}",
        False,
    ),
    "huge head": (
        b"HTTP/1.1 200 OK\r\nx-a: " + b"a" * (2 << 20) + b"\r\ncontent-length: 2\r\n\r\n{}",
        True,
    ),
}


class Scripted:
    """A loopback server answering every request on every connection with ``answer``."""

    def __init__(self, answer: bytes, close: bool) -> None:
        self.answer, self.close = answer, close
        self.requests: list[bytes] = []
        self.connections = 0
        self.closed = threading.Semaphore(0)  # released each time this server closes a connection
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        try:
            self._answer_all(conn)
        finally:
            conn.close()
            self.closed.release()

    def _answer_all(self, conn: socket.socket) -> None:
        data = b""
        while True:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, data = data.partition(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            while len(data) < length:
                data += conn.recv(65536)
            self.requests.append(head + b"\r\n\r\n" + data[:length])
            data = data[length:]
            try:
                conn.sendall(self.answer)
            except OSError:  # the client gave up on a huge answer
                return
            if self.close:
                return

    def stop(self) -> None:
        self.sock.close()

    def __enter__(self) -> Scripted:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _outcome(url: str, hop: bool, calls: int = 1) -> list[Any]:
    """What ``Upstream.post`` made of each of ``calls`` calls (the value, or the error)."""

    async def run() -> list[Any]:
        up = Upstream(url + "/base", "key-123456")
        assert up.hop is not None
        if not hop:
            up.hop = None  # httpx, as before the hop
        out: list[Any] = []
        token = RUN_TRACE.set("run-1:nonce")
        # this fault forwards a fault header and overrides the client's own Authorization
        names = faults.set_request_faults(frozenset({"auth-forwarded", "slow"}))
        try:
            for _ in range(calls):
                try:
                    out.append(await up.post("/v1beta/models/a b:generate", json={"p": "é", "n": 2},
                                             params={"Action": "Go", "Version": "2022-08-31"}))  # fmt: skip
                except ApiError as err:
                    out.append((err.status, err.message))
        finally:
            faults.reset_request_faults(names)
            RUN_TRACE.reset(token)
        return out

    return asyncio.run(run())


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_the_hop_hears_what_httpx_heard(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream_module, "MAX_ANSWER_BYTES", 1000)  # the cap cases stay small
    answer, close = ANSWERS[name]
    outcomes, requests = [], []
    with Scripted(answer, close) as server:
        for hop in (True, False):
            outcomes.append(_outcome(server.url, hop, calls=2))
            requests.append(server.requests)
            server.requests = []
    assert outcomes[0] == outcomes[1]
    assert requests[0] == requests[1]  # byte for byte: head, header order, JSON
    assert requests[0], "the upstream heard nothing: the comparison would be empty"


def test_connections_are_kept_and_an_idle_one_the_upstream_closed_is_replaced() -> None:
    with Scripted(_framed(OK), close=False) as server:
        assert _outcome(server.url, hop=True, calls=3) == [json.loads(OK)] * 3
        assert server.connections == 1  # one keep-alive connection carried all three
    with Scripted(_framed(OK, b"connection: close\r\n"), close=True) as closing:
        assert _outcome(closing.url, hop=True, calls=3) == [json.loads(OK)] * 3
        assert closing.connections == 3


def test_a_connection_the_upstream_closed_while_idle_is_not_reused() -> None:
    """uvicorn closes an idle keep-alive connection without a word; the next call must not be
    written into it (httpx polls the socket first; the hop sees its reader at end of file)."""
    server = Scripted(_framed(OK), close=True)

    async def run() -> list[Any]:
        up = Upstream(server.url, None)
        out = []
        for _ in range(3):
            out.append(await up.post("/v1/images/generations", json={"p": 1}))
            await asyncio.to_thread(server.closed.acquire)  # the server has closed it by now
            await asyncio.sleep(0)  # and the loop has read the end of file it sent
        return out

    with server:
        assert asyncio.run(run()) == [json.loads(OK)] * 3
        assert server.connections == 3


def test_an_unreachable_upstream_is_a_502_naming_httpxs_error() -> None:
    sock = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()
    assert (
        _outcome(url, hop=True)
        == _outcome(url, hop=False)
        == [(502, "upstream unreachable: ConnectError")]
    )


def test_only_plain_http_loopback_without_a_transport_takes_the_hop() -> None:
    import httpx

    assert Upstream("http://127.0.0.1:9", None).hop is not None
    assert Upstream("http://localhost:9/v", None).hop is not None
    assert Upstream("https://127.0.0.1:9", None).hop is None
    assert Upstream("http://example.com", None).hop is None  # may go through a proxy
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    assert Upstream("http://127.0.0.1:9", None, transport=transport).hop is None


def test_a_connection_closed_after_a_framed_answer_is_not_reused_before_the_loop_saw_it() -> None:
    """The upstream answers with framing but no ``connection: close``, then closes. The next call
    comes back to back, before the loop has read the end of file: the hop must poll the socket
    (readable while idle = closed or unexpected bytes) rather than trust ``reader.at_eof()``."""
    server = Scripted(_framed(OK), close=True)

    async def run() -> list[Any]:
        up = Upstream(server.url, None)
        assert up.hop is not None
        out = [await up.post("/v1/images/generations", json={"p": 1})]
        server.closed.acquire(timeout=10)  # blocks the loop: it cannot read the end of file
        sock = up.hop._idle[0][2].get_extra_info("socket")
        assert select.select([sock], [], [], 10)[0], "the close never reached the socket"
        assert not up.hop._idle[0][1].at_eof()  # the race: only the kernel knows it is closed
        out.append(await up.post("/v1/images/generations", json={"p": 2}))
        return out

    with server:
        assert asyncio.run(run()) == [json.loads(OK)] * 2
        assert server.connections == 2


@pytest.mark.parametrize("slip", [ValueError, IndexError, UnicodeDecodeError])
def test_a_parser_slip_is_a_protocol_error_not_a_crash(slip: type[Exception], monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """Whatever the grammar misses, a ValueError/IndexError/UnicodeError while reading an answer
    must reach the gateway as httpx's RemoteProtocolError (a 502), never as a 500 of the mock."""
    from pixelproof.mock import hop

    def broken(lines: list[bytes]) -> dict[str, str]:
        if slip is UnicodeDecodeError:
            raise UnicodeDecodeError("ascii", b"\xff", 0, 1, "injected")
        raise slip("injected")

    monkeypatch.setattr(hop, "_headers", broken)
    with Scripted(_framed(OK), close=False) as server:
        assert _outcome(server.url, hop=True) == [
            (502, "upstream unreachable: RemoteProtocolError")
        ]
