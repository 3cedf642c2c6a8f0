"""What comes back: url and b64_json, output formats by magic bytes, transparency, revised prompts."""

from __future__ import annotations

import pytest

from pixelproof.judging.evidence import Judged
from pixelproof.judging.verdicts import judge


@pytest.mark.pixelproof("response_format")
def test_response_format(case: Judged) -> None:
    judge(case)


@pytest.mark.pixelproof("output_format")
def test_output_format(case: Judged) -> None:
    judge(case)


@pytest.mark.pixelproof("background")
def test_transparent_background(case: Judged) -> None:
    judge(case)


@pytest.mark.pixelproof("revised_prompt")
def test_revised_prompt(case: Judged) -> None:
    judge(case)
