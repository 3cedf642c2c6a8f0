"""Unknown-model probes are not one fixed name: each request draws its own (a random suffix, a
punctuation look-alike of a documented model), so a gateway that special-cases the names it has
seen pixelproof send is still caught."""

from __future__ import annotations

import itertools
import re
import secrets

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from conftest import ForeignRun, Outcomes, foreign_gateway
from pixelproof.catalogue import Catalogue
from pixelproof.mock.server import Running, start
from pixelproof.observe import Observer
from pixelproof.plan import lookalike

UNKNOWN = ("model.unknown", "model.unknown.suffix", "model.unknown.lookalike")


def test_lookalikes_are_several_and_none_is_documented(catalogue: Catalogue) -> None:
    drawn = {lookalike("dall-e-3", secrets.token_hex(6)) for _ in range(300)}
    assert drawn == {"dalle-3", "dall-e3", "dalle3", "dall_e_3", "dall.e.3"}
    assert not drawn & set(catalogue.models_on("unified"))


def learned_gateway(upstream: str, known: list[str], refused: set[str]) -> Starlette:
    """Serves any name equal to a documented one but for punctuation, except the names it was
    taught pixelproof probes with (``refused``): a gateway tuned to a fixed probe."""
    squashed = {"".join(c for c in m if c.isalnum()): m for m in known}

    async def generations(request: Request, client: httpx.AsyncClient) -> Response:
        body = await request.json()
        name = str(body.get("model"))
        model = name if name in known else squashed.get("".join(c for c in name if c.isalnum()))
        if model is None or name in refused:
            return JSONResponse({"error": {"message": f"unknown model {name}"}}, status_code=404)
        answer = await client.post("/v1/images/generations", json={**body, "model": "gpt-image-2"})
        return Response(answer.content, answer.status_code, media_type="application/json")

    return foreign_gateway(upstream, generations)


def _run(
    run: ForeignRun, catalogue: Catalogue, gateway: Starlette | Running, run_id: str | None = None
) -> tuple[Outcomes, list[str]]:
    outcomes, observer = run(gateway, lambda c: c.rule.id in UNKNOWN,
                             models=catalogue.models_on("unified"), run_id=run_id)  # fmt: skip
    names = [str(o.exchange.request_json["model"]) for o in observer.cache.values() if o.exchange]
    return outcomes, names


def test_a_run_probes_many_distinct_unknown_names(
    foreign_gateway_outcomes: ForeignRun, catalogue: Catalogue, vendor_upstream: Running
) -> None:
    gateway = start(learned_gateway(vendor_upstream.url, catalogue.models_on("unified"), set()))
    try:
        outcomes, first = _run(foreign_gateway_outcomes, catalogue, gateway)
        _, second = _run(foreign_gateway_outcomes, catalogue, gateway)
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
    foreign_gateway_outcomes: ForeignRun, catalogue: Catalogue, vendor_upstream: Running,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """It refuses exactly the names the previous run probed and serves any other name equal to
    a documented one but for punctuation: the next run draws new ones. The nonces are fixed
    (run id, probe key, a count), so the look-alikes drawn are the same every time the test
    runs: with random ones, every model drawing the same look-alike again (about 5 ** -12)
    would fail it."""
    count = itertools.count()
    monkeypatch.setattr(Observer, "_nonce",
                        lambda self, probe: f"{self.run_id}-{probe.key}-{next(count):06x}")  # fmt: skip
    known = catalogue.models_on("unified")
    _, learned = _run(foreign_gateway_outcomes, catalogue,
                      learned_gateway(vendor_upstream.url, known, set()), "learn-a")  # fmt: skip
    outcomes, again = _run(foreign_gateway_outcomes, catalogue,
                           learned_gateway(vendor_upstream.url, known, set(learned)), "learn-b")  # fmt: skip
    assert set(again) != set(learned)
    lookalikes = {
        k: o for k, (o, _) in outcomes.items() if k.startswith("model.unknown.lookalike[")
    }
    assert "failed" in lookalikes.values(), lookalikes
    others = {
        k: o for k, (o, _) in outcomes.items() if not k.startswith("model.unknown.lookalike[")
    }
    assert set(others.values()) == {"passed"}
