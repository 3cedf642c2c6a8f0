"""A gateway written by someone else: the reference stack behind a proxy that keeps its promises
in ways the reference does not, or breaks them.

Image URLs: each is replaced by one of the proxy's redirecting there, as gateways fronting a CDN
do (a short link that 302s to a signed object URL): ``hops`` redirects per URL, ``loop`` redirects
to itself forever; with ``image_type`` the proxy serves the image itself under that Content-Type
(an object store's ``application/octet-stream``; ``legacy``: image/pjpeg, image/x-png). Rate limits: ``throttle`` answers the first N
asks of each API call (one with credentials: by method, path, body (a multipart boundary aside)
and pixelproof's run header, which names the probe) 429 with ``Retry-After: 0`` (or ``retry_after``); -1 answers every one so. ``busy``: a 5xx from
behind (a failed channel) is answered 429, "try again later", with a JSON error. ``key``: an API
call (a POST) without that bearer key, missing or wrong, is answered 429, as a gateway throttling
failed logins does, and never forwarded. ``open_door``: checks no key at all, and forwards every
call with that one (every auth promise broken). ``downloads_limited``: its image URLs answer
nothing but 429. ``gemini_urls``: a Gemini answer's inlineData images become URLs in fileData
parts, which the proxy serves (``"served"``) or answers 404 (``"missing"``). ``bom``: every JSON
answer it passes on starts with a UTF-8 byte order mark (as a server writing through a
``utf-8-sig`` encoder does). ``twins``: each ``data[]`` image also carries the output field it
does not use, as ``""`` (``"empty"``: a Go struct without omitempty) or ``null`` (``"null"``:
LiteLLM's answers; ``revised_prompt`` null too). ``invent_tasks``: a task id the gateway
behind does not know (its 404) is answered 200 with a queued task of that id under a
``"success"`` code, as new-api style gateways wrap tasks. ``upper_scheme``: its image URLs are
written ``HTTP://...`` (a scheme is case-insensitive, RFC 3986 §3.1). ``flaky_downloads``: each image URL answers 503 its first N asks (-1: every ask).
``bare_task_urls``: a finished task's ``result.images`` lists its URLs as bare strings."""

from __future__ import annotations

import base64
import codecs
import contextlib
import http.server
import json
import socketserver
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx

from pixelproof.client import RUN_HEADER
from pixelproof.images import sniff

LEGACY = "legacy"  # ``image_type``: each image under its format's legacy media type
LEGACY_NAMES = {"jpeg": "image/pjpeg", "png": "image/x-png", "webp": "image/webp"}

