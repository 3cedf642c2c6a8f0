"""The steps verdicts share: accepted images, rejections, and what reached the upstream."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pixelproof.judging.failures import (
    ImageResult,
    check,
    json_error,
    literal,
    openai_error_shape,
    status_text,
)
from pixelproof.redact import DEFAULT, Redactor

if TYPE_CHECKING:
    from pixelproof.judging.evidence import Evidence
    from pixelproof.observe import Observation


def raw_images(img: ImageResult) -> list[bytes]:
    return [img.data] if img.data else []


def is_4xx(obs: Observation) -> bool:
    return (
        obs.exchange is not None
        and obs.exchange.status is not None
        and 400 <= obs.exchange.status < 500
    )


def accepted_images(
    j: Evidence, obs: Observation | None = None, minimum: int = 1
) -> list[ImageResult]:
    """The answer was a success and carries decodable images; returns them."""
    obs = obs or j.obs
    first = obs.exchange
    check(
        first is not None and first.ok,
        j.case,
        "the request is accepted (2xx)",
        status_text(first),
        first,
    )
    if obs.probe.op in ("task", "jimeng"):
        check(
            obs.task_id is not None,
            j.case,
            "a task id in the submission answer",
            status_text(first),
            first,
        )
        assert obs.poll is not None
        final = obs.final
        done = "done" if obs.probe.op == "jimeng" else "completed"
        check(
            obs.poll.status == done,
            j.case,
            f"the task ends {done}",
            f"it ended {literal(obs.poll.status)}: {status_text(final)}",
            final,
        )
        if obs.probe.op == "jimeng":
            code = (final.json() or {}).get("code") if final else None
            check(
                code == 10000, j.case, "code 10000 with status done", f"code {literal(code)}", final
            )
    images = j.images_of(obs)
    check(
        len(images) >= minimum,
        j.case,
        f"at least {minimum} image(s)",
        f"{len(images)}: {status_text(obs.final)}",
        obs.final,
    )
    broken = [str(i) for i in images if i.image is None]
    check(not broken, j.case, "every image decodes", "; ".join(broken), obs.final)
    return images


# The documents say a failed task carries a reason but not under which key (tasks-action.yaml marks
# its body shape inferred), so any of the usual names holding a non-empty message is a reason.
REASON_KEYS = ("error", "fail_reason", "failure_reason", "reason", "message", "error_message",
               "msg", "detail")  # fmt: skip


def failure_reason(view: Any) -> str | None:
    if not isinstance(view, dict):
        return None
    for key in REASON_KEYS:
        value = view.get(key)
        if isinstance(value, dict):
            value = value.get("message") or value.get("msg") or value.get("code")
            value = None if value is None else str(value)
        if isinstance(value, str) and value.strip():
            return value
    return None


def rejected(j: Evidence, obs: Observation | None = None, openai_shape: bool = False) -> None:
    """Rejected with a 4xx JSON error at submission, or (tasks) ended failed with a reason."""
    obs = obs or j.obs
    ex = obs.exchange
    if obs.poll is not None and ex is not None and ex.ok:
        final = obs.final
        view = (final.json() or {}) if final else {}
        view = (
            view.get("data", view)
            if isinstance(view, dict) and obs.probe.surface == "tasks-official"
            else view
        )
        reason = failure_reason(view)
        check(obs.poll.status == "failed" and bool(reason), j.case, "a 4xx at submission, or the task failed with a reason",
              f"submission accepted; task ended {literal(obs.poll.status)}", final)  # fmt: skip
        return
    check(is_4xx(obs), j.case, "a 4xx rejection", status_text(ex), ex)
    assert ex is not None
    problem = openai_error_shape(ex) if openai_shape else json_error(ex)
    check(
        problem is None,
        j.case,
        "a JSON error body" + (" {error: {message, type}}" if openai_shape else ""),
        str(problem),
        ex,
    )


def forwarded(j: Evidence, obs: Observation | None = None) -> list[dict[str, Any]]:
    """The upstream calls this request caused; at least one. [] when the profile has no
    recorder (rules that cannot do without it were skipped before judging)."""
    obs = obs or j.obs
    calls = j.calls_of(obs)
    if calls is None:
        return []
    check(
        bool(calls),
        j.case,
        "the request reaches the upstream (recorder)",
        "no image call with this request's nonce reached it",
        obs.final,
    )
    return calls


def fields_of(call: dict[str, Any]) -> dict[str, Any]:
    body = call.get("json")
    return body if isinstance(body, dict) else dict(call.get("form") or {})


HTML_OPENINGS = ("<html", "<!doctype html")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return [s for item in items for s in _strings(item)]


def carried_page(body: bytes, parsed: Any, redactor: Redactor = DEFAULT) -> str | None:
    """Where an HTML document (the upstream's page, e.g. the mock's 503 page) sits in an answer:
    in the raw body, or in a JSON string once decoded (a serializer may write ``<`` as
    ``\\u003c``), so a JSON error that pastes the page into its message is seen; else None.
    The excerpt is cut after ``redactor`` has scrubbed the text."""
    texts = [redactor.text(t) for t in (body.decode("utf-8", "replace"), *_strings(parsed))]
    for text in texts:
        low = text.lower()
        at = min((i for i in map(low.find, HTML_OPENINGS) if i >= 0), default=-1)
        if at >= 0:
            return literal(text[at : at + 80].encode())
    return None
