"""A light HTTP/1.1 load client on raw asyncio sockets, for bench_mock.py's server comparisons.

An httpx client saturates its own CPU before a fast server does (the issue measured it), so this
one does as little as it can: each of ``concurrency`` keep-alive connections sends a request,
reads the status line and headers, reads exactly Content-Length bytes, and sends again, for
``seconds`` after ``warmup`` seconds. It only speaks to loopback addresses.

The requests are distinct, as a pixelproof run's are (each of its prompts carries its own nonce):
a body holding ``NONCE`` gets a fresh fixed-width counter in its place on every send (``Distinct``:
the pre-encoded request's two halves around a formatted number, so every body has the same size
and the client stays cheap). A server that kept answers of identical requests would otherwise be
measured on a stream no run sends.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

LOOPBACK = ("127.0.0.1", "localhost", "::1")
NONCE = "##########"  # in a body: replaced by a counter of the same width on every send
_COUNTER = itertools.count(1)  # shared by every connection and load of the process: no repeats
Requests = Callable[[], bytes]  # the next request's bytes (``Distinct``, or a constant's)


class Distinct:
    """The request with a new number in place of ``NONCE`` each call: the pre-encoded bytes'
    two halves around it, so a call is one format and two joins (~0.3 us)."""

    def __init__(self, request: bytes) -> None:
        marker = NONCE.encode()
        at = request.find(marker)
        if at < 0:
            raise ValueError(f"the request holds no {NONCE!r} to number")
        self.head, self.tail = request[:at], request[at + len(marker) :]
        self.form = b"%0" + str(len(marker)).encode() + b"d"

    def __call__(self) -> bytes:
        return self.head + self.form % next(_COUNTER) + self.tail


def numbered(body: dict[str, Any], n: int) -> dict[str, Any]:
    """``body`` as ``Distinct`` sends it with counter ``n`` (for a one-off request)."""
    return json.loads(json.dumps(body).replace(NONCE, f"{n:0{len(NONCE)}d}"))


@dataclass
class Load:
    concurrency: int
    requests: int
    seconds: float
    response_bytes: int
    p50_ms: float
    p95_ms: float
    total: int = 0  # requests including the warm-up ones (for CPU per request)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"concurrency": self.concurrency, "requests": self.requests, "rps": round(self.rps, 1),
                "response_bytes": self.response_bytes, "p50_ms": self.p50_ms, "p95_ms": self.p95_ms}  # fmt: skip


def encode_post(url: str, path: str, body: dict[str, Any]) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 80
    if host not in LOOPBACK:
        raise ValueError(f"rawload only speaks to loopback, not {host!r}")
    payload = json.dumps(body).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: keep-alive\r\n\r\n")  # fmt: skip
    return host, port, head.encode() + payload


async def _one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length)
    if status != 200:
        raise RuntimeError(f"server answered {status}: {body[:200]!r}")
    return length


async def _connection(host: str, port: int, requests: Requests, until: list[float], out: dict[str, Any]) -> None:  # fmt: skip
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 24)
    try:
        while time.perf_counter() < until[0]:
            started = time.perf_counter()
            out["bytes"] = await _one(reader, writer, requests())
            out["total"] += 1
            if started >= until[1]:  # past the warm-up: counts
                out["latencies"].append(time.perf_counter() - started)
    finally:
        writer.close()


class _Client(asyncio.Protocol):
    """One keep-alive connection as a protocol: the answer is counted off the bytes as they
    arrive (head up to the blank line, then Content-Length bytes), with no stream reader, no
    future per read and no copy of the body: per request about half the client CPU of the
    ``asyncio.open_connection`` loop (``RAWLOAD_CLIENT=streams``, kept for comparison), which
    matters because the client shares the 2 cores with the server it measures."""

    def __init__(self, requests: Requests, until: list[float], out: dict[str, Any], done: asyncio.Future[None]) -> None:  # fmt: skip
        self.requests, self.until, self.out, self.done = requests, until, out, done
        self.buf = bytearray()
        self.need = -1  # bytes of the whole answer, once its head is in
        self.started = 0.0
        self.finished = False  # closed by us, the time being up

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self._send()

    def _send(self) -> None:
        self.started = time.perf_counter()
        self.transport.write(self.requests())

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if self.need < 0:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            self.need = end + 4 + self._head(bytes(buf[:end]))
        if len(buf) < self.need:
            return
        if len(buf) > self.need:
            self._fail(RuntimeError(f"{len(buf) - self.need} bytes past the answer"))
            return
        self.out["bytes"] = self.need - buf.find(b"\r\n\r\n") - 4
        del buf[:]
        self.need = -1
        now = time.perf_counter()
        self.out["total"] += 1
        if self.started >= self.until[1]:  # past the warm-up: counts
            self.out["latencies"].append(now - self.started)
        if now < self.until[0]:
            self._send()
        else:
            self.finished = True
            self.transport.close()

    def _head(self, head: bytes) -> int:
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if status != 200:
            self._fail(RuntimeError(f"server answered {status}"))
        return length

    def _fail(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(exc)
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.done.done():
            return
        if self.finished:
            self.done.set_result(None)
        else:
            self.done.set_exception(ConnectionError(f"the server closed the connection: {exc}"))


async def _protocol_connection(host: str, port: int, requests: Requests, until: list[float], out: dict[str, Any]) -> None:  # fmt: skip
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    await loop.create_connection(lambda: _Client(requests, until, out, done), host, port)
    await done


async def _load(host: str, port: int, requests: Requests, concurrency: int, warmup: float, seconds: float) -> Load:  # fmt: skip
    now = time.perf_counter()
    until = [now + warmup + seconds, now + warmup]
    outs: list[dict[str, Any]] = [
        {"latencies": [], "bytes": 0, "total": 0} for _ in range(concurrency)
    ]
    one = _connection if os.environ.get("RAWLOAD_CLIENT") == "streams" else _protocol_connection
    await asyncio.gather(*(one(host, port, requests, until, o) for o in outs))
    latencies = sorted(x for o in outs for x in o["latencies"])
    ms = [x * 1000 for x in latencies] or [0.0]
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return Load(concurrency, len(latencies), seconds, outs[0]["bytes"],
                round(statistics.median(ms), 3), round(p95, 3), sum(o["total"] for o in outs))  # fmt: skip


def run_load(url: str, path: str, body: dict[str, Any], concurrency: int, seconds: float = 3.0,
             warmup: float = 1.0) -> Load:  # fmt: skip
    """``body`` holding ``NONCE`` is sent numbered anew each time; one without it, as it is."""
    host, port, request = encode_post(url, path, body)
    requests = Distinct(request) if NONCE.encode() in request else lambda: request
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(_load(host, port, requests, concurrency, warmup, seconds))


def _loop_factory() -> Any:
    """uvloop when installed (pixelproof's dependencies bring it): the client's own CPU per
    request is about half of asyncio's, so it stays out of the way of the faster server."""
    if os.environ.get("RAWLOAD_ASYNCIO"):
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
