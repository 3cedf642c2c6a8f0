"""prompt.required.not-forwarded against gateways of other designs (real servers on loopback, in
front of the vendor mock). A prompt-less request has no prompt to carry its nonce: `user` carries
it, and where a gateway drops that too, only a recorder window with no call in it that the harness
cannot attribute shows that nothing was forwarded. So: a pass-through is caught by the tag (in the
body, or in X-Pixelproof-Run when the gateway passes the client's headers on); a gateway refusing
with its own status and wording passes; one forwarding without any tag is not judged (never
passed, never failed); the harness's own traffic in a window (fuzzing, other workers' probes) is
attributed and decides nothing; another client's untagged call in one window is asked past."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from conftest import VENDOR_KEY, ForeignRun, Outcomes, by_rule, foreign_gateway
from mock_pairs import MockPair
from pixelproof.client import RUN_HEADER
from pixelproof.mock.server import Running
from pixelproof.observe import WINDOW_TRIES

RULES = {"prompt.required", "prompt.required.not-forwarded"}
Handler = Callable[[dict[str, object], httpx.AsyncClient], Awaitable[Response]]


def gateway(upstream: Running, handle: Handler, headers: tuple[str, ...] = ()) -> Starlette:
    """A gateway whose generations ``handle`` answers from the JSON body; the client's
    ``headers`` (lower-case names) are passed on to the upstream as they came."""

    async def route(request: Request, client: httpx.AsyncClient) -> Response:
        kept = {k: v for k, v in request.headers.items() if k.lower() in headers}
        if kept:
            client.headers.update(kept)
        return await handle(await request.json(), client)

    return foreign_gateway(upstream.url, route)


def _outcomes(run: ForeignRun, upstream: Running, handle: Handler,
              headers: tuple[str, ...] = ()) -> tuple[Outcomes, int]:  # fmt: skip
    outcomes, observer = run(gateway(upstream, handle, headers), lambda c: c.rule.id in RULES)
    assert {k.split("[")[0] for k in outcomes} == RULES
    return outcomes, observer.requests_sent


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


def neighbour(call: dict[str, object], headers: dict[str, str] | None = None) -> Handler:
    """Refuses itself; but while it answers the first request judged by a window (the second
    prompt-less one), ``call`` reaches the upstream from elsewhere (with ``headers``)."""
    seen: list[int] = []

    async def handle(body: dict[str, object], client: httpx.AsyncClient) -> Response:
        if "prompt" not in body:
            seen.append(1)
            if "user" in body and len(seen) == 2:  # the first request judged by a window
                await client.post("/v1/images/generations", json=call, headers=headers or {})
            return JSONResponse({"error": {"message": "prompt is required"}}, status_code=400)
        return await _relay(client, {**body, "response_format": "b64_json"})

    return handle


def test_a_passthrough_forwarding_the_prompt_less_request_is_caught_by_its_tag(
    foreign_gateway_outcomes: ForeignRun, vendor_upstream: Running
) -> None:
    outcomes, _ = _outcomes(foreign_gateway_outcomes, vendor_upstream, passthrough)
    assert by_rule(outcomes) == {
        "prompt.required": "passed",
        "prompt.required.not-forwarded": "failed",
    }
    message = outcomes["prompt.required.not-forwarded[gpt-image-2]"][1]
    assert "nothing reaches an upstream" in message
    assert "1 upstream call(s)" in message


def test_a_gateway_passing_the_clients_headers_on_is_caught_by_the_run_header(
    foreign_gateway_outcomes: ForeignRun, vendor_upstream: Running
) -> None:
    """It drops `user` but passes X-Pixelproof-Run on: the forwarded call names the request's
    nonce there, so it is the request's own call, never taken for the harness's other traffic."""
    outcomes, sent = _outcomes(foreign_gateway_outcomes, vendor_upstream, rebuilding,
                               headers=(RUN_HEADER.lower(),))  # fmt: skip
    assert by_rule(outcomes) == {
        "prompt.required": "passed",
        "prompt.required.not-forwarded": "failed",
    }
    assert "1 upstream call(s)" in outcomes["prompt.required.not-forwarded[gpt-image-2]"][1]
    assert sent == 2  # judged on the first window


def test_a_gateway_refusing_its_own_way_passes(
    foreign_gateway_outcomes: ForeignRun, vendor_upstream: Running
) -> None:
    outcomes, _ = _outcomes(foreign_gateway_outcomes, vendor_upstream, fastapi_style)
    assert {k: v for k, v in outcomes.items() if v[0] != "passed"} == {}


def test_forwarding_without_the_tag_is_not_judged(
    foreign_gateway_outcomes: ForeignRun, vendor_upstream: Running
) -> None:
    outcomes, sent = _outcomes(foreign_gateway_outcomes, vendor_upstream, rebuilding)
    assert by_rule(outcomes) == {
        "prompt.required": "passed",
        "prompt.required.not-forwarded": "skipped",
    }
    message = outcomes["prompt.required.not-forwarded[gpt-image-2]"][1]
    assert "whether the request reached the upstream is unknown" in message
    assert "without any pixelproof nonce" in message
    assert sent == 1 + WINDOW_TRIES  # prompt.required's request, then one per window


def test_another_clients_untagged_call_in_one_window_does_not_decide(
    foreign_gateway_outcomes: ForeignRun, vendor_upstream: Running
) -> None:
    cat = {"model": "gpt-image-2", "prompt": "someone else's cat"}
    outcomes, sent = _outcomes(foreign_gateway_outcomes, vendor_upstream, neighbour(cat))
    assert {k: v for k, v in outcomes.items() if v[0] != "passed"} == {}
    assert sent == 3  # prompt.required, then not-forwarded twice (the first window was busy)


@pytest.mark.parametrize(
    ("call", "headers"),
    [  # a fuzz anchor through a gateway that drops headers; schemathesis' random prompt sent
        # straight to a vendor surface; another worker's probe passed on with its run header
        ({"model": "gpt-image-2", "prompt": "a red cube [pp:fuzz-0123456789ab-cdef01]"}, {}),
        ({"model": "gpt-image-2", "prompt": "\x00~zz"}, {"X-Pixelproof-Tag": "fuzz-other"}),
        ({"model": "gpt-image-2", "prompt": "plain"}, {RUN_HEADER: "other-worker pp:x-1-2"}),
    ],
)
def test_the_harness_own_traffic_in_a_window_is_attributed(
    foreign_gateway_outcomes: ForeignRun, vendor_upstream: Running,
    call: dict[str, object], headers: dict[str, str],
) -> None:  # fmt: skip
    outcomes, sent = _outcomes(foreign_gateway_outcomes, vendor_upstream, neighbour(call, headers))
    assert {k: v for k, v in outcomes.items() if v[0] != "passed"} == {}
    assert sent == 2  # judged on the first window: the call in it is the harness's own


@pytest.fixture
def harness_traffic(vendor_upstream: Running) -> Iterator[list[int]]:
    """Another pixelproof process posting to the vendor mock as fast as it can (fuzzing a vendor
    surface: random prompts, the run header), for as long as the test runs."""
    stop, started, sent = threading.Event(), threading.Event(), [0]

    def post() -> None:
        with httpx.Client(base_url=vendor_upstream.url, timeout=30) as client:
            while not stop.is_set():
                client.post("/v1/images/generations", json={"model": "gpt-image-2", "prompt": "q"},
                            headers={"authorization": f"Bearer {VENDOR_KEY}", RUN_HEADER: "fuzzing"})  # fmt: skip
                sent[0] += 1
                started.set()

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    assert started.wait(timeout=30), "the harness traffic never reached the vendor mock"
    try:
        yield sent
    finally:
        stop.set()
        thread.join(timeout=30)


def test_a_busy_harness_never_makes_a_window_unclear(
    foreign_gateway_outcomes: ForeignRun, vendor_upstream: Running, harness_traffic: list[int]
) -> None:
    """However much of the harness's own traffic falls in each window, every window is judged at
    once: the reviewer's measurement (untagged traffic at any rate sent the cases again or left
    them skipped) cannot recur, since none of it is unattributed."""
    outcomes, sent = _outcomes(foreign_gateway_outcomes, vendor_upstream, fastapi_style)
    assert {k: v for k, v in outcomes.items() if v[0] != "passed"} == {}
    assert sent == 2
    assert harness_traffic[0] > 0


def test_the_reference_gateway_passes_the_run_header_on(mock_pair: MockPair) -> None:
    """What the reference gateway forwards names the client's run and request (a test of another
    design's own request is then never unattributed, even with a random prompt), and a request
    without the header is forwarded without it."""
    body = {"model": "gpt-image-2", "prompt": "\x07 random", "response_format": "b64_json"}
    for trace in ("run-7 pp:run-7-0123456789ab-cdef01", None):
        headers = {RUN_HEADER: trace} if trace else {}
        assert mock_pair.gateway.post(
            "/v1/images/generations", json=body, headers=headers
        ).is_success
        forwarded = mock_pair.forwarded(method="POST")[-1]
        assert forwarded["headers"].get(RUN_HEADER.lower()) == trace
