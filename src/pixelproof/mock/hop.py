"""The reference gateway's hop to a loopback upstream: JSON POSTs on plain keep-alive connections.

In the embedded stack every gateway request makes one such hop, and httpx spent ~0.9 ms of CPU on
each (py-spy, ``pixelproof run --fuzz off``: its request building, auth and redirect layers,
httpcore's pool and h11, anyio's socket stream, a readiness poll of the socket before each reuse),
about two thirds of the stack's CPU for a gateway request. This is one HTTP/1.1 exchange on
asyncio streams instead, used only where it speaks exactly as httpx did: a JSON POST to a
plain-HTTP loopback origin (loopback is never proxied, as ``deadline.py`` has it), with httpx's
request headers in httpx's order, its JSON bytes, per-operation timeouts, and failures raised as
the httpx exceptions the gateway maps onto its errors. Everything else stays with httpx.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json as jsonlib
import re
import select
import zlib
from collections.abc import Callable
from typing import Any

import httpx

LOOPBACK = ("127.0.0.1", "localhost", "::1")
ACCEPT_ENCODING = "gzip, deflate"  # httpx's, without brotli or zstandard installed
Connection = tuple[asyncio.AbstractEventLoop, asyncio.StreamReader, asyncio.StreamWriter]
# h11's grammar (h11/_abnf.py), so that the hop refuses and accepts the answers httpx did
STATUS_LINE = re.compile(rb"HTTP/1\.([0-9]) ([0-9]{3})(?: (?:[ \t]|[^\x00\s])*)?")
HEADER_LINE = re.compile(
    rb"([-!#$%&'*+.^_`|~0-9a-zA-Z]+):[ \t]*((?:[^\x00\s]+(?:[ \t]+[^\x00\s]+)*)?)[ \t]*"
)
CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]{1,20})(?:;.*)?[ \t]*")
MALFORMED = (ValueError, IndexError, UnicodeError)  # what a parser slip raises: a protocol error
HEAD_LIMIT = 1 << 20
WBITS = {"gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}


def usable(origin: httpx.URL, transport: object) -> bool:
    return transport is None and origin.scheme == "http" and origin.host in LOOPBACK


class Answer:
    __slots__ = ("content", "content_type", "status")

    def __init__(self, status: int, content_type: str, content: bytes) -> None:
        self.status, self.content_type, self.content = status, content_type, content


class Hop:
    """Keep-alive HTTP/1.1 JSON POSTs to one loopback origin (connections kept per event loop)."""

    def __init__(self, base: httpx.URL, headers: dict[str, str], timeout_s: float, cap: int,
                 over_cap: Callable[[], Exception]) -> None:  # fmt: skip
        self.host, self.port = base.host, base.port or 80
        self.prefix = base.raw_path.decode("ascii").rstrip("/")  # as httpx joins a base URL
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.defaults = [("Host", f"{host}:{self.port}" if base.port else host),
                         ("Accept", "*/*"), ("Accept-Encoding", ACCEPT_ENCODING),
                         ("Connection", "keep-alive"), ("User-Agent", f"python-httpx/{httpx.__version__}"),
                         *headers.items()]  # fmt: skip
        self.timeout_s, self.cap, self.over_cap = timeout_s, cap, over_cap
        self._idle: list[Connection] = []

    def _head(self, path: str, params: dict[str, str] | None, headers: dict[str, str], length: int) -> bytes:  # fmt: skip
        """The request head as httpx writes it: its defaults, then the call's headers (a name
        given again moves to the end with its new value), then the body's length and type."""
        lines = list(self.defaults)
        for name, value in headers.items():
            lines = [(n, v) for n, v in lines if n.lower() != name.lower()] + [(name, value)]
        lines += [("Content-Length", str(length)), ("Content-Type", "application/json")]
        target = self.prefix + _target(path, tuple((params or {}).items()))
        head = f"POST {target} HTTP/1.1\r\n" + "".join(f"{n}: {v}\r\n" for n, v in lines)
        return (head + "\r\n").encode("latin-1")

    async def post(self, path: str, json: Any, params: dict[str, str] | None, headers: dict[str, str]) -> Answer:  # fmt: skip
        body = jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()  # fmt: skip
        request = self._head(path, params, headers, len(body)) + body
        loop = asyncio.get_running_loop()
        reader, writer = await self._connection(loop)
        reusable = False
        try:
            writer.write(request)
            answer, reusable = await self._answer(reader)
            return answer
        finally:
            if reusable and not writer.transport.is_closing():
                self._idle.append((loop, reader, writer))
            else:
                writer.close()

    async def _connection(self, loop: asyncio.AbstractEventLoop) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:  # fmt: skip
        while self._idle:
            owner, reader, writer = self._idle.pop()
            if owner is loop and not _stale(reader, writer):
                return reader, writer
            with contextlib.suppress(RuntimeError):  # another loop's, maybe closed already
                (owner.call_soon_threadsafe if owner is not loop else loop.call_soon)(writer.close)
        try:
            async with asyncio.timeout(self.timeout_s):
                return await asyncio.open_connection(self.host, self.port, limit=1 << 20)
        except TimeoutError:
            raise httpx.ConnectTimeout("connect timed out") from None
        except OSError as exc:
            raise httpx.ConnectError(str(exc)) from None

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[Answer, bool]:
        """(the answer, whether the connection may carry another request)."""
        try:
            async with asyncio.timeout(self.timeout_s) as deadline:
                minor, status, headers = await _read_head(reader)
                body = await self._body(reader, status, headers, deadline)
        except TimeoutError:
            raise httpx.ReadTimeout("read timed out") from None
        except OSError as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__) from None
        except MALFORMED as exc:
            raise httpx.RemoteProtocolError(f"malformed answer: {exc}"[:200]) from None
        keep = (minor >= 1 and "close" not in _tokens(headers.get("connection", ""))
                and ("content-length" in headers or "transfer-encoding" in headers or status in (204, 304)))  # fmt: skip
        return Answer(status, headers.get("content-type", ""), _decoded(body, headers, self.cap, self.over_cap)), keep  # fmt: skip

    async def _body(self, reader: asyncio.StreamReader, status: int, headers: dict[str, str], deadline: asyncio.Timeout) -> bytes:  # fmt: skip
        if status in (204, 304):  # never a body, whatever the head says (h11 too)
            return b""
        if "transfer-encoding" in headers:
            if headers["transfer-encoding"].lower() != "chunked":  # h11 knows no other
                raise httpx.RemoteProtocolError("Only Transfer-Encoding: chunked is supported")
            return await self._chunked(reader, deadline)
        if "content-length" not in headers:  # unframed: the body runs to the end of the connection
            return await self._to_eof(reader, deadline)
        declared = _content_length(headers["content-length"])
        if int(declared) > self.cap:
            raise self.over_cap()
        data = bytearray()
        while len(data) < int(declared):
            deadline.reschedule(asyncio.get_running_loop().time() + self.timeout_s)
            chunk = await reader.read(min(int(declared) - len(data), 1 << 20))
            if not chunk:
                raise httpx.RemoteProtocolError(
                    f"peer closed connection without sending complete message body: "
                    f"received {len(data)} bytes, expected {declared}"
                )
            data += chunk
        return bytes(data)

    async def _to_eof(self, reader: asyncio.StreamReader, deadline: asyncio.Timeout) -> bytes:
        data = bytearray()
        while chunk := await reader.read(1 << 20):
            deadline.reschedule(asyncio.get_running_loop().time() + self.timeout_s)
            data += chunk
            if len(data) > self.cap:
                raise self.over_cap()
        return bytes(data)

    async def _chunked(self, reader: asyncio.StreamReader, deadline: asyncio.Timeout) -> bytes:
        data = bytearray()
        while True:
            deadline.reschedule(asyncio.get_running_loop().time() + self.timeout_s)
            match = CHUNK_LINE.fullmatch(await _line(reader))
            if match is None:
                raise httpx.RemoteProtocolError("malformed chunk size")
            size = int(match[1], 16)
            if size == 0:
                trailers = await _lines(reader, "peer closed connection in a chunked body")
                _headers(trailers)  # checked as h11 checks them, then dropped
                return bytes(data)
            if len(data) + size > self.cap:
                raise self.over_cap()
            data += await _exactly(reader, size)
            if await _exactly(reader, 2) != b"\r\n":
                raise httpx.RemoteProtocolError("chunk data not followed by CRLF")


