"""One thin HTTP client for every surface. It never raises for what a target answers: it returns
an ``Exchange`` that says what was sent (credentials redacted) and what came back, or which
infrastructure problem (refused, timeout, huge body) stood in the way."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from pixelproof.mock.recorder import SECRET_HEADERS

MAX_BODY_BYTES = 48 * 1024 * 1024
REDACTED = "[redacted]"


@dataclass
class Exchange:
    method: str
    url: str
    request_headers: dict[str, str]
    request_json: Any = None
    request_files: list[str] = field(default_factory=list)
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    elapsed_s: float = 0.0
    error: str | None = None  # infrastructure problem; None when the target answered

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def content_type(self) -> str:
        return self.response_headers.get("content-type", "").split(";")[0].strip().lower()

    def json(self) -> Any:
        """The JSON body, or None when it is not JSON (judges say what they expected)."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None

    def describe_request(self, limit: int = 600) -> str:
        headers = ", ".join(f"{k}: {v}" for k, v in sorted(self.request_headers.items()))
        body = _excerpt(self.request_json, limit) if self.request_json is not None else ""
        files = f" files={self.request_files}" if self.request_files else ""
        return f"{self.method} {self.url} [{headers}] {body}{files}".strip()

    def describe_response(self, limit: int = 600) -> str:
        if self.error:
            return f"no answer: {self.error}"
        parsed = self.json()
        body = _excerpt(parsed, limit) if parsed is not None else repr(self.body[:limit])
        return f"{self.status} {self.content_type or '?'} {body}"


def _excerpt(value: Any, limit: int) -> str:
    def shorten(v: Any) -> Any:
        if isinstance(v, str) and len(v) > 80:
            return v[:40] + f"...({len(v)} chars)"
        if isinstance(v, list):
            return [shorten(x) for x in v]
        if isinstance(v, dict):  # an error's message is the evidence: kept whole (limit still caps)
            return {k: x if k == "message" else shorten(x) for k, x in v.items()}
        return v

    text = json.dumps(shorten(value), ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + "..."


def redact(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): (REDACTED if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()}


class Client:
    """Sends requests to one base URL with the profile's credentials."""

    def __init__(self, base_url: str, auth_header: tuple[str, str] | None, timeout_s: float,
                 transport: httpx.BaseTransport | None = None, headers: dict[str, str] | None = None) -> None:  # fmt: skip
        self.base_url = base_url.rstrip("/")
        self.auth_header = auth_header
        self.headers = dict(headers or {})
        self.http = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)), transport=transport
        )

    def send(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
        data: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        credentials: str = "default",  # default | none | wrong
        headers: dict[str, str] | None = None,
    ) -> Exchange:
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        sent: dict[str, str] = {**self.headers, **(headers or {})}
        if credentials == "default" and self.auth_header:
            sent[self.auth_header[0]] = self.auth_header[1]
        elif credentials == "wrong":
            sent["Authorization"] = "Bearer pixelproof-wrong-key"
        shown_json = json_body if json_body is not None else (dict(data) if data else None)
        exchange = Exchange(
            method,
            url,
            redact(sent),
            shown_json,
            [f"{n}:{f[0]}({len(f[1])}B)" for n, f in files or []],
        )
        started = time.perf_counter()
        try:
            with self.http.stream(
                method, url, json=json_body, files=files, data=data, params=params, headers=sent
            ) as response:
                exchange.status = response.status_code
                exchange.response_headers = {k.lower(): v for k, v in response.headers.items()}
                chunks, total = [], 0
                for chunk in response.iter_bytes():
                    total += len(chunk)
                    if total > MAX_BODY_BYTES:
                        exchange.error = (
                            f"response body larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB"
                        )
                        break
                    chunks.append(chunk)
                exchange.body = b"".join(chunks)
        except httpx.TimeoutException as exc:
            exchange.error = f"timed out ({type(exc).__name__})"
        except httpx.HTTPError as exc:
            exchange.error = f"{type(exc).__name__}: {exc}"
        exchange.elapsed_s = time.perf_counter() - started
        if params:
            exchange.url = str(httpx.URL(url, params=params))
        return exchange

    def download(self, url: str) -> Exchange:
        """GET an image URL (no credentials: a URL answer must stand on its own)."""
        return self.send("GET", url, credentials="none")

    def close(self) -> None:
        self.http.close()
