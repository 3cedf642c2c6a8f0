"""Async tasks of all three styles: lifecycle, failure, unknown ids, deadline, caller id, safety."""

from __future__ import annotations

import pytest

from pixelproof.judging.evidence import Judged
from pixelproof.judging.verdicts import judge


@pytest.mark.pixelproof("task_lifecycle", "jimeng_lifecycle")
def test_task_lifecycle(case: Judged) -> None:
    judge(case)


@pytest.mark.pixelproof("task_failure")
def test_task_failure(case: Judged) -> None:
    judge(case)


@pytest.mark.pixelproof("task_unknown", "jimeng_unknown")
def test_unknown_task(case: Judged) -> None:
    judge(case)


@pytest.mark.pixelproof("task_deadline")
def test_task_deadline(case: Judged) -> None:
    judge(case)


@pytest.mark.pixelproof("task_caller_id", "safety")
def test_submission_rejected(case: Judged) -> None:
    judge(case)


@pytest.mark.pixelproof("jimeng_query")
def test_jimeng_query_parameters(case: Judged) -> None:
    judge(case)


@pytest.mark.pixelproof("gemini_reference")
def test_gemini_inline_reference(case: Judged) -> None:
    judge(case)