def _stale(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """Whether an idle connection must not carry another request. ``at_eof`` is true only once
    the loop has read the upstream's end of file; one that closed right after answering is known
    only to the kernel yet. So poll the socket, as httpcore does: an idle socket that is readable
    was closed or holds bytes nobody asked for, and either way is dropped."""
    if reader.at_eof() or writer.transport.is_closing():
        return True
    sock = writer.get_extra_info("socket")
    return sock is None or bool(select.select((sock,), (), (), 0)[0])


@functools.lru_cache(maxsize=512)
def _target(path: str, params: tuple[tuple[str, str], ...]) -> str:
    """Path and query as httpx writes them (percent-encoded where it must be)."""
    return httpx.URL(path, params=dict(params) or None).raw_path.decode("ascii")


async def _line(reader: asyncio.StreamReader) -> bytes:
    try:
        return (await reader.readuntil(b"\r\n"))[:-2]
    except asyncio.IncompleteReadError:
        raise httpx.RemoteProtocolError("peer closed connection in a chunked body") from None
    except asyncio.LimitOverrunError:
        raise httpx.RemoteProtocolError("chunk line too long") from None


async def _exactly(reader: asyncio.StreamReader, n: int) -> bytes:
    try:
        return await reader.readexactly(n)
    except asyncio.IncompleteReadError:
        raise httpx.RemoteProtocolError("peer closed connection in a chunked body") from None


async def _lines(reader: asyncio.StreamReader, closed: str) -> list[bytes]:
    """Lines up to a blank one, each ended by CRLF or a bare LF (h11 takes both)."""
    lines: list[bytes] = []
    size = 0
    while True:
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError:
            raise httpx.RemoteProtocolError(closed) from None
        except asyncio.LimitOverrunError:
            raise httpx.RemoteProtocolError("answer head too long") from None
        size += len(line)
        if size > HEAD_LIMIT:
            raise httpx.RemoteProtocolError("answer head too long")
        line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
        if not line:
            return lines
        lines.append(line)


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, int, dict[str, str]]:
    """(HTTP/1.x minor version, status, headers) of the final answer; interim 1xx skipped."""
    while True:
        lines = await _lines(reader, "Server disconnected without sending a response.")
        status = STATUS_LINE.fullmatch(lines[0]) if lines else None
        if status is None:
            raise httpx.RemoteProtocolError(f"malformed status line {lines[:1]!r}"[:120])
        code = int(status[2])
        if code == 101:  # a protocol switch nobody asked for: h11 gives up there too
            raise httpx.RemoteProtocolError("unexpected 101 Switching Protocols")
        headers = _headers(lines[1:])
        if code >= 200:
            return int(status[1]), code, headers


