"""What suites use to judge: typed failures that speak, and readers for what a target answered."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pixelproof.client import RATE_LIMITED
from pixelproof.images import DecodedImage, ImageError, decode
from pixelproof.surfaces import ImageRef, dialect
from pixelproof.surfaces.base import is_http_url

if TYPE_CHECKING:
    from pixelproof.client import Exchange
    from pixelproof.observe import Observation, Observer
    from pixelproof.plan import Case


class RuleFailure(AssertionError):
    """A broken promise: rule id, source, expected vs observed, and the request that showed it."""

    def __init__(
        self,
        case: Case,
        expected: str,
        observed: str,
        exchange: Exchange | None,
        images: list[bytes] | None = None,
    ) -> None:
        if exchange is not None:  # a value the target echoed back may hold the key
            expected, observed = exchange.redactor.text(expected), exchange.redactor.text(observed)
        self.case, self.expected, self.observed = case, expected, observed
        self.images = images or []
        self.request = exchange.describe_request() if exchange else ""
        self.response = exchange.describe_response() if exchange else ""
        rule = case.rule
        lines = [
            f"rule {case.id} ({rule.severity}): {rule.statement}",
            f'source: {rule.cite()}: "{rule.source.quote}"',
            f"expected: {expected}",
            f"observed: {observed}",
        ]
        if exchange is not None:
            lines.append(f"request: {exchange.describe_request()}")
            lines.append(f"response: {exchange.describe_response()}")
        super().__init__("\n".join(lines))


def literal(value: Any) -> str:
    """A value as the documents and wire bodies write it (false, null, "a b", 3), never a Python
    repr (False, None, 'a b'); the word absent (a field that was not sent) stays a word."""
    if value == "absent":
        return "absent"
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def check(
    condition: bool,
    case: Case,
    expected: str,
    observed: str,
    exchange: Exchange | None,
    images: list[bytes] | None = None,
) -> None:
    if not condition:
        raise RuleFailure(case, expected, observed, exchange, images)


@dataclass
class ImageResult:
    source: str  # b64_json | url | inlineData | binary_data_base64 | image_urls
    image: DecodedImage | None = None
    problem: str | None = None
    declared: str | None = None  # a mime type or format the answer claimed
    data: bytes | None = None  # the raw bytes, for thumbnails of failures
    unobserved: bool = False  # the URL gave no answer at all: an error, not evidence

    def __str__(self) -> str:
        if self.image:
            return f"{self.image.format} {self.image.size}"
        return f"{self.source}: {self.problem}"


def _from_b64(text: Any, source: str, declared: str | None = None) -> ImageResult:
    if not isinstance(text, str) or not text:
        return ImageResult(source, problem="empty or not a string", declared=declared)
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        return ImageResult(source, problem=f"invalid base64 ({exc})", declared=declared)
    try:
        return ImageResult(source, image=decode(data), declared=declared, data=data)
    except ImageError as exc:
        return ImageResult(source, problem=str(exc), declared=declared)


def _from_url(observer: Observer, url: Any, source: str) -> ImageResult:
    if not is_http_url(url):
        return ImageResult(source, problem=f"not an http(s) URL: {literal(url)}")
    return downloaded(observer.download(url), url, source)


def downloaded(got: Exchange, url: str, source: str) -> ImageResult:
    """The image a download answered (or why not); no answer at all is ``unobserved``."""
    if got.error:  # no answer, or a 5xx that did not repeat (Observer.download)
        said = "no answer: " if got.status is None else ""
        return ImageResult(source, problem=f"{url}: {said}{got.error}", unobserved=True)
    if got.status == RATE_LIMITED:  # "not now" (Client.send asked again): not evidence
        problem = f"{url}: rate limited (429, asked {got.sent} time(s))"
        return ImageResult(source, problem=problem, unobserved=True)
    if got.cut_short:  # a redirect the caller's request cap left unfollowed: not evidence
        problem = f"{url}: redirect not followed after {got.sent} request(s): no request left"
        return ImageResult(source, problem=problem, unobserved=True)
    if got.status != 200:
        hops = got.redirected_from
        after = f" after {len(hops)} redirect(s) from {hops[0]}" if hops else ""
        return ImageResult(source, problem=f"download failed{after}: {got.describe_response(120)}")
    try:
        return ImageResult(source, image=decode(got.body), declared=got.content_type, data=got.body)
    except ImageError as exc:
        return ImageResult(source, problem=str(exc), declared=got.content_type)


def aged_images_in(observer: Observer, obs: Observation, age_s: float) -> list[ImageResult]:
    """The final answer's image URLs fetched again as if ``age_s`` seconds old (a pixelproof
    mock honours it); base64 images carry no URL and are left out."""
    body = obs.final.json() if obs.final else None
    urls = [(r.url, r.source) for r in dialect(obs.probe.surface).images(body) if r.url]
    return [downloaded(observer.download_aged(url, age_s), url, source) for url, source in urls]


def images_in(observer: Observer, obs: Observation) -> list[ImageResult]:
    """Every image the final answer carries, decoded (or why not)."""
    body = obs.final.json() if obs.final else None
    return [_resolve(observer, ref) for ref in dialect(obs.probe.surface).images(body)]


def _resolve(observer: Observer, ref: ImageRef) -> ImageResult:
    if ref.problem:
        return ImageResult(ref.source, problem=ref.problem)
    if ref.url is not None:
        return _from_url(observer, ref.url, ref.source)
    return _from_b64(ref.b64, ref.source, ref.mime)


def openai_error_shape(exchange: Exchange) -> str | None:
    """None when the body is {"error": {"message": str, "type": str, ...}}; else what is wrong."""
    body = exchange.json()
    if body is None:
        return f"body is not JSON ({exchange.content_type or 'no content type'}): {literal(exchange.body_text(80))}"
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return f"no error object: {str(exchange.redactor.data(body))[:120]}"
    missing = [k for k in ("message", "type") if not isinstance(err.get(k), str) or not err.get(k)]
    return f"error object lacks {', '.join(missing)}" if missing else None


def json_error(exchange: Exchange) -> str | None:
    """None when a rejection carries a JSON body with a message somewhere (OpenAI's error object,
    a top-level message, or a FastAPI-style detail); else what is wrong."""
    body = exchange.json()
    if not isinstance(body, dict):
        return f"body is not a JSON object: {literal(exchange.body_text(80))}"
    err = body.get("error")
    message = (
        (err.get("message") if isinstance(err, dict) else err)
        or body.get("message")
        or body.get("detail")
    )
    return None if message else f"no error message in {str(exchange.redactor.data(body))[:120]}"


def status_text(exchange: Exchange | None) -> str:
    if exchange is None:
        return "nothing sent"
    return exchange.describe_response(200)