HOP_HEADERS = ("host", "content-length", "connection", "transfer-encoding")


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    upstream: str
    hops: int
    loop: bool
    image_type: str | None
    throttle: int
    asked: dict[tuple[str, str, bytes, str], int]
    limited: int  # 429s answered
    busy: bool
    key: str | None
    open_door: str | None
    downloads_limited: bool
    retry_after: str
    gemini_urls: str | None
    bom: bool
    twins: str | None
    invent_tasks: bool
    upper_scheme: bool
    flaky_downloads: int
    bare_task_urls: bool
    files: dict[str, tuple[bytes, str]]  # fileData images: path -> (bytes, type)
    lock: threading.Lock


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(
        self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _forward(self, method: str, body: bytes | None = None) -> httpx.Response:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
        if self.server.open_door is not None:  # checks no key: sends its own upstream
            headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            headers["Authorization"] = f"Bearer {self.server.open_door}"
        with httpx.Client(timeout=60) as client:
            return client.request(
                method, self.server.upstream + self.path, content=body, headers=headers
            )

    def _throttled(self, body: bytes = b"") -> bool:
        """Answers 429 where the throttle says so, or to a request without ``key`` (True)."""
        if self.server.downloads_limited and self.path.startswith(("/r/", "/img/")):
            self._answer(429, b"slow down", {"Retry-After": "0"})
            return True
        guarded = self.server.key is not None and self.command == "POST"
        if guarded and self.headers.get("authorization") != f"Bearer {self.server.key}":
            with self.server.lock:
                self.server.limited += 1
            self._answer(429, b'{"error": {"message": "too many failed logins"}}',
                         {"Content-Type": "application/json", "Retry-After": "0"})  # fmt: skip
            return True
        api_call = self.command == "POST" or "authorization" in self.headers
        if not self.server.throttle or not api_call:
            return False  # (API calls, with credentials or not: not the preflight, no download)
        boundary = self.headers.get("content-type", "").partition("boundary=")[2].encode()
        if boundary:  # a multipart body asked again has a new boundary: the same call
            body = body.replace(boundary, b"-")
        with self.server.lock:
            key = (self.command, self.path, body, self.headers.get(RUN_HEADER, ""))
            asked = self.server.asked[key] = self.server.asked.get(key, 0) + 1
        if self.server.throttle < 0 or asked <= self.server.throttle:
            with self.server.lock:
                self.server.limited += 1
            self._answer(429, b'{"error": {"message": "slow down"}}',
                         {"Content-Type": "application/json",
                          "Retry-After": self.server.retry_after})  # fmt: skip
            return True
        return False

    def do_GET(self) -> None:
        if self._throttled():
            return
        if self.path.startswith("/files/"):
            found = self.server.files.get(self.path)
            if found is None or self.server.gemini_urls == "missing":
                return self._answer(404, b"no such file")
            return self._answer(200, found[0], {"Content-Type": found[1]})
        if self.path.startswith("/img/"):
            with httpx.Client(timeout=60) as client:
                got = client.get(urllib.parse.unquote(self.path[5:]))
            kind = self.server.image_type or got.headers.get("content-type", "")
            if kind == LEGACY:  # each format under its legacy name, as old servers label them
                kind = LEGACY_NAMES.get(sniff(got.content) or "", "application/octet-stream")
            return self._answer(got.status_code, got.content, {"Content-Type": kind})
        if self.path.startswith("/r/") and self.server.flaky_downloads:
            with self.server.lock:
                seen = self.server.asked[("GET", self.path, b"", "")] = (
                    self.server.asked.get(("GET", self.path, b"", ""), 0) + 1
                )
            if self.server.flaky_downloads < 0 or seen <= self.server.flaky_downloads:
                return self._answer(503, b"<html>busy</html>", {"Content-Type": "text/html"})
        if self.path.startswith("/r/"):
            left, _, target = self.path[3:].partition("/")
            hops = int(left)
            if self.server.loop:
                return self._answer(302, headers={"Location": self.path})
            own = f"/r/{hops - 1}/{target}"
            location = urllib.parse.unquote(target) if hops <= 1 else own
            return self._answer(302, headers={"Location": location})
        got = self._forward("GET")
        if self.server.invent_tasks and "/tasks/" in self.path and got.status_code == 404:
            task_id = self.path.rsplit("/", 1)[1].split("?")[0]
            body = {
                "code": "success",
                "message": "ok",
                "data": {"task_id": task_id, "status": "queued"},
            }
            return self._answer(
                200, json.dumps(body).encode(), {"Content-Type": "application/json"}
            )
        self._relay(got)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if not self._throttled(body):
            self._relay(self._forward("POST", body))

    def _relay(self, got: httpx.Response) -> None:
        """The answer passed on, each image URL in its JSON replaced by one of the proxy's."""
        if self.server.busy and got.status_code >= 500:
            body = b'{"error": {"message": "the image channel is busy, try again later"}}'
            return self._answer(429, body, {"Content-Type": "application/json"})
        body = got.content
        if "json" in got.headers.get("content-type", ""):
            answer = self._twinned(self._redirected(got.json()))
            if self.server.bare_task_urls:
                answer = self._bare(answer)
            body = json.dumps(answer).encode()
            if self.server.bom:
                body = codecs.BOM_UTF8 + body
        self._answer(got.status_code, body, {"Content-Type": got.headers.get("content-type", "")})

    def _bare(self, value: Any) -> Any:
        """``result.images: [{"url": u}, ...]`` written ``[u, ...]`` (``bare_task_urls``)."""
        if isinstance(value, list):
            return [self._bare(v) for v in value]
        if not isinstance(value, dict):
            return value
        out = {k: self._bare(v) for k, v in value.items()}
        images = out.get("images")
        if isinstance(images, list) and all(isinstance(i, dict) and "url" in i for i in images):
            out["images"] = [i["url"] for i in images]
        return out

    def _twinned(self, answer: Any) -> Any:
        data = answer.get("data") if isinstance(answer, dict) else None
        if self.server.twins and isinstance(data, list):
            blank = "" if self.server.twins == "empty" else None
            for item in data:
                if isinstance(item, dict):
                    for name in ("url", "b64_json") + (
                        ("revised_prompt",) if blank is None else ()
                    ):
                        item.setdefault(name, blank)
        return answer

    def _redirected(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self._redirected(v) for v in value]
        if not isinstance(value, dict):
            return value
        inline = value.get("inlineData")
        if self.server.gemini_urls and isinstance(inline, dict) and "data" in inline:
            with self.server.lock:
                path = f"/files/{len(self.server.files)}.img"
                self.server.files[path] = (base64.b64decode(inline["data"]), inline["mimeType"])
            uri = url_of(self.server) + path
            return {"fileData": {"mimeType": inline["mimeType"], "fileUri": uri}}
        out = {}
        for key, item in value.items():
            if key == "url" and isinstance(item, str) and item.startswith("http"):
                quoted = urllib.parse.quote(item, safe="")
                own = "img" if self.server.image_type else f"r/{self.server.hops}"
                item = f"{url_of(self.server)}/{own}/{quoted}"
                if self.server.upper_scheme:
                    item = "HTTP" + item[len("http") :]
            out[key] = self._redirected(item)
        return out


@contextlib.contextmanager
def foreign_gateway(
    upstream: str,
    hops: int = 1,
    loop: bool = False,
    image_type: str | None = None,
    throttle: int = 0,
    busy: bool = False,
    key: str | None = None,
    open_door: str | None = None,
    downloads_limited: bool = False,
    retry_after: str = "0",
    gemini_urls: str | None = None,
    bom: bool = False,
    twins: str | None = None,
    invent_tasks: bool = False,
    upper_scheme: bool = False,
    flaky_downloads: int = 0,
    bare_task_urls: bool = False,
) -> Iterator[_Server]:
    """The proxy, serving on ``url_of(server)`` until the block ends."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.upstream, server.hops, server.loop = upstream.rstrip("/"), hops, loop
    server.image_type, server.throttle = image_type, throttle
    server.asked, server.lock, server.limited = {}, threading.Lock(), 0
    server.busy, server.key, server.open_door = busy, key, open_door
    server.downloads_limited, server.retry_after = downloads_limited, retry_after
    server.gemini_urls, server.files, server.bom = gemini_urls, {}, bom
    server.twins, server.invent_tasks, server.upper_scheme = twins, invent_tasks, upper_scheme
    server.flaky_downloads, server.bare_task_urls = flaky_downloads, bare_task_urls
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def url_of(server: _Server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"
