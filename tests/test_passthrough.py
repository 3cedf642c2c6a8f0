"""A gateway of another design: a plain OpenAI pass-through (a real proxy on loopback, written
here, forwarding /v1/images/* to the vendor mock) judged at two levels. Held to openai-images it
keeps every promise; held to unified-gateway it fails exactly the promises only the unified layer
makes, each named, and reports nothing else as broken."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from conftest import TLS_CONTEXT, pixelproof_inprocess
from pixelproof.catalogue import Catalogue
from pixelproof.client import Client
from pixelproof.discover import discover
from pixelproof.mock.app import create_app
from pixelproof.mock.server import Running, start
from pixelproof.mock.state import MockConfig

KEY = "pp-passthrough-key-0123"
MODELS = ["gpt-image-2", "gpt-image-1", "dall-e-2", "dall-e-3"]
FORWARDED_HEADERS = ("authorization", "content-type", "x-pixelproof-fault")

# Read off the seeds and DOMAIN.md by hand: what the unified layer promises and OpenAI does not do.
UNIFIED_ONLY_FAILURES = {
    "n.default.zero",  # OpenAI takes n 1-10: n = 0 is refused, not read as 1
    "n.default.zero.forwarded",  # ... and a pass-through forwards the 0
    "model.unknown.not-forwarded",  # the unknown model reaches the upstream (which refuses it)
    "model.unknown.suffix.not-forwarded",  # ... and so do unknown names like documented ones
    "model.unknown.lookalike.not-forwarded",
    "n.edits.zero",  # OpenAI refuses n = 0 on edits too
    "ratio.gpt-image-2.3:4",  # `ratio` is the unified layer's field, unknown to OpenAI
    "response_format.url",  # GPT image models answer base64 only
    "response_format.base64",  # the alias is the unified layer's
    "size.gpt-image-2.16:9",  # 1920x1080 is not a gpt-image-2 size: no fallback behind a proxy
    "size.gpt-image-2.9:16",
    "fallback.gpt-image-2.16:9",
    "fallback.gpt-image-2.9:16",
    "refs.unified.forwarded",  # OpenAI generations take no `image`
    "edits.alias",  # /v1/edits is the unified layer's legacy alias
    "variations.not-implemented",  # OpenAI implements variations: images, not a refusal
    "model.required",  # OpenAI's model is optional (dall-e-2 by default): served, not refused
    "auth.missing.not-forwarded",  # the key is checked where it is known, by the vendor: the
    "auth.wrong.not-forwarded",  # request reached it (the vendor's 4xx JSON error is relayed)
    "prompt.required.not-forwarded",  # the prompt-less request reaches the vendor, which refuses it
    "upstream.failure.503",  # a failed upstream's HTML page is relayed as it came
    "upstream.failure.unreachable",  # ... and a dropped upstream becomes the proxy's 502 page
}


def passthrough_app(upstream: str, listed: list[str] | None = None) -> Starlette:
    """Forward /v1/images/* unchanged, as a thin OpenAI-compatible proxy does; with ``listed``,
    also answer ``GET /v1/models`` with those ids (OpenAI's list shape), as LiteLLM does."""

    async def models(request: Request) -> Response:
        data = [{"id": name, "object": "model", "owned_by": "pixelproof"} for name in listed or []]
        return Response(json.dumps({"object": "list", "data": data}), media_type="application/json")

    async def forward(request: Request) -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() in FORWARDED_HEADERS}
        try:  # a client per request: none is left open when the proxy stops
            async with httpx.AsyncClient(
                base_url=upstream, timeout=60, verify=TLS_CONTEXT
            ) as client:
                answer = await client.request(
                    request.method, request.url.path, content=await request.body(),
                    headers=headers, params=request.query_params,
                )  # fmt: skip
        except httpx.HTTPError:  # as nginx answers an upstream that went away
            return Response(b"<html><h1>502 Bad Gateway</h1></html>", 502, media_type="text/html")
        return Response(
            answer.content, answer.status_code, media_type=answer.headers.get("content-type")
        )

    routes = [Route("/v1/images/{rest:path}", forward, methods=["GET", "POST"])]
    if listed is not None:
        routes.append(Route("/v1/models", models))
    return Starlette(routes=routes)


@pytest.fixture(scope="module")
def proxied() -> Iterator[tuple[Running, Running]]:
    upstream = start(create_app(MockConfig(role="upstream", time_scale=1000, api_key=KEY)))
    proxy = start(passthrough_app(upstream.url))
    try:
        yield proxy, upstream
    finally:
        proxy.stop()
        upstream.stop()


def _run(tmp_path: Path, proxied: tuple[Running, Running], level: str) -> tuple[int, str, dict]:
    """The run in this process (pixelproof_inprocess); the console entry point is covered by
    test_cli_rules and test_run_cli."""
    proxy, upstream = proxied
    profile = {
        "name": "plain OpenAI pass-through",
        "level": level,
        "surfaces": {"unified": {"base_url": proxy.url, "models": MODELS}},
        "credentials": {"env": "PP_PASSTHROUGH_KEY"},
        "recorder": upstream.url,
        "timeout_s": 60,
    }
    path = tmp_path / f"{level}.yaml"
    path.write_text(yaml.safe_dump(profile))
    argv = ["run", "--target", str(path), "--report-dir", str(tmp_path), "--run-id", level,
            "--fuzz", "off"]  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PP_PASSTHROUGH_KEY", KEY)
        done = pixelproof_inprocess(*argv)
    data = json.loads((tmp_path / level / "run.json").read_text())
    return done.returncode, done.stdout + done.stderr, data


def _rules(data: dict, outcome: str) -> set[str]:
    return {o["rule"] for o in data["outcomes"] if o["outcome"] == outcome}


def test_held_to_openai_images_a_passthrough_keeps_every_promise(
    tmp_path: Path, proxied: tuple[Running, Running]
) -> None:
    code, out, data = _run(tmp_path, proxied, "openai-images")
    assert code == 0, out[-3000:]
    assert data["counts"]["failed"] == 0
    assert data["counts"]["error"] == 0
    assert data["counts"]["passed"] > 20
    assert data["target"]["levels"] == {"unified": "openai-images"}
    unclaimed = _rules(data, "not-claimed")
    assert unclaimed >= UNIFIED_ONLY_FAILURES, "the superset's rules are reported, not dropped"
    for o in data["outcomes"]:
        assert ("openai-images" in o["levels"]) is (o["outcome"] != "not-claimed"), o["case"]
    assert data["levels"]["openai-images"]["passed"] == data["counts"]["passed"]
    assert data["levels"]["unified-gateway"]["not-claimed"] == data["counts"]["not-claimed"]


def test_held_to_unified_gateway_it_fails_only_the_superset_rules(
    tmp_path: Path, proxied: tuple[Running, Running]
) -> None:
    code, out, data = _run(tmp_path, proxied, "unified-gateway")
    assert code == 1, out[-3000:]
    assert data["counts"]["error"] == 0
    assert data["counts"]["not-claimed"] == 0
    failed = _rules(data, "failed")
    assert failed == UNIFIED_ONLY_FAILURES
    for o in data["outcomes"]:
        if o["outcome"] == "failed":
            assert "openai-images" not in o["levels"], o["case"]
            assert f"rule {o['case']} (" in o["message"], "each failure names its rule"
    assert data["levels"]["openai-images"]["failed"] == 0


def test_discovery_tries_only_the_documented_models_a_models_list_names(
    proxied: tuple[Running, Running], catalogue: Catalogue
) -> None:
    """GET /v1/models narrows discovery: documented models it does not list cost no image, names
    it lists that no document knows are not claimed, and what it lists is really tried."""
    listed = ["dall-e-3", "pixelproof-house-model", "gpt-image-1"]
    lister = start(passthrough_app(proxied[1].url, listed=listed))
    client = Client(lister.url, ("Authorization", f"Bearer {KEY}"), 30)
    try:
        found = discover(lister.url, catalogue, client, budget=10)
    finally:
        client.close()
        lister.stop()
    assert found.design == "pass-through"
    assert found.listed == listed
    documented = catalogue.models_on("unified")
    assert {"gpt-image-2", "dall-e-2"} <= set(documented)  # really narrowed, not trivially equal
    want = [m for m in documented if m in listed]
    assert [(f.surface, f.served, f.refused, f.untried) for f in found.surfaces] == [
        ("unified", want, {}, [])
    ]
    assert found.images == len(want) == 2
