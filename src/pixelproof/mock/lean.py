"""The mock's hot path: a request for one of the pipeline's routes goes from uvicorn straight to
its endpoint.

Starlette runs every request through ServerErrorMiddleware, ExceptionMiddleware, a match against
every route in order and request_response's wrappers, each one more await and one more wrapped
``send``; py-spy put those layers at about a tenth of the vendor mock's CPU per request under
``bench/bench_mock.py --raw``. The pipeline (``http.endpoint``) already turns every error of its
handlers into an answer, so for its routes those layers add nothing. ``MockApp`` finds such a route
in a table built from the same route list (exact paths in a dict, parametrised ones by their own
regex), calls the endpoint and sends its response. Everything else (the control API, 404, 405,
trailing-slash redirects, HEAD) goes through Starlette as before. A route enters the table only
when no earlier route could take any of its requests, so the table never picks a different route
than Starlette's first match would.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.convertors import Convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

Endpoint = Callable[[Request], Awaitable[Response]]
Pattern = tuple[str, re.Pattern[str], dict[str, Convertor[Any]], Endpoint]


def pipeline(run: Endpoint) -> Endpoint:
    """Mark ``run`` as an endpoint of the shared pipeline (it answers every error itself)."""
    run.pixelproof_pipeline = True  # type: ignore[attr-defined]
    return run


def _prefix(route: Route) -> str:
    return route.path.split("{", 1)[0]


def _may_overlap(earlier: BaseRoute, route: Route, method: str) -> bool:
    """Could ``earlier`` take a ``method`` request that ``route`` matches? (When unsure: yes.)"""
    if not isinstance(earlier, Route):
        return True  # a Mount, a host: anything under it
    if earlier.methods is not None and method not in earlier.methods:
        return False
    if not earlier.param_convertors:
        return route.path_regex.match(earlier.path) is not None
    if not route.param_convertors:
        return earlier.path_regex.match(route.path) is not None
    a, b = _prefix(earlier), _prefix(route)
    return a.startswith(b) or b.startswith(a)  # two literal prefixes that part never meet


def lean_table(routes: Sequence[BaseRoute]) -> tuple[dict[tuple[str, str], Endpoint], list[Pattern]]:  # fmt: skip
    """(exact (method, path) -> endpoint, parametrised routes in order) for the pipeline's
    routes that no earlier route can shadow."""
    exact: dict[tuple[str, str], Endpoint] = {}
    patterns: list[Pattern] = []
    for i, route in enumerate(routes):
        if not isinstance(route, Route) or not getattr(
            route.endpoint, "pixelproof_pipeline", False
        ):
            continue
        for method in sorted(route.methods or ()):
            if method == "HEAD" or any(_may_overlap(e, route, method) for e in routes[:i]):
                continue
            if route.param_convertors:
                patterns.append((method, route.path_regex, route.param_convertors, route.endpoint))
            else:
                exact[(method, route.path)] = route.endpoint
    return exact, patterns


class MockApp(Starlette):
    """Starlette, with the pipeline's routes served without its middleware and router."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        super().__init__(routes=list(routes))
        self.lean_exact, self.lean_patterns = lean_table(self.routes)

    def lean_route(self, method: str, path: str) -> tuple[Endpoint, dict[str, Any]] | None:
        """The pipeline endpoint and path parameters for a request, or None (Starlette's)."""
        found = self.lean_exact.get((method, path))
        if found is not None:
            return found, {}
        for want, regex, convertors, run in self.lean_patterns:
            if want == method and (match := regex.match(path)) is not None:
                params = {k: convertors[k].convert(v) for k, v in match.groupdict().items()}
                return run, params
        return None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            found = self.lean_route(scope["method"], scope["path"])
            if found is not None:
                scope["app"] = self
                scope["path_params"] = found[1]
                response = await found[0](Request(scope, receive, send))
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)
