"""How a rule's ``expect`` reads: allowed values, status classes, tiers.

Rules say what the documents allow, which is often a set ("omitted or true", "any 4xx"), not one
value. These helpers keep that reading in one place so verdicts stay one line per promise.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pixelproof.geometry import Size

ABSENT = "absent"
TIERS = {"1K": 1024, "2K": 2048, "4K": 4096}


def allowed(spec: Any) -> list[Any]:
    """The values a rule allows: a list as written, a single value as a one-item list."""
    return list(spec) if isinstance(spec, list) else [spec]


def value_allowed(value: Any, spec: Any) -> bool:
    """``value`` (``ABSENT`` when missing) is one of ``spec``; booleans never equal 0/1."""
    return any(value == want and type(value) is type(want) for want in allowed(spec))


def status_matches(status: int | None, spec: Any) -> bool:
    """``spec`` is an exact code, ``"4xx"``, or a list of those."""
    if status is None:
        return False
    for want in allowed(spec):
        if want == "4xx" and 400 <= status < 500:
            return True
        if isinstance(want, int) and status == want:
            return True
    return False


def nearest_tier(size: Size) -> str:
    """The tier (1K/2K/4K) whose square is nearest in pixel count, on a log scale.

    The seeds name tiers, not pixels; reading a tier as "about (1024 n)^2 pixels" is pixelproof's
    inference (marked on the rules that use it).
    """
    return min(TIERS, key=lambda t: abs(math.log(size.pixels) - math.log(TIERS[t] ** 2)))
