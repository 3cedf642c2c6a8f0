"""A request's small writes go out together: one send for a head and a small body, the head
first and then the body for a large one, the same bytes either way; a write error on held bytes
is left to the read (as httpcore leaves one while writing a request), and the exchange deadline
still bounds the held write."""

from __future__ import annotations

import socket
import time
from typing import Any

import httpcore
import pytest

import hostile
from pixelproof.client import Client
from pixelproof.deadline import HOLD_BYTES, _Stream, deadline_at


def _echo_length(sock: socket.socket) -> None:
    """Answers 200 with the body's length and its last bytes, read by Content-Length."""
    request = hostile.read_request(sock)
    body = request.partition(b"\r\n\r\n")[2]
    sock.sendall(hostile.answer(200, b"%d %s" % (len(body), body[-8:]), "text/plain"))


@pytest.mark.parametrize(("size", "sends"), [(100, 1), (HOLD_BYTES + 1, 2)])
def test_a_request_goes_out_in_one_send_unless_its_body_is_large(
    size: int, sends: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[int] = []
    write = httpcore._backends.sync.SyncStream.write

    def counted(self: Any, buffer: bytes, timeout: float | None = None) -> None:
        if buffer:
            written.append(len(buffer))
        write(self, buffer, timeout)

    monkeypatch.setattr(httpcore._backends.sync.SyncStream, "write", counted)
    body = b"x" * (size - 8) + b"the-end!"
    with hostile.serve(_echo_length) as url:
        client = Client(url, None, 10.0)
        try:
            exchange = client.send("POST", "/", content=body)
        finally:
            client.close()
    assert exchange.error is None, exchange.error
    assert exchange.body == b"%d the-end!" % size
    assert len(written) == sends, written
    assert written[-1] >= size  # the body itself is never split or copied in pieces


class _Inner(httpcore.NetworkStream):
    """A connection whose writes fail as a peer that closed would make them fail."""

    def __init__(self, error: Exception) -> None:
        self.error, self.timeouts = error, []

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.timeouts.append(timeout)
        raise self.error

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return b"HTTP/1.1 413 Too Large\r\n\r\n"

    def close(self) -> None:
        return None


def test_a_write_error_on_held_bytes_is_left_to_the_read() -> None:
    inner = _Inner(httpcore.WriteError("peer closed"))
    stream = _Stream(inner)
    stream.write(b"POST / HTTP/1.1\r\n\r\n", 5.0)
    assert inner.timeouts == []  # held, not sent yet
    with deadline_at(time.monotonic() + 60):
        assert stream.read(1024, 5.0).startswith(b"HTTP/1.1 413")
    assert len(inner.timeouts) == 1
    assert 0 < inner.timeouts[0] <= 5.0  # bounded by the write's own timeout and the deadline


def test_held_bytes_past_the_exchange_deadline_are_a_write_timeout() -> None:
    inner = _Inner(AssertionError("nothing may be sent after the deadline"))
    stream = _Stream(inner)
    stream.write(b"POST / HTTP/1.1\r\n\r\n", 5.0)
    with deadline_at(time.monotonic() - 1), pytest.raises(httpcore.WriteTimeout):
        stream.read(1024, 5.0)
    assert inner.timeouts == []
