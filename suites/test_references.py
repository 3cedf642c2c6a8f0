"""Reference images: counted limits, formats, sizes, and what reaches the upstream."""

from __future__ import annotations

import pytest

from pixelproof.judging.evidence import Evidence
from pixelproof.judging.verdicts import judge


@pytest.mark.pixelproof
def test_reference_limit(case: Evidence) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_reference_constraints(case: Evidence) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_references_forwarded(case: Evidence) -> None:
    judge(case)
