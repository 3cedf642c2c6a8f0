"""The client's cookie jar is fed only by answers that set a cookie, and still keeps what they
set: a cookie a target sets comes back on the next request to it, as httpx's own jar does."""

from __future__ import annotations

import socket

import hostile
from pixelproof.client import Client


def _cookie_then_echo(sock: socket.socket) -> None:
    """Sets a cookie when the request has none; otherwise answers with its Cookie header."""
    request = hostile.read_request(sock).decode("latin-1")
    cookie = [line for line in request.split("\r\n") if line.lower().startswith("cookie:")]
    if cookie:
        sock.sendall(hostile.answer(200, cookie[0].encode(), "text/plain"))
    else:
        sock.sendall(hostile.answer(200, b"none", "text/plain", "Set-Cookie: affinity=node-7\r\n"))


def test_a_cookie_the_target_sets_comes_back_and_an_answer_without_one_keeps_it() -> None:
    with hostile.serve(_cookie_then_echo) as url:
        client = Client(url, None, 10.0)
        try:
            first = client.send("GET", "/")
            second = client.send("GET", "/")
            third = client.send("GET", "/")  # the answer to the second set nothing: still kept
        finally:
            client.close()
    assert first.body == b"none"
    assert second.body.lower() == b"cookie: affinity=node-7"
    assert third.body.lower() == b"cookie: affinity=node-7"
