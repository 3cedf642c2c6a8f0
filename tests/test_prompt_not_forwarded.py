"""prompt.required.not-forwarded against gateways of other designs (real servers on loopback, in
front of the vendor mock). A prompt-less request has no prompt to carry its nonce: `user` carries
it, and where a gateway drops that too, only a recorder window with no untagged call in it shows
that nothing was forwarded. So: a pass-through is caught by the tag; a gateway refusing with its
own status and wording passes; one forwarding without the tag is not judged (never passed, never
failed); other clients' untagged traffic in one window does not decide the case."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pixelproof.catalogue import Catalogue
from pixelproof.judging.evaluate import evaluate
from pixelproof.mock.app import create_app
from pixelproof.mock.server import Running, start
from pixelproof.mock.state import MockConfig
from pixelproof.observe import WINDOW_TRIES, Observer
from pixelproof.plan import cases_for
from pixelproof.target import Profile

KEY = "pp-prompt-forward-key-0123"
KEY_ENV = "PP_PROMPT_FORWARD_KEY"
RULES = {"prompt.required", "prompt.required.not-forwarded"}
Handler = Callable[[dict[str, object], httpx.AsyncClient], Awaitable[Response]]


@pytest.fixture(scope="module")
def upstream() -> Iterator[Running]:
    running = start(create_app(MockConfig(role="upstream", time_scale=1000, api_key=KEY)))
    try:
        yield running
    finally:
        running.stop()


def gateway_app(upstream: str, handle: Handler) -> Starlette:
    client = httpx.AsyncClient(
        base_url=upstream, timeout=30, headers={"authorization": f"Bearer {KEY}"}
    )

    async def generations(request: Request) -> Response:
        return await handle(await request.json(), client)

    return Starlette(routes=[Route("/v1/images/generations", generations, methods=["POST"])])


async def _relay(client: httpx.AsyncClient, body: dict[str, object]) -> Response:
    answer = await client.post("/v1/images/generations", json=body)
    return Response(answer.content, answer.status_code, media_type="application/json")


async def passthrough(body: dict[str, object], client: httpx.AsyncClient) -> Response:
    """Every field as it came: the upstream refuses the missing prompt, the proxy relays it."""
    return await _relay(client, body)


async def rebuilding(body: dict[str, object], client: httpx.AsyncClient) -> Response:
    """Builds its own upstream body from the fields it knows (no `user`): nothing carries the tag."""
    return await _relay(client, {k: v for k, v in body.items() if k in ("model", "prompt", "n")})


async def fastapi_style(body: dict[str, object], client: httpx.AsyncClient) -> Response:
    """Refuses itself, but with 422 and a FastAPI-style detail instead of OpenAI's error object."""
    if "prompt" not in body:
        detail = [{"loc": ["body", "prompt"], "msg": "Field required", "type": "missing"}]
        return JSONResponse({"detail": detail}, status_code=422)
    return await _relay(client, {**body, "response_format": "b64_json"})


def busy_neighbour() -> Handler:
    """Refuses itself; but while it answers the first request judged by a window (the second
    prompt-less one), another client's untagged call reaches the upstream (as fuzzing on another
    worker would)."""
    seen: list[int] = []

    async def handle(body: dict[str, object], client: httpx.AsyncClient) -> Response:
        if "prompt" not in body:
            seen.append(1)
            if "user" in body and len(seen) == 2:  # the first request judged by a window
                await client.post("/v1/images/generations",
                                  json={"model": "gpt-image-2", "prompt": "someone else's cat"})  # fmt: skip
            return JSONResponse({"error": {"message": "prompt is required"}}, status_code=400)
        return await _relay(client, {**body, "response_format": "b64_json"})

    return handle


def _outcomes(
    catalogue: Catalogue, handle: Handler, upstream: Running
) -> tuple[dict[str, tuple[str, str]], int]:
    os.environ[KEY_ENV] = KEY
    gateway = start(gateway_app(upstream.url, handle))
    try:
        profile = Profile.model_validate({
            "surfaces": {"unified": {"base_url": gateway.url, "models": ["gpt-image-2"]}},
            "credentials": {"env": KEY_ENV}, "recorder": upstream.url, "timeout_s": 30,
        })  # fmt: skip
        cases = [c for c in cases_for(catalogue, profile) if c.rule.id in RULES and c.claimed]
        assert {c.rule.id for c in cases} == RULES
        observer = Observer(catalogue, profile)
        try:
            return evaluate(observer, cases), observer.requests_sent
        finally:
            observer.close()
    finally:
        gateway.stop()


def _by_rule(outcomes: dict[str, tuple[str, str]]) -> dict[str, str]:
    return {case_id.split("[")[0]: outcome for case_id, (outcome, _) in outcomes.items()}


def test_a_passthrough_forwarding_the_prompt_less_request_is_caught_by_its_tag(
    catalogue: Catalogue, upstream: Running
) -> None:
    outcomes, _ = _outcomes(catalogue, passthrough, upstream)
    assert _by_rule(outcomes) == {
        "prompt.required": "passed",
        "prompt.required.not-forwarded": "failed",
    }
    message = outcomes["prompt.required.not-forwarded[gpt-image-2]"][1]
    assert "nothing reaches an upstream" in message
    assert "1 upstream call(s)" in message


def test_a_gateway_refusing_its_own_way_passes(catalogue: Catalogue, upstream: Running) -> None:
    outcomes, _ = _outcomes(catalogue, fastapi_style, upstream)
    assert {k: v for k, v in outcomes.items() if v[0] != "passed"} == {}


def test_forwarding_without_the_tag_is_not_judged(catalogue: Catalogue, upstream: Running) -> None:
    outcomes, sent = _outcomes(catalogue, rebuilding, upstream)
    assert _by_rule(outcomes) == {
        "prompt.required": "passed",
        "prompt.required.not-forwarded": "skipped",
    }
    message = outcomes["prompt.required.not-forwarded[gpt-image-2]"][1]
    assert "whether the request reached the upstream is unknown" in message
    assert "without any pixelproof nonce" in message
    assert sent == 1 + WINDOW_TRIES  # prompt.required's request, then one per window


def test_another_clients_untagged_call_in_one_window_does_not_decide(
    catalogue: Catalogue, upstream: Running
) -> None:
    outcomes, sent = _outcomes(catalogue, busy_neighbour(), upstream)
    assert {k: v for k, v in outcomes.items() if v[0] != "passed"} == {}
    assert sent == 3  # prompt.required, then not-forwarded twice (the first window was busy)
