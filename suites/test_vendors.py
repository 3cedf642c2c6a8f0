"""Vendor answers: the documented fields of each vendor's image response, with their types."""

from __future__ import annotations

import pytest

from pixelproof.judging.evidence import Evidence
from pixelproof.judging.verdicts import judge


@pytest.mark.pixelproof
def test_response_shape(case: Evidence) -> None:
    judge(case)
