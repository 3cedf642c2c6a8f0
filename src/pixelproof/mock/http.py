"""The request pipeline every mock route shares: bounded body, recording, auth, faults, errors.

A handler receives an ``Incoming`` (already parsed and recorded) and returns a Response or raises
``ApiError``; this module renders errors in the route's dialect and never lets bad input become a
500 or a crash.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from pixelproof.mock import failing, faults
from pixelproof.mock.errors import (
    ApiError,
    Relayed,
    ark_error,
    google_error,
    jimeng_error,
    official_error,
    openai_error,
)
from pixelproof.mock.jsonresp import JSONResponse
from pixelproof.mock.lean import pipeline
from pixelproof.mock.recorder import summarize_file
from pixelproof.mock.strict_json import strict_json
from pixelproof.redact import Redactor

if TYPE_CHECKING:
    from pixelproof.mock.state import MockState

log = logging.getLogger("pixelproof.mock")
# python-multipart logs a warning for each malformed form it then refuses (the client gets its
# 400): fuzz cases send such forms on purpose, and the line landed in the middle of a run's
# progress output (the stack shares the console). Its errors still show.
logging.getLogger("python_multipart").setLevel(logging.ERROR)

DIALECTS: dict[str, Callable[[ApiError], JSONResponse]] = {
    "openai": openai_error,
    "google": google_error,
    "ark": ark_error,
    "jimeng": jimeng_error,
    "official": official_error,
}


@dataclass
class UploadedFile:
    field: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class Incoming:
    request: Request
    state: MockState
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any = None
    form: dict[str, str] = field(default_factory=dict)
    files: list[UploadedFile] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    marked: bool = True  # may ask its upstream to fail (False: its JSON text settles it cannot)

    @property
    def base_url(self) -> str:
        configured = self.state.config.public_url
        return (configured or str(self.request.base_url)).rstrip("/")

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object, or a 400 saying what it was instead."""
        if not isinstance(self.json, dict):
            kind = "empty" if self.json is None else type(self.json).__name__
            raise ApiError(400, f"request body must be a JSON object (got {kind})")
        return self.json

    def files_named(self, *names: str) -> list[UploadedFile]:
        return [f for f in self.files if f.field in names]


Handler = Callable[[Incoming], Awaitable[Response]]


async def _read_body(request: Request, declared: str | None, limit: int) -> bytearray:
    """The body in one growing buffer (a list of chunks joined held it twice: 82 MB at the peak
    for a 41 MB base64 reference), read from the ASGI channel itself (Starlette's stream is an
    async generator around the same loop)."""
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(
            413, f"request body of {int(declared):,} bytes exceeds the {limit:,} byte limit"
        )
    body = bytearray()
    receive = request.receive
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        if len(body) + len(chunk) > limit:
            raise ApiError(413, f"request body exceeds the {limit:,} byte limit")
        body += chunk
        if not message.get("more_body", False):
            return body


def header_views(scope: Any) -> tuple[dict[str, str], dict[str, str]]:
    """The request's headers as (last value per name: what the recorder keeps, first value per
    name: what a lookup reads, as Starlette's ``Headers.get``), decoded once from the scope."""
    raw = scope["headers"]
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw}
    if len(headers) == len(raw):
        return headers, headers
    first: dict[str, str] = {}
    for k, v in raw:
        first.setdefault(k.decode("latin-1").lower(), v.decode("latin-1"))
    return headers, first


async def _parse(request: Request, ctype: str, body: bytearray, inc: Incoming) -> None:
    """Parse into ``inc``; a JSON body's buffer is emptied once decoded (see ``strict_json``)."""
    ctype = ctype.split(";")[0].strip().lower()
    if not body:
        return
    if ctype in ("application/json", "") or ctype.endswith("+json"):
        inc.marked = failing.may_be_marked(body)
        inc.json = strict_json(body)
        return
    request._body = bytes(body)  # let request.form() parse what was already read
    if ctype == "multipart/form-data":
        try:
            form = await request.form(max_files=64, max_fields=256, max_part_size=64 * 1024 * 1024)
        except Exception as exc:  # python-multipart raises several types on bad input
            raise ApiError(400, f"malformed multipart body: {exc}") from None
        try:
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    data = await value.read()
                    inc.files.append(UploadedFile(key, value.filename, value.content_type, data))
                else:
                    inc.form[key] = value
        finally:  # a part over 1 MB was spooled to a temporary file: closed now, not at GC
            await form.close()
    elif ctype == "application/x-www-form-urlencoded":
        form = await request.form()
        inc.form = {k: v for k, v in form.items() if isinstance(v, str)}
    else:
        raise ApiError(
            415,
            f"unsupported content type {ctype!r}; send application/json",
            code="unsupported_media_type",
        )


def authorized(headers: dict[str, str], query: dict[str, str], key: str) -> bool:
    """The key in any place a documented dialect sends it (``headers`` lower-cased)."""
    bearer = headers.get("authorization", "")
    if bearer.lower().startswith("bearer ") and bearer[7:].strip() == key:
        return True
    return key in (headers.get("x-goog-api-key"), headers.get("api-key"), query.get("key"))


@functools.lru_cache(maxsize=64)
def _redactor(api_key: str | None, upstream_key: str | None) -> Redactor:
    """The redactor of a configuration's keys (a config's keys can change at run time: the
    keys themselves are the cache's key)."""
    return Redactor(values=tuple(k for k in (api_key, upstream_key) if k and len(k) >= 6))


