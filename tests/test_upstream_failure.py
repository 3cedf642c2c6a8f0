"""The upstream-failure rules against gateways of other designs (real servers on loopback, written
here, in front of the vendor mock): the mock fails only the request that asks for it; a gateway
that relays the upstream's page or crashes is caught; one that keeps the promise in a way the
reference gateway does not (another status, another error shape, a failover) passes; one whose
request never reaches the mock upstream is not judged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from conftest import VENDOR_KEY, ForeignRun, Outcomes, by_rule, foreign_gateway
from pixelproof.mock.failing import UNFINISHED, _QuietDrops
from pixelproof.mock.server import Running, start
from pixelproof.plan import UPSTREAM_FAILURE
from pixelproof.samples import sample_b64

MARK_503 = UPSTREAM_FAILURE.format(mode="503")
RULES = {"upstream.failure.503", "upstream.failure.unreachable"}
# What a failed upstream call turns into: (status or None if no answer, body bytes, content type).
Failed = tuple[int | None, bytes, str]
OnFailure = Callable[[Failed, dict[str, object], httpx.AsyncClient], Awaitable[Response]]


def gateway_app(upstream: str, on_failure: OnFailure) -> Starlette:
    """Forward generations to the vendor mock's OpenAI API; ``on_failure`` answers when it fails."""

    async def generations(request: Request, client: httpx.AsyncClient) -> Response:
        body = await request.json()
        up = {"model": body["model"], "prompt": body["prompt"], "response_format": "b64_json"}
        try:
            answer = await client.post("/v1/images/generations", json=up)
        except httpx.HTTPError:
            return await on_failure((None, b"", ""), up, client)
        if answer.status_code >= 500:
            failed = (answer.status_code, answer.content, answer.headers.get("content-type", ""))
            return await on_failure(failed, up, client)
        return Response(answer.content, answer.status_code, media_type="application/json")

    return foreign_gateway(upstream, generations)


async def relay(failed: Failed, up: dict[str, object], client: httpx.AsyncClient) -> Response:
    """A thin proxy: the upstream's page as it came; no answer at all becomes a framework 500."""
    status, body, ctype = failed
    if status is None:
        return Response(b"Internal Server Error", 500, media_type="text/plain")
    return Response(body, status, media_type=ctype)


async def plain_json(failed: Failed, up: dict[str, object], client: httpx.AsyncClient) -> Response:
    """Another shape, another status, another wording than the reference gateway's 502."""
    return JSONResponse({"message": "image channel unavailable, try later"}, status_code=503)


async def failover(failed: Failed, up: dict[str, object], client: httpx.AsyncClient) -> Response:
    """Tries a second channel (here: the same vendor, asked without the failure marker)."""
    second = {
        **up,
        "prompt": str(up["prompt"]).replace(MARK_503, "").replace("[pixelproof-upstream:drop]", ""),
    }
    answer = await client.post("/v1/images/generations", json=second)
    return Response(answer.content, answer.status_code, media_type="application/json")


async def page_in_message(
    failed: Failed, up: dict[str, object], client: httpx.AsyncClient
) -> Response:
    """A JSON error in a good shape whose message carries the upstream's page as it came."""
    text = f"upstream answered {failed[0]}: {failed[1].decode(errors='replace')}"
    return JSONResponse({"error": {"message": text, "type": "upstream_error"}}, status_code=502)


async def page_in_escaped_message(
    failed: Failed, up: dict[str, object], client: httpx.AsyncClient
) -> Response:
    """The same, written the way Go's encoding/json writes it (``<`` as ``\\u003c``)."""
    text = f"upstream: {failed[1].decode(errors='replace')}".replace("<", "\\u003c")
    body = '{"error": {"message": "' + text.replace('"', '\\"') + '"}}'
    return Response(body.encode(), 502, media_type="application/json")


async def empty_success(
    failed: Failed, up: dict[str, object], client: httpx.AsyncClient
) -> Response:
    return JSONResponse({"created": 1, "data": []})


def elsewhere_app() -> Starlette:
    """Serves every model from a channel of its own: nothing reaches the mock upstream."""

    async def generations(request: Request) -> Response:
        return JSONResponse({"created": 1, "data": [{"b64_json": sample_b64("png512")}]})

    return Starlette(routes=[Route("/v1/images/generations", generations, methods=["POST"])])


def _outcomes(run: ForeignRun, app: Starlette) -> Outcomes:
    outcomes, _ = run(app, lambda c: c.rule.kind == "upstream_failure")
    assert {k.split("[")[0] for k in outcomes} == RULES
    return outcomes


