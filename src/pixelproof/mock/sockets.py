"""Listening sockets for the mock's servers, apart from the servers themselves.

`pixelproof run` binds the embedded stack's two sockets in its own process (stack_process.py) and
hands them to the child; importing them from ``server`` loaded uvicorn, Starlette and the whole
mock app into the controller, which never serves (~0.1-0.2 CPU-s of every run's start)."""

from __future__ import annotations

import socket


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening socket (port 0: any free port), so the URL is known before serving starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only when the
    # listening socket says TCP; with proto 0, Nagle + delayed ACK add ~40 ms to every answer.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
