"""Small real servers that misbehave on purpose (127.0.0.1 only), for the broken-target tests.

Each behaviour is a function of the accepted socket; ``serve`` runs it on a thread per connection.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import socket
import socketserver
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

Behaviour = Callable[[socket.socket], None]


def read_request(sock: socket.socket) -> bytes:
    """Read one request's head and (Content-Length) body; enough for these servers."""
    data = b""
    sock.settimeout(10)
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def answer(status: int, body: bytes, ctype: str = "application/json", extra: str = "") -> bytes:
    typed = f"Content-Type: {ctype}\r\n" if ctype else ""
    head = f"HTTP/1.1 {status} X\r\n{typed}Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
    return head.encode() + body


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextlib.contextmanager
def serve(behaviour: Behaviour) -> Iterator[str]:
    """A server on 127.0.0.1 running ``behaviour`` per connection; yields its base URL."""
    stop = threading.Event()

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            with contextlib.suppress(OSError):
                behaviour(self.request)

    server = _Server(("127.0.0.1", 0), Handler)
    server.stop = stop  # type: ignore[attr-defined]
    # a short poll: shutdown() waits for the loop to look (0.5 s by default, per server)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


def refused_url() -> str:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# ---------------------------------------------------------------- behaviours
def hang(sock: socket.socket) -> None:
    read_request(sock)
    time.sleep(30)


def drip(sock: socket.socket) -> None:
    """Headers at once, then one body byte every 50 ms, for ever."""
    read_request(sock)
    sock.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    )
    for _ in range(100000):
        sock.sendall(b" ")
        time.sleep(0.05)


def drip_headers(sock: socket.socket) -> None:
    """The status line and headers one byte at a time (the body never comes)."""
    read_request(sock)
    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100000:
        sock.sendall(bytes([byte]))
        time.sleep(0.05)


def reset(sock: socket.socket) -> None:
    read_request(sock)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def status(
    code: int, body: bytes = b'{"error": {"message": "boom"}}', ctype: str = "application/json"
) -> Behaviour:
    def run(sock: socket.socket) -> None:
        read_request(sock)
        sock.sendall(answer(code, body, ctype))

    return run


def huge_chunked(total: int) -> Behaviour:
    def run(sock: socket.socket) -> None:
        read_request(sock)
        sock.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        block = b" " * (1024 * 1024)
        sent = 0
        while sent < total:
            sock.sendall(f"{len(block):x}\r\n".encode() + block + b"\r\n")
            sent += len(block)
        sock.sendall(b"0\r\n\r\n")

    return run


def huge_length(total: int) -> Behaviour:
    def run(sock: socket.socket) -> None:
        read_request(sock)
        sock.sendall(
            f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {total}\r\n\r\n".encode()
        )
        block = b" " * (1024 * 1024)
        sent = 0
        while sent < total:
            sock.sendall(block)
            sent += len(block)

    return run


def truncated_json(sock: socket.socket) -> None:
    read_request(sock)
    body = b'{"created": 1, "data": [{"b64_json": "iVBORw0KGgo'
    sock.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\nConnection: close\r\n\r\n"
        + body
    )


def redirect_loop(sock: socket.socket) -> None:
    read_request(sock)
    sock.sendall(answer(302, b"", ctype="", extra="Location: /again\r\n"))


def plain_http(sock: socket.socket) -> None:
    """What a plain HTTP server says to a TLS ClientHello: 400, then close."""
    sock.recv(4096)
    sock.sendall(answer(400, b"Bad Request", "text/plain"))


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` (the pixel data is one tiny IDAT)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def b64_answer(data: bytes) -> bytes:
    import base64

    return json.dumps(
        {"created": 1, "data": [{"b64_json": base64.b64encode(data).decode()}]}
    ).encode()


def rss_mb() -> float:
    """Peak RSS of this process so far (MB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb(field: str = "VmRSS") -> float:
    with open(f"/proc/{os.getpid()}/status") as status_file:
        for line in status_file:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return 0.0


@contextlib.contextmanager
def rss_growth() -> Iterator[Callable[[], float]]:
    """How far this process's RSS rose above where the block started, at its peak (MB): the
    function yielded reads it. The test processes keep freed memory resident (conftest's
    pytest_configure), and memory reused from there would not show, so the free pages are handed
    back first (malloc_trim), then the peak is reset to the RSS (/proc/self/clear_refs, 5). A
    peak, not the RSS at the end: a buffer freed before the test looks is counted too."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: no trim threshold was set
        ctypes.CDLL(None).malloc_trim(0)
    with open(f"/proc/{os.getpid()}/clear_refs", "w") as clear:
        clear.write("5")
    base = current_rss_mb()
    yield lambda: current_rss_mb("VmHWM") - base


def png_bomb(width: int, height: int, text: bytes = b"") -> bytes:
    """A valid, fully decodable all-black RGB PNG of ``width`` x ``height``: tiny on the wire,
    width*height*3 bytes once decoded. ``text``: a tEXt chunk's, to make the bytes unique (what a
    process decoded is kept by the bytes' digest, images.decode: it would not be decoded again)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    packer = zlib.compressobj(9)
    row = b"\0" * (1 + 3 * width)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    notes = chunk(b"tEXt", b"Comment\0" + text) if text else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + notes
        + chunk(b"IDAT", idat)
        + chunk(b"IEND", b"")
    )


def self_signed(directory: str) -> tuple[str, str]:
    """A throwaway self-signed certificate for 127.0.0.1 (cert path, key path), made by openssl."""
    import subprocess

    cert, key = f"{directory}/cert.pem", f"{directory}/key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=127.0.0.1", "-keyout", key, "-out", cert],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def tls(cert: str, key: str, inner: Behaviour) -> Behaviour:
    """``inner`` behind TLS with the given certificate."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def run(sock: socket.socket) -> None:
        with context.wrap_socket(sock, server_side=True) as wrapped:
            inner(wrapped)

    return run


def by_method(get: Behaviour, post: Behaviour) -> Behaviour:
    """``get`` for GET requests (a preflight), ``post`` for the rest (the API calls)."""

    def run(sock: socket.socket) -> None:
        head = read_request(sock)
        chosen = get if head.startswith(b"GET ") else post
        chosen(_Replayed(sock, head))  # type: ignore[arg-type]

    return run


class _Replayed:
    """A socket whose first read returns an already-read request (so behaviours can re-read it)."""

    def __init__(self, sock: socket.socket, head: bytes) -> None:
        self.sock, self.pending = sock, head

    def recv(self, n: int) -> bytes:
        if self.pending:
            out, self.pending = self.pending[:n], self.pending[n:]
            return out
        return self.sock.recv(n)

    def __getattr__(self, name: str) -> object:
        return getattr(self.sock, name)


def high_water_kb(pid: int) -> int:
    """The child's own peak RSS (VmHWM of the program it runs). Not wait4's ru_maxrss: Linux
    carries the forking parent's resident size over into it, so a child forked from a pytest
    worker that had grown to 500 MB reported 500 MB whatever it used itself. VmHWM never falls,
    so sampling until exit misses at most the last 20 ms of growth."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    line = next((x for x in status.splitlines() if x.startswith("VmHWM:")), "VmHWM: 0 kB")
    return int(line.split()[1])
