"""The mock's ASGI applications: a list of routes per role, plus the control API.

Control API (never recorded): ``/__pixelproof/requests`` (GET filter by path, method, since, tag,
contains, paged by limit and before; DELETE clears), ``/__pixelproof/files/{token}``,
``/__pixelproof/health``, ``/__pixelproof/faults``, ``POST /__pixelproof/clock`` (advance the
clock by ``seconds``, a finite number; with ``settle``, first wait up to that many real seconds for
the jobs the mock has running: a jumping clock, see ``stack_clock.py``). Reads are open; the two routes that change state take the
mock's API key when one is configured.
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pixelproof.catalogue import Catalogue, default_catalogue
from pixelproof.mock import faults
from pixelproof.mock.http import authorized, endpoint
from pixelproof.mock.jsonresp import JSONResponse
from pixelproof.mock.lean import MockApp
from pixelproof.mock.state import MockConfig, MockState
from pixelproof.mock.vendors.ark import ArkVendor
from pixelproof.mock.vendors.gemini import GeminiVendor
from pixelproof.mock.vendors.jimeng import JimengVendor
from pixelproof.mock.vendors.openai import OpenAIVendor
from pixelproof.surfaces.paths import FILE_AGE_HEADER

CONTROL = "/__pixelproof"


PAGE_LIMIT = 5000  # records per GET of the recorder (its default capacity)
PAGE_BYTES = (
    16 * 1024 * 1024
)  # and bytes: a larger page is cut, oldest first (``more``, ``before``)
MAX_ADVANCE_S = 1e7  # ~115 days: more than any documented task deadline
MAX_SETTLE_S = 60.0  # the longest a clock request waits for running jobs (real seconds)


def _bad(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "invalid_request_error"}},
                        status_code=status)  # fmt: skip


def _control_refused(request: Request, state: MockState) -> JSONResponse | None:
    """Changing the mock's state (clock, clearing the recorder) takes its key when it has one."""
    key = state.config.api_key
    headers = {k.lower(): v for k, v in request.headers.items()}
    if key and not authorized(headers, dict(request.query_params), key):
        return _bad("control routes that change state need the mock's API key", 401)
    return None


def _file_age(request: Request) -> float | Response | None:
    """The age a download asks to be judged at (FILE_AGE_HEADER): seconds, finite, >= 0."""
    raw = request.headers.get(FILE_AGE_HEADER)
    if raw is None:
        return None
    try:
        age = float(raw)
    except ValueError:
        age = math.nan
    if not math.isfinite(age) or age < 0:
        return _bad(f"{FILE_AGE_HEADER} must be a number of seconds >= 0 (got {raw[:40]!r})")
    return age


def _number_within(value: Any, most: float) -> bool:
    return (not isinstance(value, bool) and isinstance(value, int | float)
            and math.isfinite(value) and 0 <= value <= most)  # fmt: skip


