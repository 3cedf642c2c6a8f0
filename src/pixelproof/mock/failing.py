"""The vendor mock fails on demand, for one request: the request itself asks for it.

A request whose body carries ``[pixelproof-upstream:503]`` is answered 503 with an HTML page (what
a load balancer in front of a vendor sends); one carrying ``[pixelproof-upstream:drop]`` gets its
connection closed halfway through the answer (the gateway sees no complete answer: the upstream
is gone). Only the upstream role reacts. Because the trigger travels inside the request (a
prompt marker, forwarded by any gateway), it works behind any gateway and never disturbs
another request running at the same time, unlike a fault switched on for the whole process.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from typing import Any

from starlette.responses import Response

from pixelproof.surfaces.paths import UPSTREAM_FAILURE

MODES = ("503", "drop")
MARKS = {mode: UPSTREAM_FAILURE.format(mode=mode) for mode in MODES}
UNFINISHED = "ASGI callable returned without completing response."
PAGE = (
    b"<html><head><title>503 Service Temporarily Unavailable</title></head><body>"
    b"<center><h1>503 Service Temporarily Unavailable</h1></center></body></html>"
)


def requested(value: Any) -> str | None:
    """The failure a parsed request (JSON value or form fields) asks for in any of its strings
    (``503`` or ``drop``), or None."""
    if isinstance(value, str):
        if "[pixelproof-upstream:" not in value:
            return None
        return next((mode for mode, mark in MARKS.items() if mark in value), None)
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return next((mode for mode in map(requested, items) if mode), None)


MARK_START = UPSTREAM_FAILURE.split("{", 1)[0].encode()  # "[pixelproof-upstream:"


def may_be_marked(body: bytes | bytearray) -> bool:
    """Whether a JSON body's strings may carry a mark (then ``requested`` walks them), read off
    its bytes before they are parsed: UTF-8 text without the mark's start, a backslash (an
    escape could spell it) or a NUL byte (UTF-16 and UTF-32 text) holds no string with a mark.
    The mock's usual request has no mark, and walking its parsed body cost more than this."""
    return MARK_START in body or b"\\" in body or b"\x00" in body


class _Dropped(Response):
    """Headers promising a body, a few bytes of it, then the connection closes."""

    def __init__(self) -> None:
        super().__init__(b"", status_code=200, media_type="application/json")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        _QUIET.expect()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"4096")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"data": [', "more_body": True})


def answer(mode: str) -> Response:
    if mode == "drop":
        return _Dropped()
    return Response(PAGE, status_code=503, media_type="text/html")


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no event loop in this thread
        return None


class _QuietDrops(logging.Filter):
    """uvicorn logs one error line for every answer left unfinished; a drop asked for on purpose
    is not an error of the mock, so that line is dropped, but only for the drop's own request:
    uvicorn runs each request in a task of its own and logs the line from it, so the drop names
    its task and only a line logged from a named task is dropped. An unfinished answer of any
    other request (a real bug) is always logged, whatever drops happen around it."""

    def __init__(self) -> None:
        super().__init__()
        self.tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
        self.lock = threading.Lock()

    def expect(self) -> None:
        task = _current_task()
        if task is not None:
            with self.lock:
                self.tasks.add(task)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage() != UNFINISHED:
            return True
        task = _current_task()
        with self.lock:
            if task is not None and task in self.tasks:
                self.tasks.discard(task)
                return False
        return True


_QUIET = _QuietDrops()
logging.getLogger("uvicorn.error").addFilter(_QUIET)
