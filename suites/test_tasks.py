"""Async tasks of all three styles: lifecycle, failure, unknown ids, deadline, caller id, safety."""

from __future__ import annotations

import pytest

from pixelproof.judging.evidence import Evidence
from pixelproof.judging.verdicts import judge


@pytest.mark.pixelproof
def test_task_lifecycle(case: Evidence) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_task_failure(case: Evidence) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_unknown_task(case: Evidence) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_url_validity(case: Evidence) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_task_deadline(case: Evidence) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_submission_rejected(case: Evidence) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_jimeng_query_parameters(case: Evidence) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_gemini_inline_reference(case: Evidence) -> None:
    judge(case)