def _control_routes(state: MockState) -> list[Route]:
    async def requests_(request: Request) -> Response:
        if request.method == "DELETE":
            refused = _control_refused(request, state)
            return refused or JSONResponse({"cleared": state.recorder.clear()})
        q = request.query_params
        try:
            since = int(q.get("since", "0"))
            limit = int(q.get("limit", str(PAGE_LIMIT)))
            before = int(q["before"]) if "before" in q else None
        except ValueError:
            return _bad("since, before and limit must be integers")
        if limit < 1:
            return _bad("limit must be at least 1")
        limit = min(limit, PAGE_LIMIT)
        items = state.recorder.query(path=q.get("path"), method=q.get("method"), since=since,
                                     tag=q.get("tag"), contains=q.get("contains"), limit=limit + 1,
                                     before=before)  # fmt: skip
        page, more = [i.to_dict() for i in items[-limit:]], len(items) > limit
        while len(page) > 1 and len(json.dumps(page, default=str)) > PAGE_BYTES:
            page, more = page[1:], True  # the page keeps the newest; `before` reaches the rest
        body: dict[str, Any] = {"requests": page, "last_seq": state.recorder.last_seq, "more": more}
        if more and page:
            body["before"] = page[0]["seq"]
        return JSONResponse(body)

    async def files(request: Request) -> Response:
        age = _file_age(request)
        if isinstance(age, Response):
            return age
        item = state.files.get(request.path_params["token"], age)
        if item is None:
            return JSONResponse(
                {"error": {"message": "file not found or expired", "type": "not_found"}},
                status_code=404,
            )
        return Response(item.data, media_type=item.media_type)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "role": state.config.role, "faults": sorted(state.config.faults),
                             "time_scale": state.config.time_scale, "clock": state.clock.now()})  # fmt: skip

    async def fault_list(request: Request) -> Response:
        return JSONResponse(
            {"faults": [vars(f) | {"breaks": list(f.breaks)} for f in faults.CATALOGUE.values()]}
        )

    async def clock(request: Request) -> Response:
        refused = _control_refused(request, state)
        if refused:
            return refused
        try:
            body = json.loads(await request.body())
        except (ValueError, RecursionError):
            body = None
        seconds = body.get("seconds", 0) if isinstance(body, dict) else None
        settle = body.get("settle", 0) if isinstance(body, dict) else None
        if not _number_within(seconds, MAX_ADVANCE_S) or not _number_within(settle, MAX_SETTLE_S):
            return _bad(f'body must be {{"seconds": a number from 0 to {MAX_ADVANCE_S:g}, '
                        f'"settle" (optional): a number from 0 to {MAX_SETTLE_S:g}}}')  # fmt: skip
        jobs = state.busy()
        if settle and jobs:  # what real time would have let run, without waiting past its end
            await asyncio.wait(jobs, timeout=float(settle))
        state.clock.advance(float(seconds))
        return JSONResponse({"clock": state.clock.now()})

    async def sample(request: Request) -> Response:
        from pixelproof.geometry import Size
        from pixelproof.images import RenderSpec, render

        return Response(render(RenderSpec(Size(512, 512), "png", shade=3)), media_type="image/png")

    return [
        Route(f"{CONTROL}/sample.png", sample, methods=["GET"]),
        Route(f"{CONTROL}/requests", requests_, methods=["GET", "DELETE"]),
        Route(f"{CONTROL}/files/{{token}}", files, methods=["GET"]),
        Route(f"{CONTROL}/health", health, methods=["GET"]),
        Route(f"{CONTROL}/faults", fault_list, methods=["GET"]),
        Route(f"{CONTROL}/clock", clock, methods=["POST"]),
    ]


def upstream_routes(state: MockState, catalogue: Catalogue) -> list[Route]:
    openai = OpenAIVendor(catalogue)
    ark = ArkVendor(catalogue)
    gemini = GeminiVendor(catalogue)
    jimeng = JimengVendor(catalogue, state.task_store(), state.config.job_seconds)
    return [
        Route("/v1/images/generations", endpoint(state, openai.generations), methods=["POST"]),
        Route("/v1/images/edits", endpoint(state, openai.edits), methods=["POST"]),
        Route("/v1/images/variations", endpoint(state, openai.variations), methods=["POST"]),
        Route(
            "/v1beta/models/{model}:generateContent",
            endpoint(state, gemini.generate, "google"),
            methods=["POST"],
        ),
        Route(
            "/api/v3/images/generations", endpoint(state, ark.generations, "ark"), methods=["POST"]
        ),
        Route("/", endpoint(state, jimeng.dispatch, "jimeng"), methods=["POST"]),
    ]


def create_app(
    config: MockConfig | None = None,
    catalogue: Catalogue | None = None,
    upstream_transport: httpx.AsyncBaseTransport | None = None,
) -> Starlette:
    """The mock as an ASGI app. ``upstream_transport`` lets a gateway talk to an in-process upstream."""
    config = config or MockConfig()
    faults.validate(config.faults)
    catalogue = catalogue or default_catalogue()
    state = MockState(config)
    routes = _control_routes(state)
    if config.role == "gateway":
        from pixelproof.mock.gateway import gateway_routes

        routes += gateway_routes(state, catalogue, upstream_transport)
    else:
        routes += upstream_routes(state, catalogue)
    app = MockApp(routes)
    app.state.mock = state
    return app


def app_state(app: Any) -> MockState:
    return app.state.mock  # type: ignore[no-any-return]