def _record(inc: Incoming, body_size: int) -> Any:
    """Secrets by name (the usual headers and parameters) and by value (the mock's own keys,
    wherever a client put them) never enter the recorder. Empty fields are new empty dicts
    (the recorder copies what it keeps: the form is not copied twice)."""
    config = inc.state.config
    redactor = _redactor(config.api_key, config.upstream_key)
    return inc.state.recorder.add(
        {
            "time": inc.state.clock.now(),
            "method": inc.method,
            "path": inc.path,
            "query": redactor.query_map(inc.query) if inc.query else {},
            "headers": redactor.header_map(inc.headers),
            "json": redactor.data(inc.json),
            "form": redactor.data(inc.form) if inc.form else {},
            "files": _file_summary(inc.files) if inc.files else {},
            "body_size": body_size,
        }
    )


def _file_summary(files: list[UploadedFile]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for f in files:
        out.setdefault(f.field, []).append(summarize_file(f.filename, f.content_type, f.data))
    return out


async def _infrastructure_faults(response: Response) -> Response:
    if faults.active("slow"):
        await asyncio.sleep(2.0)
    if faults.active("truncated-json") and isinstance(response, JSONResponse):
        body = bytes(response.body)
        return Response(
            body[: len(body) // 2], status_code=response.status_code, media_type="application/json"
        )
    if faults.active("wrong-content-type"):
        return Response(
            bytes(response.body), status_code=response.status_code, media_type="text/html"
        )
    if faults.active("huge-body"):
        return _padded()
    return response


PAD_BYTES = 64 * 1024 * 1024
_PAD_SLICE = b" " * (1024 * 1024)


class _Padded(Response):
    """The huge-body outage: 64 MiB of JSON whitespace, declared (Content-Length) and really sent,
    as 1 MiB slices of one shared block: no 64 MiB allocated and zeroed per answer."""

    def __init__(self) -> None:
        super().__init__(b"", status_code=200, media_type="application/json")
        self.headers["content-length"] = str(PAD_BYTES)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})  # fmt: skip
        for _ in range(PAD_BYTES // len(_PAD_SLICE)):
            await send({"type": "http.response.body", "body": _PAD_SLICE, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _padded() -> Response:
    return _Padded()


# the client's X-Pixelproof-Run (a run id and a probe's nonce) while its request is handled: the
# reference gateway passes it on to its upstream, so a recorder tells the harness's calls apart
RUN_TRACE: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "pixelproof_run_trace", default=None
)


def endpoint(
    state: MockState, handler: Handler, dialect: str = "openai", auth: bool = True
) -> Callable[[Request], Awaitable[Response]]:
    """Wrap ``handler`` in the shared pipeline, rendering errors in ``dialect``."""
    render_error = DIALECTS[dialect]

    async def run(request: Request) -> Response:
        scope = request.scope  # not request.url nor request.headers: each parsed anew per request
        headers, first = header_views(scope)
        header_faults = faults.parse_header(first.get(faults.FAULT_HEADER))
        token = faults.set_request_faults(state.config.faults | header_faults)
        trace = RUN_TRACE.set(first.get("x-pixelproof-run"))
        inc = Incoming(
            request=request,
            state=state,
            method=scope["method"],
            path=scope.get("root_path", "") + scope["path"],
            query=dict(request.query_params) if scope.get("query_string") else {},
            headers=headers,
        )
        recorded = None
        gateway = state.config.role == "gateway"
        try:
            size = 0
            try:
                limit = state.config.max_body_bytes
                body = await _read_body(request, first.get("content-length"), limit)
                size = len(body)
                await _parse(request, first.get("content-type", ""), body, inc)
                del body
            finally:
                recorded = _record(inc, size)
            if (
                auth
                and state.config.api_key
                and not faults.active("auth-open")
                and not (gateway and faults.active("auth-forwarded"))
                and not authorized(inc.headers, inc.query, state.config.api_key)
            ):
                raise ApiError(
                    403 if gateway and faults.active("auth-403") else 401,
                    "invalid or missing API key",
                    type="authentication_error",
                    code="invalid_api_key",
                )
            failure = None if gateway or not inc.marked else failing.requested([inc.json, inc.form])
            if failure:  # the request asked its upstream to fail (failing.py)
                inc.notes["injected_failure"] = failure
                response = failing.answer(failure)
            else:
                if faults.active("http-500"):
                    raise ApiError(500, "injected fault: http-500", type="server_error")
                response = await handler(inc)
                if faults.request_faults():  # none on: nothing to change, no await spent
                    response = await _infrastructure_faults(response)
        except Relayed as relayed:
            response = Response(relayed.body, relayed.status, media_type=relayed.media_type)
        except ApiError as err:
            response = render_error(err)
            if faults.active("error-shape-plain") and dialect == "openai" and gateway:
                response = Response(err.message, status_code=err.status, media_type="text/plain")
            elif faults.active("error-json-plain") and dialect == "openai" and gateway:
                response = JSONResponse({"message": err.message}, status_code=err.status)
        except Exception:  # a bug in the mock: say so, keep serving
            log.exception("mock handler failed on %s %s", inc.method, inc.path)
            response = render_error(
                ApiError(500, "internal error in the pixelproof mock", type="server_error")
            )
        finally:
            padded = faults.active("huge-body")
            faults.reset_request_faults(token)
            RUN_TRACE.reset(trace)
        if padded and response.status_code >= 400:
            # an outage pads every answer, the gateway's own error included (its upstream padded too)
            response = _padded()
        if recorded is not None:
            recorded.status = response.status_code
            recorded.notes.update(inc.notes)
        return response

    return pipeline(run)
