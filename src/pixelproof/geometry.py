"""Pixel sizes and aspect ratios: parsing, comparing, and what a vendor takes natively.

Kept free of I/O so the catalogue, the mock and the suites judge sizes with one vocabulary.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

_SIZE = re.compile(r"^\s*(\d{1,6})\s*[x×*]\s*(\d{1,6})\s*$")
_RATIO = re.compile(r"^\s*(\d{1,3})\s*:\s*(\d{1,3})\s*$")


@dataclass(frozen=True, order=True)
class Size:
    width: int
    height: int

    @classmethod
    def parse(cls, text: str) -> Size:
        """Parse ``WxH`` (also ``W*H`` and ``W×H``, as the documents write them)."""
        if cls is Size and isinstance(text, str):
            return _parsed(text)  # frozen, so one instance per text serves every caller
        return cls(*_size_parts(text))

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def ratio(self) -> float:
        return self.width / self.height

    @property
    def orientation(self) -> str:
        if self.width == self.height:
            return "square"
        return "landscape" if self.width > self.height else "portrait"

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"


def _size_parts(text: object) -> tuple[int, int]:
    match = _SIZE.match(str(text))
    if not match or int(match.group(1)) == 0 or int(match.group(2)) == 0:
        raise ValueError(f"not a size WxH: {text!r}")
    return int(match.group(1)), int(match.group(2))


@functools.lru_cache(maxsize=1024)
def _parsed(text: str) -> Size:
    """Sizes the mock parses on every request (a failed parse raises and is not cached)."""
    return Size(*_size_parts(text))


def is_size(text: object) -> bool:
    if not isinstance(text, str):
        return False
    try:
        Size.parse(text)
    except ValueError:
        return False
    return True


def parse_ratio(text: str) -> float:
    """``"16:9"`` -> 1.777...; raises ValueError on anything else."""
    match = _RATIO.match(str(text))
    if not match or int(match.group(2)) == 0:
        raise ValueError(f"not an aspect ratio W:H: {text!r}")
    return int(match.group(1)) / int(match.group(2))


def ratio_orientation(ratio: str) -> str:
    value = parse_ratio(ratio)
    if math.isclose(value, 1.0):
        return "square"
    return "landscape" if value > 1 else "portrait"


def ratio_matches(size: Size, ratio: str, tolerance: float) -> bool:
    """True when ``size`` has aspect ``ratio`` within a relative ``tolerance``."""
    want = parse_ratio(ratio)
    return abs(size.ratio - want) / want <= tolerance


def ratio_distance(a: float, b: float) -> float:
    """Symmetric distance between two aspect ratios (log scale: 2:1 is as far from 1:1 as 1:2)."""
    return abs(math.log(a) - math.log(b))


@dataclass(frozen=True)
class NativeSizes:
    """What one vendor model accepts: an explicit list, and optionally a rule for free sizes."""

    official: tuple[Size, ...]
    keywords: tuple[str, ...] = ()
    multiple_of: int | None = None
    max_pixels: int | None = None
    max_edge: int | None = None
    min_ratio: float | None = None
    max_ratio: float | None = None

    @property
    def free_form(self) -> bool:
        return self.multiple_of is not None

    def accepts(self, size: Size) -> bool:
        if size in self.official:
            return True
        if not self.free_form:
            return False
        assert self.multiple_of is not None
        checks = (
            size.width % self.multiple_of == 0 and size.height % self.multiple_of == 0,
            self.max_pixels is None or size.pixels <= self.max_pixels,
            self.max_edge is None or max(size.width, size.height) <= self.max_edge,
            self.min_ratio is None or size.ratio >= self.min_ratio,
            self.max_ratio is None or size.ratio <= self.max_ratio,
        )
        return all(checks)

    def why_not(self, size: Size) -> str:
        """One line saying why ``size`` is not native (empty when it is)."""
        if self.accepts(size):
            return ""
        if not self.free_form:
            return f"{size} is not one of {', '.join(map(str, self.official))}"
        reasons = []
        if self.multiple_of and (size.width % self.multiple_of or size.height % self.multiple_of):
            reasons.append(f"sides not divisible by {self.multiple_of}")
        if self.max_pixels and size.pixels > self.max_pixels:
            reasons.append(f"{size.pixels:,} px exceeds the {self.max_pixels:,} px ceiling")
        if self.max_edge and max(size.width, size.height) > self.max_edge:
            reasons.append(f"an edge exceeds {self.max_edge}")
        if (self.min_ratio and size.ratio < self.min_ratio) or (
            self.max_ratio and size.ratio > self.max_ratio
        ):
            reasons.append("aspect ratio out of range")
        return f"{size}: " + "; ".join(reasons)

    def closest_official(self, target: Size) -> Size:
        """The official size closest in aspect ratio to ``target`` (ties: the larger one)."""
        return min(
            self.official,
            key=lambda s: (ratio_distance(s.ratio, target.ratio), -s.pixels),
        )
