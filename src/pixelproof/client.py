"""One thin HTTP client for every surface. It never raises for what a target answers: it returns
an ``Exchange`` that says what was sent (credentials redacted) and what came back, or which
infrastructure problem (refused, deadline, body over the cap, breaker open) stood in the way.

Every exchange is bounded: ``timeout_s`` is a deadline for the whole exchange (connect -> last
byte, see ``deadline.py``) and the body is streamed with one cap, past which the exchange is an
error and nothing of the body is kept. Bodies over ``SPILL_BYTES`` live in a temporary file, so
a run that caches many large answers keeps its memory flat.

Two answers are not final: a 429 is asked again after its Retry-After (``Client.send``), and an
image URL's redirects are followed as any client fetching it would (``Client.download``); an
exchange counts every request it took (``Exchange.sent``).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import os
import sys
import tempfile
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx

from pixelproof.deadline import Guard, deadline_at, deadline_client
from pixelproof.redact import DEFAULT, Redactor
from pixelproof.streamed import StreamedText, has_streamed, json_stream

SECRET_SPAN = 4096  # bytes read past an excerpt's end, so a key it cuts is redacted whole first
MAX_BODY_BYTES = 48 * 1024 * 1024
SPILL_BYTES = 2 * 1024 * 1024
REDACTED = "[redacted]"
# names the run (and, on a probe, its nonce) on every request pixelproof sends: a recorder then
# tells the harness's own traffic from calls no request of the run explains (observe.py)
RUN_HEADER = "X-Pixelproof-Run"
NO_ANSWER = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError,
             httpx.ProxyError, httpx.UnsupportedProtocol)  # fmt: skip


RATE_LIMITED = 429
RATE_LIMIT_RETRIES = 3  # asks after a 429, each after its Retry-After (else 1, 2, 4 s)
RATE_LIMIT_WAIT_S = 30.0  # the longest single wait a Retry-After is given
RATE_LIMIT_NOTICE_S = 5.0  # a wait this long is said on stderr
REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5  # an image URL's hops (httpx's default allows 20; a URL answer needs one or two)


@dataclass
class Exchange:
    method: str
    url: str
    request_headers: dict[str, str]
    request_json: Any = None
    request_files: list[str] = field(default_factory=list)
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""  # a property below: large bodies are spilled to a temporary file
    elapsed_s: float = 0.0
    error: str | None = None  # infrastructure problem; None when the target answered
    redactor: Redactor = field(default=DEFAULT, repr=False, compare=False)
    redirected_from: list[str] = field(default_factory=list)  # a download's earlier hops
    hops_sent: int = 0  # the requests those hops took
    cut_short: bool = False  # a download's redirect left unfollowed: ``most`` had no request left
    waited_s: list[float] = field(default_factory=list)  # each wait after a 429, asked again after

    @property
    def sent(self) -> int:
        """The requests this answer took: a 429 asks again (``Client.send``), a download
        follows redirects (``Client.download``)."""
        return self.hops_sent + 1 + len(self.waited_s)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def content_type(self) -> str:
        return self.response_headers.get("content-type", "").split(";")[0].strip().lower()

    def parsed(self) -> tuple[bool, Any]:
        """(is JSON, value): JSON ``null`` is JSON; a body nested too deep to parse is not."""
        try:
            return True, json.loads(self.body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return False, None

    def json(self) -> Any:
        """The JSON body, or None when it is not JSON (judges say what they expected)."""
        return self.parsed()[1]

    def is_json(self) -> bool:
        return self.parsed()[0]

    def body_text(self, limit: int) -> str:
        """The body's first ``limit`` characters as text, secrets redacted before the cut (a key
        cut in two is no longer the value the redactor looks for)."""
        text = self.body[: limit * 4 + SECRET_SPAN].decode("utf-8", errors="replace")
        return self.redactor.text(text)[:limit]

    def describe_request(self, limit: int = 600) -> str:
        headers = ", ".join(f"{k}: {v}" for k, v in sorted(self.request_headers.items()))
        sent = self.redactor.data(self.request_json)
        body = _excerpt(sent, limit) if self.request_json is not None else ""
        files = f" files={self.request_files}" if self.request_files else ""
        text = f"{self.method} {self.redactor.url(self.url)} [{headers}] {body}{files}".strip()
        return self.redactor.text(text)

    def describe_response(self, limit: int = 600) -> str:
        if self.error:
            return self.redactor.text(f"no answer: {self.error}")
        ok, parsed = self.parsed()
        body = _excerpt(self.redactor.data(parsed), limit) if ok else repr(self.body_text(limit))
        return self.redactor.text(f"{self.status} {self.content_type or '?'} {body}")


class _Spilled:
    """A body kept in a temporary file (removed when the exchange goes)."""

    def __init__(self, data: bytes) -> None:
        fd, self.path = tempfile.mkstemp(prefix="pixelproof-body-")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        self.size = len(data)
        weakref.finalize(self, _unlink, self.path)

    def read(self) -> bytes:
        with open(self.path, "rb") as src:
            return src.read()


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _get_body(self: Exchange) -> bytes:
    held = self.__dict__.get("_body", b"")
    return held.read() if isinstance(held, _Spilled) else held


def _set_body(self: Exchange, data: bytes) -> None:
    self.__dict__["_body"] = _Spilled(data) if len(data) > SPILL_BYTES else bytes(data)


Exchange.body = property(_get_body, _set_body)  # type: ignore[assignment]


def _excerpt(value: Any, limit: int) -> str:
    def shorten(v: Any) -> Any:
        if isinstance(v, str) and len(v) > 80:
            return v[:40] + f"...({len(v)} chars)"
        if isinstance(v, list):
            return [shorten(x) for x in v]
        if isinstance(v, dict):  # an error's message is the evidence: kept whole (limit still caps)
            return {k: x if k == "message" else shorten(x) for k, x in v.items()}
        return v

    try:
        text = json.dumps(shorten(value), ensure_ascii=False, default=str)
    except (RecursionError, ValueError):
        text = f"<{type(value).__name__} nested too deep to show>"
    return text if len(text) <= limit else text[:limit] + "..."


def _without_blobs(value: Any, limit: int = 4096) -> Any:
    """The request as kept for reports: strings over ``limit`` (base64 references, up to 41 MB)
    become the excerpt ``describe_request`` would print anyway, so an exchange stays small."""
    if isinstance(value, str) and len(value) > limit:
        return value[:40] + f"...({len(value)} chars)"
    if isinstance(value, StreamedText):
        return value.head(40) + f"...({len(value)} chars)"
    if isinstance(value, list):
        return [_without_blobs(v, limit) for v in value]
    if isinstance(value, dict):
        return {k: _without_blobs(v, limit) for k, v in value.items()}
    return value


class _SetCookies(httpx.Cookies):
    """httpx's cookie jar, fed only by answers that set a cookie. httpx hands every answer to
    the jar through a urllib request built for it (the URL parsed again), though the jar takes
    nothing from an answer without Set-Cookie/Set-Cookie2: ~60-90 us of the client's ~600 per
    request in an A/B against the embedded stack (bench/README.md)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers or "set-cookie2" in response.headers:
            super().extract_cookies(response)


