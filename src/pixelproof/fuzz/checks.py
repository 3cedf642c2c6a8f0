"""Checks registered with schemathesis that judge with pixelproof's own verdict helpers.

Schemathesis runs them next to its built-in conformance checks through ``Case.validate_response``.
They read the request's ``Expectation`` (the oracle's, from the rules) and reuse ``judge``:
``images_in`` decodes what came back, ``openai_error_shape`` / ``json_error`` judge error bodies,
``ratio_matches`` compares shapes; nothing here restates a rule table. Outside a fuzz run (no
active ``Judging``) they do nothing, so registering them globally is harmless.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import schemathesis
from schemathesis.core.failures import Failure, Severity

from pixelproof.client import Exchange, redact
from pixelproof.fuzz.request import Request
from pixelproof.geometry import Size, ratio_matches
from pixelproof.judging.failures import images_in, json_error, openai_error_shape
from pixelproof.observe import Observation, task_status_of
from pixelproof.plan import Probe

if TYPE_CHECKING:
    from pixelproof.fuzz.oracle import Expectation, Oracle

BUDGET_NOTE = "the fuzz request budget is spent"  # an image not fetched is not judged
LIFECYCLE = {
    "tasks-action": "task.tasks-action.lifecycle",
    "tasks-official": "task.tasks-official.lifecycle",
    "jimeng-official": "jimeng.submit",
}
SURFACE_OPS = {"jimeng-official": "jimeng", "tasks-action": "task", "tasks-official": "task"}


class PixelproofFailure(Failure):
    """A broken promise found by fuzzing: which check (a rule id or fuzz.<check>), expected, observed."""

    code = "PP901"
    kind_title = "pixelproof check failed"

    def __init__(self, operation: str, check: str, expected: str, observed: str) -> None:
        super().__init__(operation=operation, title=f"{check}: expected {expected}",
                         message=observed, severity=Severity.HIGH)  # fmt: skip
        self.check, self.expected, self.observed = check, expected, observed

    @property
    def _unique_key(self) -> str:
        return f"{self.check}|{self.expected}"


@dataclass
class Judging:
    """What the registered checks need while one fuzz run is active."""

    oracle: Oracle
    surface: str
    download: Callable[[str], Exchange]
    expectations: dict[str, Expectation] = field(default_factory=dict)
    images: int = 0  # images seen in success answers

    def expectation(self, case: Any) -> Expectation:
        if case.id not in self.expectations:
            self.expectations[case.id] = self.oracle.expect(Request.of(self.surface, case))
        return self.expectations[case.id]


ACTIVE: contextvars.ContextVar[Judging | None] = contextvars.ContextVar(
    "pixelproof_fuzz", default=None
)


def exchange_of(response: Any) -> Exchange:
    """The schemathesis response as pixelproof's Exchange, so the verdict helpers can read it.
    (Request headers are redacted; findings print their own curl line with the profile's header.)"""
    request = response.request
    sent = redact(dict(request.headers))
    return Exchange(
        method=str(request.method), url=str(request.url), request_headers=sent,
        status=response.status_code,
        response_headers={k.lower(): (v[0] if isinstance(v, list) else v) for k, v in response.headers.items()},
        body=response.content or b"", elapsed_s=response.elapsed,
    )  # fmt: skip


class _Downloads:
    """Duck-types the Observer's ``download`` for ``images_in``, counting against the budget."""

    def __init__(self, download: Callable[[str], Exchange]) -> None:
        self.download = download


def _fail(case: Any, check: str, expected: str, observed: str) -> None:
    raise PixelproofFailure(case.operation.label, check, expected, observed)


def _describe(exchange: Exchange) -> str:
    return exchange.describe_response(300)


@schemathesis.check
def pixelproof_status(ctx: Any, response: Any, case: Any) -> bool | None:
    """The status the rules and the contract call for: 4xx for what must be refused, 2xx for
    documented requests, and never a server error unless a rule lists it."""
    judging = ACTIVE.get()
    if judging is None:
        return None
    exp, status = judging.expectation(case), response.status_code
    seen = _describe(exchange_of(response))
    if exp.outcome == "statuses":
        if status not in exp.statuses:
            _fail(case, exp.check, f"one of {list(exp.statuses)} ({exp.why})", seen)
        return None
    if status >= 500:
        wanted = "a 4xx rejection" if exp.outcome in ("reject", "refuse") else "no server error"
        _fail(case, "fuzz.server_error", f"{wanted} ({exp.why})", seen)
    if exp.outcome in ("reject", "refuse") and not 400 <= status < 500:
        _fail(case, exp.check, f"a 4xx rejection ({exp.why})", seen)
    if exp.outcome == "accept" and not 200 <= status < 300:
        _fail(case, exp.check, f"a 2xx answer ({exp.why})", seen)
    if exp.outcome == "jimeng_unknown" and 200 <= status < 300:
        body = exchange_of(response).json() or {}
        data = body.get("data") if isinstance(body, dict) else None
        state = data.get("status") if isinstance(data, dict) else None
        if state != "not_found" and body.get("code") in (10000, None):
            _fail(case, exp.check, f"status not_found or a refusal ({exp.why})", seen)
    return None


@schemathesis.check
def pixelproof_error_body(ctx: Any, response: Any, case: Any) -> bool | None:
    """A refusal carries the documented error body: the OpenAI error object on the unified
    entry (rule error.shape.unified), a JSON message elsewhere."""
    judging = ACTIVE.get()
    if judging is None or response.status_code < 400:
        return None
    exchange = exchange_of(response)
    if judging.surface == "unified":
        problem, check, want = (
            openai_error_shape(exchange),
            "error.shape.unified",
            "{error: {message, type}}",
        )
    else:
        problem, check, want = (
            json_error(exchange),
            "fuzz.error_body",
            "a JSON error with a message",
        )
    if problem is not None:
        _fail(case, check, want, f"{problem}: {_describe(exchange)}")
    return None


@schemathesis.check
def pixelproof_images(ctx: Any, response: Any, case: Any) -> bool | None:
    """Images in a success answer decode; their number and size are what the rules predict."""
    judging = ACTIVE.get()
    if judging is None or not 200 <= response.status_code < 300:
        return None
    if judging.surface in SURFACE_OPS and not _is_query(judging.surface, case):
        return None  # a task submission carries a task id, not images
    exp = judging.expectation(case)
    exchange = exchange_of(response)
    probe = Probe(
        judging.surface, SURFACE_OPS.get(judging.surface, "http"), str(case.method), case.path
    )
    try:
        images = images_in(_Downloads(judging.download), Observation(probe, "", exchange))  # type: ignore[arg-type]
    except (AttributeError, TypeError):
        return None  # an answer of the wrong shape: response_schema_conformance says so
    judging.images += len(images)
    # an image not fetched (the budget) or not answered (no answer, a 429 to the end) is no evidence
    broken = [str(i) for i in images
              if i.image is None and not i.unobserved and BUDGET_NOTE not in str(i.problem)]  # fmt: skip
    if broken:
        _fail(case, "fuzz.images_decode", "every returned image decodes", "; ".join(broken)[:300])
    if exp.outcome != "accept":
        return None
    if exp.check == "fuzz.task_query" and not images and _finished(judging.surface, exchange):
        rule = LIFECYCLE[judging.surface]
        _fail(case, rule, "a finished task carries at least one image", _describe(exchange))
    if exp.count is not None and len(images) != exp.count:
        _fail(case, exp.count_rule or "fuzz.image_count", f"{exp.count} image(s)", f"{len(images)}")
    for image in images:
        if image.image is None:
            continue
        _check_shape(case, exp, image.image.size, judging.oracle)
    return None


def _finished(surface: str, exchange: Exchange) -> bool:
    body = exchange.json()
    status = task_status_of(surface, body)
    if surface == "jimeng-official":
        return status == "done" and isinstance(body, dict) and body.get("code") == 10000
    return status == "completed"


def _is_query(surface: str, case: Any) -> bool:
    if surface == "jimeng-official":
        return case.query.get("Action") == "CVSync2AsyncGetResult"
    return str(case.method).upper() == "GET"


def _check_shape(case: Any, exp: Expectation, got: Size, oracle: Oracle) -> None:
    rule = exp.image_rule or "fuzz.image_size"
    if exp.size is not None and str(got) not in (exp.size, exp.alt_size):
        also = f" (or the documented fallback {exp.alt_size})" if exp.alt_size else ""
        _fail(case, rule, f"{exp.size}{also}", str(got))
    tolerance = oracle.catalogue.defaults.ratio_tolerance
    if exp.ratio is not None and not ratio_matches(got, exp.ratio, tolerance):
        _fail(case, rule, f"aspect ratio {exp.ratio} (±{tolerance:.0%})", str(got))


CHECKS: list[Callable[..., bool | None]] = [
    pixelproof_status,
    pixelproof_error_body,
    pixelproof_images,
]
