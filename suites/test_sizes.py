"""Sizes: every tier table of the documents, decoded and measured pixel for pixel."""

from __future__ import annotations

import pytest

from pixelproof.judging.evidence import Evidence
from pixelproof.judging.verdicts import judge


@pytest.mark.pixelproof
def test_size_mapping(case: Evidence) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_fallback_to_native_size(case: Evidence) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_gemini_image_size(case: Evidence) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_aspect_ratio(case: Evidence) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_pixel_ceiling(case: Evidence) -> None:
    judge(case)