def _cookies_from_set_cookie(client: httpx.Client) -> None:
    """httpx has no public hook for its jar's class (its setter wraps any jar in ``Cookies``);
    a different httpx fails loudly here rather than silently keeping no cookies."""
    if type(getattr(client, "_cookies", None)) is not httpx.Cookies:
        raise RuntimeError(f"pixelproof cannot manage this httpx's cookies ({httpx.__version__})")
    client._cookies = _SetCookies(client.cookies)


def retry_after(value: str | None, default: float) -> float:
    """The seconds a Retry-After header asks for (seconds, or an HTTP date), within
    [0, RATE_LIMIT_WAIT_S]; ``default`` when it is missing or unreadable."""
    if value is None:
        return min(default, RATE_LIMIT_WAIT_S)
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return min(default, RATE_LIMIT_WAIT_S)
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - dt.datetime.now(dt.UTC)).total_seconds()
    if seconds != seconds:  # NaN
        return min(default, RATE_LIMIT_WAIT_S)
    return max(0.0, min(seconds, RATE_LIMIT_WAIT_S))


def redact(headers: dict[str, str]) -> dict[str, str]:
    return DEFAULT.header_map(headers)


class Client:
    """Sends requests to one base URL with the profile's credentials (a header, a query
    parameter, or none), each exchange bounded in time and size and guarded by the run."""

    def __init__(self, base_url: str, auth_header: tuple[str, str] | None, timeout_s: float,
                 transport: httpx.BaseTransport | None = None, headers: dict[str, str] | None = None,
                 *, auth_query: tuple[str, str] | None = None, redactor: Redactor = DEFAULT,
                 guard: Guard | None = None, surface: str = "", max_body: int = MAX_BODY_BYTES,
                 verify: bool = True, run: str | None = None) -> None:  # fmt: skip
        self.base_url = base_url.rstrip("/")
        self.auth_header, self.auth_query = auth_header, auth_query
        self.headers = {**(headers or {}), **({RUN_HEADER: run} if run else {})}
        self.timeout_s, self.max_body = timeout_s, max_body
        self.redactor, self.guard, self.surface = redactor, guard or Guard(), surface
        timeout = httpx.Timeout(timeout_s, connect=min(10.0, timeout_s))
        self.http = (
            httpx.Client(timeout=timeout, transport=transport)
            if transport
            else deadline_client(timeout, verify)
        )
        _cookies_from_set_cookie(self.http)
        self.sleep: Callable[[float], None] = time.sleep  # the waits after a 429

    def prepare(self, credentials: str, headers: dict[str, str] | None,
                params: dict[str, str] | None) -> tuple[dict[str, str], dict[str, str] | None]:  # fmt: skip
        """Headers and query with the credentials this request is meant to carry."""
        sent: dict[str, str] = {**self.headers, **(headers or {})}
        query = dict(params) if params else None
        if credentials == "default" and self.auth_header:
            sent[self.auth_header[0]] = self.auth_header[1]
        if credentials == "default" and self.auth_query:
            query = {**(query or {}), self.auth_query[0]: self.auth_query[1]}
        elif credentials == "wrong":
            sent["Authorization"] = "Bearer pixelproof-wrong-key"
            if self.auth_query:
                query = {**(query or {}), self.auth_query[0]: "pixelproof-wrong-key"}
        return sent, query

    def send(self, method: str, path: str, *, json_body: Any = None,
             files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
             data: dict[str, str] | None = None, params: dict[str, str] | None = None,
             credentials: str = "default",  # default | none | wrong
             headers: dict[str, str] | None = None, content: bytes | None = None,
             patient: bool = True, most: int | None = None) -> Exchange:  # fmt: skip
        """One request, with the profile's credentials (or none, or wrong ones). A 429 says
        nothing of the promise being judged, only "not now": the request is asked again after
        the answer's Retry-After (else 1, 2, 4 s), at most RATE_LIMIT_RETRIES times and never
        past the run deadline; a 429 that outlasts them is returned, for the caller to report
        as unobserved, never to judge. Not ``patient``: the first answer, 429 or not (a gateway
        relaying a failure injected upstream may well say "not now"). ``most``: the requests this
        call may send in all (a budget's), asking again only within it."""
        request = {"json_body": json_body, "files": files, "data": data, "params": params,
                   "credentials": credentials, "headers": headers, "content": content}  # fmt: skip
        exchange = self._send_once(method, path, **request)
        waited: list[float] = []
        more = RATE_LIMIT_RETRIES if most is None else min(RATE_LIMIT_RETRIES, most - 1)
        while patient and exchange.status == RATE_LIMITED and len(waited) < more:
            wait = retry_after(exchange.response_headers.get("retry-after"), 2.0 ** len(waited))
            if self.guard.ends is not None and self.guard.clock() + wait >= self.guard.ends:
                break
            if wait >= RATE_LIMIT_NOTICE_S:  # a long silence on a run's progress line: say why
                # (on the process's own stderr: pytest captures sys.stderr while a test runs)
                print(f"pixelproof: {self.surface or 'the target'} answered 429 (rate limited): "
                      f"waiting {wait:g} s as asked, then asking again ({len(waited) + 1} of "
                      f"{RATE_LIMIT_RETRIES})", file=sys.__stderr__ or sys.stderr, flush=True)  # fmt: skip
            self.sleep(wait)
            waited.append(wait)
            exchange = self._send_once(method, path, **request)
        exchange.waited_s = waited
        return exchange

    def _send_once(self, method: str, path: str, *, json_body: Any,
                   files: list[tuple[str, tuple[str, bytes, str]]] | None,
                   data: dict[str, str] | None, params: dict[str, str] | None,
                   credentials: str, headers: dict[str, str] | None,
                   content: bytes | None) -> Exchange:  # fmt: skip
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        sent, query = self.prepare(credentials, headers, params)
        shown_json = json_body if json_body is not None else (dict(data) if data else None)
        files_shown = [f"{n}:{f[0]}({len(f[1])}B)" for n, f in files or []]
        shown_url = str(httpx.URL(url, params=query)) if query else url
        exchange = Exchange(method, self.redactor.url(shown_url), self.redactor.header_map(sent),
                            self.redactor.data(_without_blobs(shown_json)), files_shown, redactor=self.redactor)  # fmt: skip
        refusal = self.guard.refusal(self.surface)
        if refusal:
            exchange.error = refusal
            return exchange
        started = time.perf_counter()
        no_answer = None
        try:
            with deadline_at(self.guard.deadline(self.timeout_s)):
                self._exchange(exchange, method, url, sent, query, json_body, files, data, content)
        except httpx.TimeoutException as exc:
            took = time.perf_counter() - started
            no_answer = (
                f"timed out after {took:.1f}s (timeout_s={self.timeout_s:g}, {type(exc).__name__})"
            )
        except httpx.HTTPError as exc:
            no_answer = self.redactor.text(f"{type(exc).__name__}: {exc}")[:500]
        if no_answer:
            exchange.error = no_answer
        exchange.elapsed_s = time.perf_counter() - started
        self.guard.record(self.surface, no_answer)
        return exchange

    def _exchange(self, exchange: Exchange, method: str, url: str, sent: dict[str, str],
                  query: dict[str, str] | None, json_body: Any, files: Any, data: Any,
                  content: bytes | Iterator[bytes] | None) -> None:  # fmt: skip
        if json_body is not None and has_streamed(json_body):
            length, chunks = json_stream(json_body)
            sent = {**sent, "Content-Type": "application/json", "Content-Length": str(length)}
            json_body, content = None, chunks()
        with self.http.stream(method, url, json=json_body, files=files, data=data, params=query,
                              headers=sent, content=content) as response:  # fmt: skip
            exchange.status = response.status_code
            exchange.response_headers = {
                k.lower(): self.redactor.text(v) for k, v in response.headers.items()
            }
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_body:
                exchange.error = self._too_big(f"declared {int(declared):,} bytes")
                return
            chunks, total = [], 0
            for chunk in response.iter_bytes():
                total += len(chunk)
                if total > self.max_body:
                    exchange.error = self._too_big("still streaming")
                    return
                chunks.append(chunk)
            exchange.body = b"".join(chunks)

    def _too_big(self, how: str) -> str:
        return f"response body over the {self.max_body:,} byte cap ({how}); not kept"

    def download(
        self, url: str, headers: dict[str, str] | None = None, most: int | None = None
    ) -> Exchange:
        """GET an image URL (no credentials: a URL answer must stand on its own), following its
        redirects as any client fetching it would (a gateway's own URL redirecting to a CDN's
        signed one), at most MAX_REDIRECTS: the last answer, with the URLs that redirected to it.
        An API request's redirect is an answer of its own (``send`` follows none). ``most``: the
        requests it may send in all, hops and asks after a 429 together; a redirect it leaves
        unfollowed for want of one is ``cut_short`` (the image was not fetched: no evidence)."""
        chain, sent = [], 0
        exchange = self.send("GET", url, credentials="none", headers=headers, most=most)
        while exchange.status in REDIRECTS and len(chain) < MAX_REDIRECTS:
            location = exchange.response_headers.get("location", "")
            target = urljoin(url, location) if location else ""
            if not target.startswith(("http://", "https://")):
                break  # no Location, or one no client would fetch: the 3xx is the answer
            if most is not None and sent + exchange.sent >= most:
                exchange.cut_short = True  # no request left to follow it with: not an answer
                break
            chain.append(exchange.url)
            sent += exchange.sent
            url = target
            left = None if most is None else most - sent
            exchange = self.send("GET", url, credentials="none", headers=headers, most=left)
        exchange.redirected_from, exchange.hops_sent = chain, sent
        return exchange

    def close(self) -> None:
        self.http.close()


class Clients(dict[str, Client]):
    """A client per surface, each made when its surface is first asked for: a session sending to
    one or two of a profile's ten surfaces (a narrow selection, a self-check's single fault) does
    not build the other clients (~0.4 ms each, their proxy settings read from the environment).
    A surface outside ``surfaces`` is a KeyError, as in a plain dict of them."""

    def __init__(self, surfaces: Iterable[str], make: Callable[[str], Client]) -> None:
        super().__init__()
        self.surfaces, self.make = frozenset(surfaces), make

    def __missing__(self, surface: str) -> Client:
        if surface not in self.surfaces:
            raise KeyError(surface)
        client = self[surface] = self.make(surface)
        return client
