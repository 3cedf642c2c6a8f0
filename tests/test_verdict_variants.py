"""Verdicts held to the documents, on recorded evidence edited into the variant that matters: a
target keeping a promise in a way the recording did not show passes, and one breaking it in a way
a looser verdict would miss fails. No server: the recordings are the clean stack's own."""

from __future__ import annotations

import base64
import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from pixelproof.catalogue import Catalogue
from pixelproof.judging.failures import RuleFailure
from pixelproof.judging.recorded import load
from pixelproof.judging.steps import failure_reason
from pixelproof.judging.verdicts import judge

EVIDENCE = Path(__file__).parent / "fixtures" / "evidence"


def _kept(kind: str) -> dict[str, Any]:
    return copy.deepcopy(
        json.loads((EVIDENCE / f"{kind}.json").read_text(encoding="utf-8"))["kept"]
    )


def _last_poll(recorded: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return dict(recorded["observations"][index]["polls"][-1])


def _with_poll_body(recorded: dict[str, Any], body: dict[str, Any], index: int = 0) -> None:
    recorded["observations"][index]["polls"][-1]["body"] = base64.b64encode(
        json.dumps(body).encode()
    ).decode()


def _failed_task_body(recorded: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(base64.b64decode(_last_poll(recorded)["body"])))


@pytest.mark.parametrize(
    ("reason", "kept"),
    [
        ({"fail_reason": "mask is not an image"}, True),
        ({"message": "mask is not an image"}, True),
        ({"error": "mask is not an image"}, True),
        ({"error": {"code": "invalid_mask"}}, True),
        ({}, False),
        ({"error": {}}, False),
        ({"fail_reason": "   "}, False),
    ],
    ids=["fail_reason", "message", "error-string", "error-code", "none", "empty-error", "blank"],
)
def test_a_failed_task_gives_its_reason_under_any_usual_key(
    catalogue: Catalogue, reason: dict[str, Any], kept: bool
) -> None:
    recorded = _kept("task_failure")
    body = {k: v for k, v in _failed_task_body(recorded).items() if k != "error"}
    _with_poll_body(recorded, {**body, **reason})
    evidence = load(recorded, catalogue)
    if kept:
        judge(evidence)
    else:
        with pytest.raises(RuleFailure, match="failed with a reason"):
            judge(evidence)


def test_failure_reason_reads_text_not_structure() -> None:
    assert failure_reason({"error": {"message": "bad mask"}}) == "bad mask"
    # where other task APIs put it (judged "no reason" before: task.*.failed broken)
    assert failure_reason({"status": "failed", "msg": "mask: not an image"}) == "mask: not an image"
    assert failure_reason({"status": "failed", "detail": "upstream 503"}) == "upstream 503"
    assert failure_reason({"status": "failed"}) is None
    assert failure_reason("failed") is None


def test_an_older_model_may_refuse_a_resolution_by_failing_the_task(catalogue: Catalogue) -> None:
    """'others use default': refusing 2k is allowed, at submission or (as the seed-002 rows
    allow) as a failed task with a reason; a failed task without one is not a refusal."""
    recorded = _kept("equivalent")
    failed = _kept("task_failure")
    recorded["rule"] = "resolution.tasks-action.others-default"
    recorded["model"] = "gpt-image-1-official"
    rule = catalogue.rule("resolution.tasks-action.others-default")
    assert rule.expect.get("or_rejected"), "the rule allows a refusal"
    recorded["observations"][0] = failed["observations"][0]
    recorded["images"][0], recorded["calls"][0] = [], None
    judge(load(recorded, catalogue))
    _with_poll_body(recorded, {"status": "failed"})
    with pytest.raises(RuleFailure, match="failed with a reason"):
        judge(load(recorded, catalogue))


def _png(size: tuple[int, int], colour: tuple[int, int, int]) -> str:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


def test_a_result_url_must_serve_the_same_image_not_one_of_the_same_size(
    catalogue: Catalogue,
) -> None:
    recorded = _kept("url_validity")
    judge(load(recorded, catalogue))
    first = base64.b64decode(recorded["aged"][0]["data"])
    size = Image.open(io.BytesIO(first)).size
    recorded["aged"][0]["data"] = _png(size, (128, 128, 128))  # a placeholder of the right size
    with pytest.raises(RuleFailure, match="byte for byte"):
        judge(load(recorded, catalogue))
