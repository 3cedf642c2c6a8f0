"""What comes back: url and b64_json, output formats by magic bytes, transparency, revised prompts."""

from __future__ import annotations

import pytest

from pixelproof.judging.evidence import Evidence
from pixelproof.judging.verdicts import judge


@pytest.mark.pixelproof
def test_response_format(case: Evidence) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_output_format(case: Evidence) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_transparent_background(case: Evidence) -> None:
    judge(case)


@pytest.mark.pixelproof
def test_revised_prompt(case: Evidence) -> None:
    judge(case)
