"""The mock's ASGI applications: a list of routes per role, plus the control API.

Control API (no auth, never recorded): ``/__pixelproof/requests`` (GET filter by path, method,
since, tag, contains; DELETE clears), ``/__pixelproof/files/{token}``, ``/__pixelproof/health``,
``/__pixelproof/faults``, ``POST /__pixelproof/clock`` (advance the clock by ``seconds``).
"""

from __future__ import annotations

from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pixelproof.catalogue import Catalogue, default_catalogue
from pixelproof.mock import faults
from pixelproof.mock.http import endpoint
from pixelproof.mock.state import MockConfig, MockState
from pixelproof.mock.tasks import TaskStore
from pixelproof.mock.vendors.ark import ArkVendor
from pixelproof.mock.vendors.gemini import GeminiVendor
from pixelproof.mock.vendors.jimeng import JimengVendor
from pixelproof.mock.vendors.openai import OpenAIVendor

CONTROL = "/__pixelproof"


def _control_routes(state: MockState) -> list[Route]:
    async def requests_(request: Request) -> Response:
        if request.method == "DELETE":
            return JSONResponse({"cleared": state.recorder.clear()})
        q = request.query_params
        try:
            since = int(q.get("since", "0"))
            limit = int(q.get("limit", "1000"))
        except ValueError:
            return JSONResponse(
                {"error": {"message": "since and limit must be integers"}}, status_code=400
            )
        items = state.recorder.query(
            path=q.get("path"),
            method=q.get("method"),
            since=since,
            tag=q.get("tag"),
            contains=q.get("contains"),
            limit=limit,
        )
        return JSONResponse(
            {"requests": [i.to_dict() for i in items], "last_seq": state.recorder.last_seq}
        )

    async def files(request: Request) -> Response:
        item = state.files.get(request.path_params["token"])
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
        try:
            seconds = float((await request.json()).get("seconds", 0))
        except (ValueError, TypeError, AttributeError):
            return JSONResponse(
                {"error": {"message": 'body must be {"seconds": number}'}}, status_code=400
            )
        state.clock.advance(seconds)
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
    jimeng = JimengVendor(catalogue, TaskStore(state.clock), state.config.job_seconds)
    return [
        Route("/v1/images/generations", endpoint(state, openai.generations), methods=["POST"]),
        Route("/v1/images/edits", endpoint(state, openai.edits), methods=["POST"]),
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
    app = Starlette(routes=routes)
    app.state.mock = state
    return app


def app_state(app: Any) -> MockState:
    return app.state.mock  # type: ignore[no-any-return]
