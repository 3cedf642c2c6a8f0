"""Request semantics: n, watermark, pass-through, model validation, errors, documented defaults."""

from __future__ import annotations

import pytest

from pixelproof.judging.evidence import Evidence
from pixelproof.judging.verdicts import judge


@pytest.mark.pixelproof
def test_image_count(case: Evidence) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_n_forwarded(case: Evidence) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_watermark_tri_state(case: Evidence) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_passthrough(case: Evidence) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_model_validation(case: Evidence) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_error_shape(case: Evidence) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_auth(case: Evidence) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_equivalent_requests(case: Evidence) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_upstream_failure(case: Evidence) -> None:
    judge(case)
