"""Edits (multipart and JSON, masks), the /v1/edits alias, and variations."""

from __future__ import annotations

import pytest

from pixelproof.judging.evidence import Judged
from pixelproof.judging.verdicts import judge


@pytest.mark.pixelproof
def test_edit(case: Judged) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_edits_alias(case: Judged) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_variations(case: Judged) -> None:
    judge(case)
