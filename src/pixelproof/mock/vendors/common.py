"""What the vendor dialects share: the required prompt and sizes drawn from an aspect ratio."""

from __future__ import annotations

import math
from typing import Any

from pixelproof.geometry import Size, parse_ratio
from pixelproof.mock.errors import ApiError


def required_prompt(body: dict[str, Any]) -> str:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ApiError(400, "prompt is required", param="prompt", code="MissingParameter")
    return prompt


def ratio_size(ratio: str, side: int, multiple: int = 16) -> Size:
    """A size of ``ratio`` with about side x side pixels, sides rounded to ``multiple``."""
    value = parse_ratio(ratio)
    if value <= 0:
        raise ValueError(f"not an aspect ratio: {ratio!r}")
    width = math.sqrt(side * side * value)
    height = width / value
    return Size(round(width / multiple) * multiple, round(height / multiple) * multiple)
