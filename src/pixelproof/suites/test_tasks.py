"""Async tasks of all three styles: lifecycle, failure, unknown ids, deadline, caller id, safety."""

from __future__ import annotations

import pytest

from pixelproof.judging.evidence import Judged
from pixelproof.judging.verdicts import judge


@pytest.mark.pixelproof
def test_task_lifecycle(case: Judged) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_task_failure(case: Judged) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_unknown_task(case: Judged) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_task_deadline(case: Judged) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_submission_rejected(case: Judged) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_jimeng_query_parameters(case: Judged) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_gemini_inline_reference(case: Judged) -> None:
    judge(case)
