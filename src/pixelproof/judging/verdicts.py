"""One judgment per rule kind. Suites call these; the fuzz checks reuse them.

Each function takes the ``Evidence`` of a case (its rule, its observations, the decoded images,
the upstream calls) and raises ``RuleFailure`` naming rule, source, expected, observed and the
request, or returns quietly. A verdict does no I/O: it is a pure function of (rule, evidence).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pixelproof.judging.compare import edits_alias, equivalent, url_validity
from pixelproof.judging.evidence import Evidence
from pixelproof.judging.expect import ABSENT, status_matches, value_allowed
from pixelproof.judging.failures import (
    RuleFailure,
    check,
    json_error,
    literal,
    openai_error_shape,
    status_text,
)
from pixelproof.judging.shapes import response_shape
from pixelproof.judging.sizes import aspect_ratio, fallback, pixel_ceiling, size
from pixelproof.judging.steps import (
    accepted_images,
    carried_page,
    fields_of,
    forwarded,
    is_4xx,
    raw_images,
    rejected,
)
from pixelproof.plan import KINDS
from pixelproof.report.allure import attach_failure
from pixelproof.surfaces.openai import items as openai_items

Verdict = Callable[[Evidence], None]
VERDICTS: dict[str, Verdict] = {}


def verdict(*kinds: str) -> Callable[[Verdict], Verdict]:
    def register(func: Verdict) -> Verdict:
        for kind in kinds:
            if kind not in KINDS:
                raise ValueError(f"verdict for {kind!r}, a kind not registered in plan.KINDS")
            if kind in VERDICTS:
                raise ValueError(f"two verdicts for kind {kind!r}")
            VERDICTS[kind] = func
        return func

    return register


# ---------------------------------------------------------------------- counts and forwarding
@verdict("n_default")
def n_default(j: Evidence) -> None:
    images = accepted_images(j)
    want = int(j.rule.expect["count"])
    check(len(images) == want, j.case, f"exactly {want} image(s)", f"{len(images)}", j.obs.final)


@verdict("n_forwarded")
def n_forwarded(j: Evidence) -> None:
    for call in forwarded(j):
        n = fields_of(call).get("n")
        check(
            n in (None, 1, "1"),
            j.case,
            "n = 1 (or no n) upstream",
            f"n = {literal(n)}",
            j.obs.final,
        )


@verdict("watermark")
def watermark(j: Evidence) -> None:
    expect = j.rule.expect
    images = accepted_images(j)
    # a vendor rule judges the image only: nothing is forwarded by a vendor
    for call in forwarded(j) if "forwarded" in expect else []:
        fields = fields_of(call)
        got = fields.get("watermark", ABSENT)
        check(value_allowed(got, expect["forwarded"]), j.case,
              f"watermark forwarded as {literal(expect['forwarded'])}", f"forwarded as {literal(got)}", j.obs.final)  # fmt: skip
    for img in images if "marked" in expect else []:
        assert img.image is not None
        check(img.image.watermarked == expect["marked"], j.case, f"image watermarked: {literal(expect['marked'])}",
              f"watermarked: {literal(img.image.watermarked)}", j.obs.final, raw_images(img))  # fmt: skip


@verdict("passthrough")
def passthrough(j: Evidence) -> None:
    accepted_images(j)
    for call in forwarded(j):
        fields = fields_of(call)
        for key, value in j.rule.expect["forwarded"].items():
            check(
                value_allowed(fields.get(key, ABSENT), value),
                j.case,
                f"{key} = {literal(value)} upstream",
                f"{key} = {literal(fields.get(key))}",
                j.obs.final,
            )


@verdict("ref_forward")
def ref_forward(j: Evidence) -> None:
    accepted_images(j)
    want = int(j.rule.expect["count"])
    calls = forwarded(j)
    counts = []
    for call in calls:
        fields = fields_of(call)
        refs = fields.get("image", fields.get("images", fields.get("image_urls")))
        n = len(refs) if isinstance(refs, list) else (1 if refs else 0)
        n += sum(len(v) for k, v in (call.get("files") or {}).items() if k.startswith("image"))
        counts.append(n)
    check(
        all(c == want for c in counts),
        j.case,
        f"{want} reference images in each upstream call",
        f"{counts}",
        j.obs.final,
    )


# ---------------------------------------------------------------------- rejections and errors
@verdict("model_required", "model_unknown", "error_shape")
def openai_rejection(j: Evidence) -> None:
    """The 4xx part (``status``) and, apart, the never-forwarded part (``upstream: none``): a row
    with only the latter needs the recorder, so it is never judged on the 4xx alone."""
    if "status" in j.rule.expect:
        rejected(j, openai_shape=j.rule.expect.get("error_shape") == "openai")
    not_forwarded(j)


def not_forwarded(j: Evidence) -> None:
    if j.rule.expect.get("upstream") != "none":
        return
    calls = j.calls_of(j.obs)
    if calls is None:  # no recorder: only a row that also has a 4xx part gets here (the
        return  # not-forwarded rows need the recorder: tests/test_not_forwarded_split.py)
    check(not calls, j.case, "the gateway rejects it itself: nothing reaches an upstream",
          f"{len(calls)} upstream call(s), authorization "
          f"{[c.get('headers', {}).get('authorization') for c in calls]}", j.obs.final)  # fmt: skip


@verdict("ref_format", "ref_bytes", "task_caller_id", "safety", "task_failure")
def plain_rejection(j: Evidence) -> None:
    rejected(j)


@verdict("ref_limit")
def ref_limit(j: Evidence) -> None:
    at_limit, over = j.observations
    accepted_images(j, at_limit)
    ex = over.exchange
    check(
        is_4xx(over),
        j.case,
        f"{j.rule.expect['max'] + 1} references rejected with a 4xx",
        status_text(ex),
        ex,
    )
    assert ex is not None
    check(json_error(ex) is None, j.case, "a JSON error body", str(json_error(ex)), ex)


@verdict("auth")
def auth(j: Evidence) -> None:
    ex, want = j.obs.exchange, j.rule.expect.get("status")
    if want is not None:
        check(ex is not None and status_matches(ex.status, want), j.case, str(want),
              status_text(ex), ex)  # fmt: skip
        assert ex is not None
        check(json_error(ex) is None, j.case, "a JSON error body", str(json_error(ex)), ex)
    not_forwarded(j)


@verdict("upstream_failure")
def upstream_failure(j: Evidence) -> None:
    """The upstream failed this request (evidence checked it reached the mock and was failed).
    Kept: a JSON error with a message, any 4xx/5xx (the documents name no status); or, from a
    gateway that fails over to another channel, a success with images; a task taken ends failed
    with a reason. Broken: the upstream's page passed through, a body that is not JSON, a 2xx
    without images, a redirect, a task completed without images."""
    ex = j.obs.exchange
    assert ex is not None
    if ex.ok and j.images_of() and all(i.image is not None for i in j.images_of()):
        return  # served by another channel: the client got its image
    if ex.ok and j.obs.poll is not None:
        rejected(j)  # a task taken: it must end failed with a reason (never completed empty)
        return
    check(ex.status is not None and ex.status >= 400, j.case,
          "a JSON error (4xx/5xx) when the upstream fails", status_text(ex), ex)  # fmt: skip
    check(json_error(ex) is None, j.case, "a JSON error body with a message, not the upstream's page",
          f"{ex.content_type or 'no content type'}: {json_error(ex)}", ex)  # fmt: skip
    page = carried_page(ex.body, ex.json(), ex.redactor)
    check(page is None, j.case, "an error of the gateway's own, never the upstream's page in it",
          f"an HTML document in the answer: {page}", ex)  # fmt: skip


@verdict("variations")
def variations(j: Evidence) -> None:
    ex = j.obs.exchange
    allowed = j.rule.expect["status"]
    check(ex is not None and ex.status in allowed, j.case, f"one of {allowed}", status_text(ex), ex)
    assert ex is not None
    check(
        openai_error_shape(ex) is None,
        j.case,
        "the OpenAI error object",
        str(openai_error_shape(ex)),
        ex,
    )


@verdict("task_unknown")
def task_unknown(j: Evidence) -> None:
    ex = j.obs.exchange
    body = ex.json() if ex else None
    code = body.get("code") if isinstance(body, dict) else None
    want = j.rule.expect["status"]
    refused = (
        not _success_code(code)
        and not _carries_a_task(body)
        and ex is not None
        and ex.status in (200, None)
    )
    ok = ex is not None and (status_matches(ex.status, want) or (want == "4xx" and refused))
    label = "404" if want == 404 else "a 4xx (or a non-success code)"
    check(bool(ok), j.case, f"{label} for a task id never issued", status_text(ex), ex)
    assert ex is not None
    check(json_error(ex) is None, j.case, "a JSON error with a message", str(json_error(ex)), ex)


def _success_code(code: Any) -> bool:
    """A body code that says "done" (0, 200, 10000, "success", "ok"), or none at all."""
    return code is None or str(code).strip().lower() in {"0", "200", "10000", "success", "ok"}


LIVE_TASK = frozenset({"queued", "pending", "submitted", "processing", "running", "in_progress",
                       "completed", "succeeded"})  # fmt: skip


def _carries_a_task(body: Any) -> bool:
    """A task answered (a task id, or a status a live or finished task has, at the top or under
    ``data``): never a refusal, whatever code beside it (an invented ``{"code": "success",
    "data": {"task_id": ..., "status": "queued"}}`` passed). ``{"status": "error"}`` is no task."""
    data = body.get("data") if isinstance(body, dict) else None
    data = data[0] if isinstance(data, list) and data else data
    return any(
        isinstance(where, dict)
        and (where.get("task_id") or str(where.get("status", "")).lower() in LIVE_TASK)
        for where in (body, data)
    )


@verdict("jimeng_query")
def jimeng_query(j: Evidence) -> None:
    ex = j.obs.exchange
    check(is_4xx(j.obs), j.case, "a 4xx without Action/Version", status_text(ex), ex)


@verdict("jimeng_unknown")
def jimeng_unknown(j: Evidence) -> None:
    ex = j.obs.exchange
    body = (ex.json() if ex else None) or {}
    status = (body.get("data") or {}).get("status") if isinstance(body.get("data"), dict) else None
    strict = j.rule.expect["status"] == "not_found"
    refused = not strict and (
        body.get("code") not in (None, 10000)
        or (ex is not None and status_matches(ex.status, "4xx"))
    )
    check(status == "not_found" or (refused and status != "done"), j.case,
          "status not_found" if strict else "status not_found (or a refusal)",
          f"status {literal(status)}, code {literal(body.get('code'))}", ex)  # fmt: skip


# ---------------------------------------------------------------------- outputs
@verdict("response_format")
def response_format(j: Evidence) -> None:
    want = j.rule.expect["output"]
    images = accepted_images(j)
    items = openai_items(j.obs.final.json() if j.obs.final else None) or []
    kinds = [i.source for i in images]
    check(
        all(value_allowed(k, want) for k in kinds),
        j.case,
        f"every data[] item carries {want}",
        f"{kinds} in {len(items)} items",
        j.obs.final,
    )


# names in use for a format besides its registered one (image/jpg; older servers' progressive
# JPEG and PNG labels): the same format, not a contradiction of the bytes
IMAGE_TYPE_ALIASES = {"jpg": "jpeg", "pjpeg": "jpeg", "x-png": "png", "x-webp": "webp"}
GENERIC_TYPES = frozenset({"application/octet-stream", "binary/octet-stream"})  # "some bytes"


@verdict("output_format", "background")
def output_format(j: Evidence) -> None:
    if j.rule.expect.get("or_rejected") and is_4xx(j.obs):
        rejected(j)  # "not supported": a refusal is one documented answer
        return
    for img in accepted_images(j):
        assert img.image is not None
        if "format" in j.rule.expect:
            want = j.rule.expect["format"]
            check(
                img.image.format == want,
                j.case,
                f"{want} bytes (magic)",
                f"{img.image.format} bytes",
                j.obs.final,
            )
            # a declared type must be the bytes' own; a generic one (an object store's
            # application/octet-stream) names no format, so it cannot contradict them
            label = (img.declared or "").lower()
            if label and label not in GENERIC_TYPES:
                kind, _, named = label.partition("/")
                if kind == "image" or not named:  # an image type, or a bare format name
                    named = named or kind
                    declared = IMAGE_TYPE_ALIASES.get(named, named)
                else:
                    declared = label  # text/html, application/json: not these bytes
                check(
                    declared == img.image.format,
                    j.case,
                    f"declared type matches the bytes ({img.image.format})",
                    f"declared {img.declared}",
                    j.obs.final,
                )
        if j.rule.expect.get("alpha") is False:
            check(not img.image.transparent_pixels, j.case, "no transparent pixels (not supported here)",
                  f"mode {img.image.mode}, transparent pixels: {img.image.transparent_pixels}", j.obs.final, raw_images(img))  # fmt: skip
        if j.rule.expect.get("alpha"):
            check(img.image.has_alpha and img.image.transparent_pixels, j.case, "an alpha channel with transparent pixels",
                  f"mode {img.image.mode}, transparent pixels: {img.image.transparent_pixels}", j.obs.final, raw_images(img))  # fmt: skip


@verdict("revised_prompt")
def revised_prompt(j: Evidence) -> None:
    accepted_images(j)
    for item in openai_items(j.obs.final.json() if j.obs.final else None) or []:
        if "revised_prompt" in item and item["revised_prompt"] is not None:
            check(isinstance(item["revised_prompt"], str) and item["revised_prompt"].strip() != "", j.case,
                  "revised_prompt absent or a non-empty string", literal(item["revised_prompt"]), j.obs.final)  # fmt: skip


# ---------------------------------------------------------------------- edits, tasks, Gemini
@verdict("edit")
def edit(j: Evidence) -> None:
    images = accepted_images(j)
    check(
        len(images) == int(j.rule.expect["count"]),
        j.case,
        f"{j.rule.expect['count']} image(s)",
        f"{len(images)}",
        j.obs.final,
    )
    if j.rule.expect.get("mask_forwarded"):
        calls = forwarded(j)
        has_mask = [
            bool((c.get("files") or {}).get("mask") or fields_of(c).get("mask")) for c in calls
        ]
        check(
            all(has_mask),
            j.case,
            "the mask reaches the upstream",
            f"mask in upstream calls: {has_mask}",
            j.obs.final,
        )


@verdict("task_lifecycle", "jimeng_lifecycle")
def task_lifecycle(j: Evidence) -> None:
    accepted_images(j)


@verdict("task_deadline")
def task_deadline(j: Evidence) -> None:
    obs = j.obs
    check(obs.exchange is not None and obs.exchange.ok and obs.task_id is not None, j.case, "a submitted task",
          status_text(obs.exchange), obs.exchange)  # fmt: skip
    assert obs.poll is not None
    check(not obs.poll.deadline_exceeded, j.case, "a terminal state within the client timeout",
          f"still {literal(obs.poll.status)} after {obs.poll.times[-1]:.2f} s ({len(obs.poll.times)} polls)", obs.final)  # fmt: skip


@verdict("gemini_reference")
def gemini_reference(j: Evidence) -> None:
    accepted_images(j)
    for call in forwarded(j):
        parts = [
            p
            for c in (fields_of(call).get("contents") or [])
            for p in (c.get("parts") or [])
            if isinstance(p, dict)
        ]
        check(any("inlineData" in p for p in parts), j.case, "the inlineData reference part reaches the upstream",
              f"forwarded parts: {[sorted(p) for p in parts]}", j.obs.final)  # fmt: skip


def _well_formed(j: Evidence) -> None:
    """A documented request answered twice with a 2xx that is not JSON breaks every rule on it."""
    for obs in j.observations:
        check(obs.malformed is None, j.case, "a JSON answer to a documented request",
              f"{obs.malformed}, twice", obs.final)  # fmt: skip


verdict("response_shape")(response_shape)  # the shape of a vendor's answer (shapes.py)
# what the images are (sizes.py); an answer against another observation (compare.py)
verdict("edits_alias")(edits_alias)
verdict("equivalent")(equivalent)
verdict("url_validity")(url_validity)
verdict("size", "gemini_size")(size)
verdict("aspect_ratio")(aspect_ratio)
verdict("pixel_ceiling")(pixel_ceiling)
verdict("fallback")(fallback)


def judge(j: Evidence) -> None:
    try:
        _well_formed(j)
        VERDICTS[j.rule.kind](j)
    except RuleFailure as failure:
        attach_failure(failure)
        raise