def _headers(lines: list[bytes]) -> dict[str, str]:
    """Names lowered; a repeated name's values joined by ", " as httpx's ``Headers.get`` does;
    an obsolete folded line joined to the one before, as h11 does."""
    headers: dict[str, str] = {}
    logical: list[bytes] = []
    for line in lines:
        if line[:1] in (b" ", b"\t") and logical:
            logical[-1] += b" " + line.lstrip(b" \t")
        else:
            logical.append(line)
    for line in logical:
        field = HEADER_LINE.fullmatch(line)
        if field is None:  # a space before the colon, a bad name, a NUL or CR in the value
            raise httpx.RemoteProtocolError(f"malformed header line {line[:80]!r}")
        name, value = field[1].decode("ascii").lower(), field[2].decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def _tokens(value: str) -> list[str]:
    return [token.strip().lower() for token in value.split(",")]


def _content_length(value: str) -> str:
    """The one length all Content-Length values agree on, in plain ASCII digits (h11's rule)."""
    lengths = {length.strip() for length in value.split(",")}
    length = lengths.pop()
    if lengths or not re.fullmatch(r"[0-9]+", length):
        raise httpx.RemoteProtocolError(f"malformed or conflicting Content-Length {value[:40]!r}")
    return length


def _decoded(body: bytes, headers: dict[str, str], cap: int, over_cap: Callable[[], Exception]) -> bytes:  # fmt: skip
    """The body as httpx hands it over: each gzip or deflate it lists undone, last first (what
    httpx asked for; an encoding it does not know is passed over), the cap on the decoded bytes.
    A layer under the last may hold up to 2 x cap + 64 KiB: gzip and deflate grow data by under
    0.1% + a few bytes, so a larger one decodes to more than the cap anyway."""
    layers = [name for name in _tokens(headers.get("content-encoding", "")) if name in WBITS]
    for depth, name in enumerate(reversed(layers) if body else ()):
        limit = cap if depth == len(layers) - 1 else 2 * cap + 65536
        body = _undo(body, name, limit)
        if len(body) > limit:
            raise over_cap()
    return body


def _undo(body: bytes, encoding: str, limit: int) -> bytes:
    try:
        return zlib.decompressobj(WBITS[encoding]).decompress(body, limit + 1)
    except zlib.error:
        if encoding != "deflate":
            raise httpx.DecodingError("invalid gzip body") from None
    try:  # raw deflate, as httpx also accepts
        return zlib.decompressobj(-zlib.MAX_WBITS).decompress(body, limit + 1)
    except zlib.error:
        raise httpx.DecodingError("invalid deflate body") from None
