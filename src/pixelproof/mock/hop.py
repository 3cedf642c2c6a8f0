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
import select
import zlib
from collections.abc import Callable
from typing import Any

import httpx

LOOPBACK = ("127.0.0.1", "localhost", "::1")
ACCEPT_ENCODING = "gzip, deflate"  # httpx's, without brotli or zstandard installed
Connection = tuple[asyncio.AbstractEventLoop, asyncio.StreamReader, asyncio.StreamWriter]


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
                head = await _read_head(reader)
                status, headers = _parse_head(head)
                body = await self._body(reader, status, headers, deadline)
        except TimeoutError:
            raise httpx.ReadTimeout("read timed out") from None
        except OSError as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__) from None
        keep = (head.startswith(b"HTTP/1.1") and headers.get("connection", "").lower() != "close"
                and ("content-length" in headers or "transfer-encoding" in headers))  # fmt: skip
        return Answer(status, headers.get("content-type", ""), _decoded(body, headers, self.cap, self.over_cap)), keep  # fmt: skip

    async def _body(self, reader: asyncio.StreamReader, status: int, headers: dict[str, str], deadline: asyncio.Timeout) -> bytes:  # fmt: skip
        declared = headers.get("content-length", "")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return await self._chunked(reader, deadline)
        if status in (204, 304):
            return b""
        if not declared:  # no framing: the body runs to the end of the connection
            return await self._to_eof(reader, deadline)
        if not declared.isdigit():
            raise httpx.RemoteProtocolError(f"malformed Content-Length {declared[:40]!r}")
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
            line = await _line(reader)
            try:
                size = int(line.split(b";", 1)[0].strip() or b"x", 16)
            except ValueError:
                raise httpx.RemoteProtocolError("malformed chunk size") from None
            if size == 0:
                while await _line(reader):  # trailers, then the blank line
                    pass
                return bytes(data)
            if len(data) + size > self.cap:
                raise self.over_cap()
            data += await _exactly(reader, size)
            await _exactly(reader, 2)


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


async def _read_head(reader: asyncio.StreamReader) -> bytes:
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.") from None  # fmt: skip
        except asyncio.LimitOverrunError:
            raise httpx.RemoteProtocolError("answer head too long") from None
        if not head.startswith(b"HTTP/1.1 1"):  # an interim 1xx answer: the real one follows
            return head


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise httpx.RemoteProtocolError(f"malformed status line {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:  # a repeated name keeps its first value, as httpx's Headers.get reads it
            headers.setdefault(name.strip().lower(), value.strip())
    return int(parts[1]), headers


def _decoded(body: bytes, headers: dict[str, str], cap: int, over_cap: Callable[[], Exception]) -> bytes:  # fmt: skip
    """The body as httpx hands it over: gzip and deflate undone (what it asked for), the cap on
    the decoded bytes; an encoding it does not know stays as it came."""
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding not in ("gzip", "deflate") or not body:
        return body
    wbits = zlib.MAX_WBITS | 16 if encoding == "gzip" else zlib.MAX_WBITS
    try:
        decoder = zlib.decompressobj(wbits)
        data = decoder.decompress(body, cap + 1)
    except zlib.error:
        if encoding != "deflate":
            raise httpx.DecodingError("invalid gzip body") from None
        try:  # raw deflate, as httpx also accepts
            decoder = zlib.decompressobj(-zlib.MAX_WBITS)
            data = decoder.decompress(body, cap + 1)
        except zlib.error:
            raise httpx.DecodingError("invalid deflate body") from None
    if len(data) > cap:
        raise over_cap()
    return data
