"""Unknown-model probes are not one fixed name: each request draws its own (a random suffix, a
punctuation look-alike of a documented model), so a gateway that special-cases the names it has
seen pixelproof send is still caught."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator

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
from pixelproof.observe import Observer
from pixelproof.plan import cases_for, lookalike
from pixelproof.target import Profile

KEY = "pp-unknown-models-key-0123"
KEY_ENV = "PP_UNKNOWN_MODELS_KEY"
UNKNOWN = ("model.unknown", "model.unknown.suffix", "model.unknown.lookalike")


def test_lookalikes_are_several_and_none_is_documented(catalogue: Catalogue) -> None:
    drawn = {lookalike("dall-e-3", secrets.token_hex(6)) for _ in range(300)}
    assert drawn == {"dalle-3", "dall-e3", "dalle3", "dall_e_3", "dall.e.3"}
    assert not drawn & set(catalogue.models_on("unified"))


@pytest.fixture(scope="module")
def upstream() -> Iterator[Running]:
    running = start(create_app(MockConfig(role="upstream", time_scale=1000, api_key=KEY)))
    try:
        yield running
    finally:
        running.stop()


def learned_gateway(upstream: str, known: list[str], refused: set[str]) -> Starlette:
    """Serves any name equal to a documented one but for punctuation, except the names it was
    taught pixelproof probes with (``refused``): a gateway tuned to a fixed probe."""
    client = httpx.AsyncClient(
        base_url=upstream, timeout=30, headers={"authorization": f"Bearer {KEY}"}
    )
    squashed = {"".join(c for c in m if c.isalnum()): m for m in known}

    async def generations(request: Request) -> Response:
        body = await request.json()
        name = str(body.get("model"))
        model = name if name in known else squashed.get("".join(c for c in name if c.isalnum()))
        if model is None or name in refused:
            return JSONResponse({"error": {"message": f"unknown model {name}"}}, status_code=404)
        answer = await client.post("/v1/images/generations", json={**body, "model": "gpt-image-2"})
        return Response(answer.content, answer.status_code, media_type="application/json")

    return Starlette(routes=[Route("/v1/images/generations", generations, methods=["POST"])])


def _run(
    catalogue: Catalogue, gateway: Running, upstream: Running
) -> tuple[dict[str, tuple[str, str]], list[str]]:
    os.environ[KEY_ENV] = KEY
    models = catalogue.models_on("unified")
    profile = Profile.model_validate({
        "surfaces": {"unified": {"base_url": gateway.url, "models": models}},
        "credentials": {"env": KEY_ENV}, "recorder": upstream.url, "timeout_s": 30,
    })  # fmt: skip
    cases = [c for c in cases_for(catalogue, profile) if c.rule.id in UNKNOWN and c.claimed]
    observer = Observer(catalogue, profile)
    try:
        outcomes = evaluate(observer, cases)
        names = [
            str(o.exchange.request_json["model"]) for o in observer.cache.values() if o.exchange
        ]
        return outcomes, names
    finally:
        observer.close()


def test_a_run_probes_many_distinct_unknown_names(catalogue: Catalogue, upstream: Running) -> None:
    gateway = start(learned_gateway(upstream.url, catalogue.models_on("unified"), set()))
    try:
        outcomes, first = _run(catalogue, gateway, upstream)
        _, second = _run(catalogue, gateway, upstream)
    finally:
        gateway.stop()
    assert set(o for o, _ in outcomes.values()) == {"failed", "passed"}  # serves look-alikes
    models = catalogue.models_on("unified")
    # model.unknown: one request per response_format; the suffix and look-alike rules: one a model
    assert len(first) == len(set(first)) == 2 + 2 * len(models)
    assert {m for m in models if any(n.startswith(f"{m}-") for n in first)} == set(models)
    random_names = {n for n in first if re.search(r"-[0-9a-f]{12}-[0-9a-f]{6}$", n)}
    assert len(random_names) == 2 + len(models)
    assert not random_names & set(second), "another run probes other random names"


def test_a_gateway_that_learned_the_last_runs_names_is_caught(
    catalogue: Catalogue, upstream: Running
) -> None:
    """It refuses exactly the names the previous run probed and serves any other name equal to
    a documented one but for punctuation: the next run draws new ones (every model drawing
    the same look-alike again has odds of about 5 ** -12)."""
    known = catalogue.models_on("unified")
    gateway = start(learned_gateway(upstream.url, known, set()))
    try:
        _, learned = _run(catalogue, gateway, upstream)
    finally:
        gateway.stop()
    gateway = start(learned_gateway(upstream.url, known, set(learned)))
    try:
        outcomes, _ = _run(catalogue, gateway, upstream)
    finally:
        gateway.stop()
    lookalikes = {
        k: o for k, (o, _) in outcomes.items() if k.startswith("model.unknown.lookalike[")
    }
    assert "failed" in lookalikes.values(), lookalikes
    others = {
        k: o for k, (o, _) in outcomes.items() if not k.startswith("model.unknown.lookalike[")
    }
    assert set(others.values()) == {"passed"}
