"""Edits (multipart and JSON, masks), the /v1/edits alias, and variations."""

from __future__ import annotations

import pytest

from pixelproof.judging.evidence import Evidence
from pixelproof.judging.verdicts import judge


@pytest.mark.pixelproof
def test_edit(case: Evidence) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_edits_alias(case: Evidence) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_variations(case: Evidence) -> None:
    judge(case)
