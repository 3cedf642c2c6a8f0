"""The image budget counts the worst case: a request the documents say must be refused (unknown
or missing model, no or a wrong key, an upstream asked to fail) still buys an image from a gateway
that breaks the rule (it routes the unknown name to a default model, ignores the key, fails over
to a real vendor). `plan` prints those images and `--budget` stops before them, so a lax gateway
never makes a run buy more than its budget (a real server on loopback, counting what it sells)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pixelproof.catalogue import Catalogue
from pixelproof.judging.evaluate import evaluate
from pixelproof.mock.server import Running, start
from pixelproof.observe import Observer
from pixelproof.plan import cases_for, unique_probes
from pixelproof.report.plan_view import build_plan
from pixelproof.samples import sample_b64
from pixelproof.target import Profile

KEY_ENV = "PP_BUDGET_WORST_CASE_KEY"
REFUSABLE = {"model_required", "model_unknown", "error_shape", "auth", "upstream_failure"}
BUDGET = 3


class Lax:
    """Sells an image for every request, whatever its model or key (counts what it sold)."""

    def __init__(self) -> None:
        self.sold = 0

    async def generations(self, request: Request) -> Response:
        body = await request.json()
        n = body.get("n") if isinstance(body, dict) else None
        n = n if isinstance(n, int) and 0 < n <= 10 else 1
        self.sold += n
        return JSONResponse({"created": 1, "data": [{"b64_json": sample_b64("png512")}] * n})


@pytest.fixture
def lax() -> Iterator[tuple[Lax, Running]]:
    seller = Lax()
    app = Starlette(routes=[Route("/v1/images/generations", seller.generations, methods=["POST"])])
    running = start(app)
    try:
        yield seller, running
    finally:
        running.stop()


def _profile(url: str, budget: int | None) -> Profile:
    return Profile.model_validate({
        "surfaces": {"unified": {"base_url": url, "models": ["gpt-image-2", "dall-e-3"]}},
        "credentials": {"env": KEY_ENV}, "timeout_s": 10, "budget_images": budget,
    })  # fmt: skip


def test_refusable_requests_are_planned_as_bought(catalogue: Catalogue) -> None:
    profile = _profile("http://127.0.0.1:9", None)
    cases = cases_for(catalogue, profile, REFUSABLE)
    assert {c.rule.kind for c in cases} >= {"model_required", "model_unknown", "auth"}
    probes = list(unique_probes(cases).values())
    assert probes
    assert all(p.images >= 1 for p in probes)
    every = list(unique_probes(cases_for(catalogue, profile)).values())
    assert build_plan(catalogue, profile, None).images == sum(p.images for p in every)


def test_a_lax_gateway_never_sells_more_than_the_budget(
    catalogue: Catalogue, lax: tuple[Lax, Running]
) -> None:
    seller, running = lax
    os.environ[KEY_ENV] = "pp-budget-worst-case-key-0123"
    profile = _profile(running.url, BUDGET)
    cases = cases_for(catalogue, profile, REFUSABLE)
    assert len(unique_probes(cases).values()) > BUDGET  # else the budget would never bite
    observer = Observer(catalogue, profile)
    try:
        outcomes = evaluate(observer, cases)
    finally:
        observer.close()
    assert 0 < seller.sold <= BUDGET
    skipped = [m for o, m in outcomes.values() if o == "skipped" and "image budget" in m]
    assert skipped  # the rest is reported as left unrun, never silently bought