def test_the_mock_fails_only_the_request_that_asks(vendor_upstream: Running) -> None:
    headers = {"authorization": f"Bearer {VENDOR_KEY}"}
    with httpx.Client(base_url=vendor_upstream.url, headers=headers, timeout=30) as client:
        body = {"model": "gpt-image-2", "prompt": "a red cube", "response_format": "b64_json"}
        failed = client.post(
            "/v1/images/generations", json={**body, "prompt": f"a red cube {MARK_503}"}
        )
        kept = client.post("/v1/images/generations", json=body)
        with pytest.raises(httpx.RemoteProtocolError):
            client.post(
                "/v1/images/generations", json={**body, "prompt": "[pixelproof-upstream:drop]"}
            )
        after = client.post("/v1/images/generations", json=body)
    assert (failed.status_code, failed.headers["content-type"].split(";")[0]) == (503, "text/html")
    assert kept.status_code == 200
    assert after.status_code == 200
    assert kept.json()["data"][0]["b64_json"]


def test_a_gateway_relaying_the_upstream_page_is_caught(
    foreign_gateway_outcomes: ForeignRun, vendor_upstream: Running
) -> None:
    outcomes = _outcomes(foreign_gateway_outcomes, gateway_app(vendor_upstream.url, relay))
    assert by_rule(outcomes) == {
        "upstream.failure.503": "failed",
        "upstream.failure.unreachable": "failed",
    }
    message = outcomes["upstream.failure.503[gpt-image-2]"][1]
    assert "text/html" in message
    assert "a JSON error body with a message" in message


@pytest.mark.parametrize(
    "answer", [page_in_message, page_in_escaped_message], ids=["plain", "escaped"]
)
def test_a_json_error_carrying_the_upstream_page_is_caught(
    foreign_gateway_outcomes: ForeignRun, vendor_upstream: Running, answer: OnFailure
) -> None:
    """The statement says never the upstream's page: wrapping it in a JSON message is no better."""
    outcomes = _outcomes(foreign_gateway_outcomes, gateway_app(vendor_upstream.url, answer))
    assert by_rule(outcomes)["upstream.failure.503"] == "failed"
    message = outcomes["upstream.failure.503[gpt-image-2]"][1]
    assert "the upstream's page" in message
    assert by_rule(outcomes)["upstream.failure.unreachable"] == "passed"  # no page to carry


def test_a_gateway_hiding_the_failure_behind_an_empty_success_is_caught(
    foreign_gateway_outcomes: ForeignRun, vendor_upstream: Running
) -> None:
    outcomes = _outcomes(foreign_gateway_outcomes, gateway_app(vendor_upstream.url, empty_success))
    assert set(by_rule(outcomes).values()) == {"failed"}


@pytest.mark.parametrize("answer", [plain_json, failover], ids=["503-plain-json", "failover"])
def test_a_gateway_keeping_the_promise_its_own_way_passes(
    foreign_gateway_outcomes: ForeignRun, vendor_upstream: Running, answer: OnFailure
) -> None:
    outcomes = _outcomes(foreign_gateway_outcomes, gateway_app(vendor_upstream.url, answer))
    assert {k: v for k, v in outcomes.items() if v[0] != "passed"} == {}


def test_a_request_that_never_reached_the_mock_upstream_is_not_judged(
    foreign_gateway_outcomes: ForeignRun, vendor_upstream: Running
) -> None:
    outcomes = _outcomes(foreign_gateway_outcomes, elsewhere_app())
    assert set(by_rule(outcomes).values()) == {"skipped"}
    assert all("no upstream failure was injected" in message for _, message in outcomes.values())


def test_the_quiet_filter_drops_only_the_line_of_the_drops_own_request() -> None:
    """While a drop is under way, another request's unfinished answer (a real bug of the mock)
    is logged: the filter matches the request's task, not a count of drops."""
    record = logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 0, UNFINISHED, None, None)

    async def main() -> tuple[bool, bool, bool]:
        quiet, answered = _QuietDrops(), asyncio.Event()

        async def drop() -> bool:
            quiet.expect()
            await answered.wait()
            return quiet.filter(record)

        async def bug() -> bool:
            return quiet.filter(record)

        dropping = asyncio.create_task(drop())
        await asyncio.sleep(0)  # the drop has started and named its task
        other = await asyncio.create_task(bug())
        answered.set()
        return other, await dropping, quiet.filter(record)

    assert asyncio.run(main()) == (True, False, True)  # logged, dropped, logged (outside a task)


async def unfinished(scope: Any, receive: Any, send: Any) -> None:
    """A buggy app: headers promising a body, part of it, then it returns."""
    headers = [(b"content-type", b"application/json"), (b"content-length", b"100")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"{", "more_body": True})


def test_a_drop_is_quiet_and_a_real_unfinished_answer_is_logged(vendor_upstream: Running) -> None:
    buggy = start(Starlette(routes=[Mount("/", unfinished)]))
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(handler)  # after the servers started (uvicorn's config resets handlers)
    try:
        body = {"model": "gpt-image-2", "prompt": "[pixelproof-upstream:drop]"}
        headers = {"authorization": f"Bearer {VENDOR_KEY}"}
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.post(f"{vendor_upstream.url}/v1/images/generations", json=body, headers=headers)
        assert UNFINISHED not in lines
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(f"{buggy.url}/")
        assert lines.count(UNFINISHED) == 1
    finally:
        logger.removeHandler(handler)
        buggy.stop()
