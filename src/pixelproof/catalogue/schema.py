"""Pydantic models of the rule files as written (before expansion into flat rules)."""

from __future__ import annotations

import functools
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pixelproof.geometry import NativeSizes, Size, is_size, parse_ratio

Severity = Literal["MUST", "SHOULD"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    """Where a rule comes from: a document, its section, and a short quote."""

    doc: str = Field(min_length=1)
    section: str = Field(min_length=1)
    quote: str = ""


class Document(_Strict):
    title: str
    surface: str


class SourcesFile(_Strict):
    documents: dict[str, Document]


class Surface(_Strict):
    title: str
    openapi: str
    role: Literal["gateway", "vendor"]


class SurfacesFile(_Strict):
    surfaces: dict[str, Surface]


class ModelEntry(_Strict):
    surface: str
    model: str
    family: str
    generation: bool
    edit: bool | Literal["channel"]
    outputs: tuple[Literal["url", "b64_json", "inlineData"], ...]
    upstream: str | None = None
    default_quality: str | None = None
    default_size: str | None = None
    price_per_image_usd: float | None = Field(default=None, ge=0)
    source: Source


class VendorSizes(_Strict):
    official: tuple[str, ...]
    keywords: tuple[str, ...] = ()
    multiple_of: int | None = Field(default=None, ge=1)
    max_pixels: int | None = Field(default=None, ge=1)
    max_edge: int | None = Field(default=None, ge=1)
    min_ratio: float | None = Field(default=None, gt=0)
    max_ratio: float | None = Field(default=None, gt=0)

    @field_validator("official")
    @classmethod
    def _sizes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            Size.parse(item)
        return value


class VendorModel(_Strict):
    sizes: VendorSizes | None = None
    image_sizes: tuple[Literal["1K", "2K", "4K"], ...] = ()
    n_max: int = Field(default=1, ge=1)
    formats: tuple[Literal["png", "jpeg", "webp"], ...]
    outputs: tuple[Literal["url", "b64_json", "inlineData"], ...]
    max_reference_images: int | None = Field(default=None, ge=0)
    watermark_default: bool | None = None
    source: Source

    def native_sizes(self) -> NativeSizes | None:
        """Built once per size table (both are frozen): the mock asks on every request."""
        return None if self.sizes is None else _native_sizes(self.sizes)


@functools.lru_cache(maxsize=256)
def _native_sizes(s: VendorSizes) -> NativeSizes:
    return NativeSizes(
        official=tuple(Size.parse(x) for x in s.official),
        keywords=s.keywords,
        multiple_of=s.multiple_of,
        max_pixels=s.max_pixels,
        max_edge=s.max_edge,
        min_ratio=s.min_ratio,
        max_ratio=s.max_ratio,
    )


class ModelsFile(_Strict):
    models: list[ModelEntry]
    vendors: dict[str, VendorModel]
    gemini_pixels_1k: dict[str, str]

    @field_validator("gemini_pixels_1k")
    @classmethod
    def _pixels(cls, value: dict[str, str]) -> dict[str, str]:
        for ratio, size in value.items():
            parse_ratio(ratio)
            Size.parse(size)
        return value


class SizeTable(_Strict):
    """A table of the documents, as written: rows, or a ratio x tier grid."""

    table: str
    kind: Literal["size", "gemini_size", "aspect_ratio"]
    surface: str
    models: tuple[str, ...] = ()
    severity: Severity
    id: str
    statement: str
    statement_rejected: str | None = None
    request: dict[str, Any]
    source: Source
    also_source: Source | None = None
    inferred: str | None = None
    tier: str | None = None
    compare_as: str | None = None
    ratio_tolerance: float | None = Field(default=None, gt=0, lt=0.2)
    complete: bool = True  # False where the document ends the list with "etc."
    rows: list[dict[str, Any]] = Field(default_factory=list)
    columns: list[str] = Field(default_factory=list)
    grid: list[list[str]] = Field(default_factory=list)
    quote: str = ""

    @model_validator(mode="after")
    def _shape(self) -> SizeTable:
        if bool(self.rows) == bool(self.grid):
            raise ValueError(
                "a table has either rows or a grid (with columns), not both or neither"
            )
        if self.grid:
            if not self.columns or self.columns[0] != "ratio":
                raise ValueError("a grid needs columns starting with 'ratio'")
            for i, line in enumerate(self.grid):
                if len(line) != len(self.columns):
                    raise ValueError(
                        f"grid[{i}] has {len(line)} cells, columns has {len(self.columns)}"
                    )
        for i, row in enumerate(self.rows):
            expect = str(row.get("expect", ""))
            if self.kind == "size" and not (is_size(expect) or expect == "rejected"):
                raise ValueError(f"rows[{i}].expect must be WxH or 'rejected', got {expect!r}")
            if "quote" not in row and not self.quote:
                raise ValueError(f"rows[{i}] has no quote (and the table has none)")
        return self

    def cells(self) -> list[dict[str, Any]]:
        """Rows, with grids unrolled into one row per (ratio, tier)."""
        if self.rows:
            return [dict(row) for row in self.rows]
        return [
            {
                "ratio": line[0],
                "tier": tier,
                "expect": cell,
                "quote": self.quote or _row_quote(line),
            }
            for line in self.grid
            for tier, cell in zip(self.columns[1:], line[1:], strict=True)
        ]


def _row_quote(line: list[str]) -> str:
    """A grid row as the document prints it (x as ×, rejected as the document's cross)."""

    def cell(text: str) -> str:
        if text == "rejected":
            return "❌ Pixel limit exceeded"
        return text.replace("x", "×") if is_size(text) else text

    return " | ".join(cell(c) for c in line)


class SizesFile(_Strict):
    tables: list[SizeTable]


class BehaviourRow(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_]+(\.[A-Za-z0-9_:\-]+)+$")
    kind: str = Field(pattern=r"^[a-z_]+$")
    surface: str
    models: Literal["*"] | tuple[str, ...]
    severity: Severity
    statement: str = Field(min_length=10)
    request: dict[str, Any]
    expect: dict[str, Any]
    source: Source
    needs: Literal["recorder"] | None = None
    inferred: str | None = None
    levels: tuple[str, ...] | None = Field(
        default=None, description="the levels this rule belongs to; default: from its surface"
    )


class BehaviourFile(_Strict):
    rules: list[BehaviourRow]
    models: list[ModelEntry] = Field(
        default_factory=list, description="models of the surfaces these rules are written for"
    )


class Level(_Strict):
    """A conformance level: a name a profile can claim, on the surfaces listed."""

    title: str
    surfaces: tuple[str, ...] = Field(min_length=1)
    includes: tuple[str, ...] = ()


class LevelMembers(_Strict):
    """Rules (ids or globs) that also belong to a level, and why."""

    rules: tuple[str, ...] = Field(min_length=1)
    why: str = Field(min_length=5)
    native_only: bool = Field(
        default=False, description="only size rules whose size the upstream takes natively"
    )


class LevelRestriction(_Strict):
    """Rules (ids or globs) that belong to these levels only, whatever their surface says."""

    rules: tuple[str, ...] = Field(min_length=1)
    levels: tuple[str, ...] = Field(min_length=1)
    why: str = Field(min_length=5)


class LevelsFile(_Strict):
    levels: dict[str, Level]
    gateway_default: str
    restricted: list[LevelRestriction] = Field(default_factory=list)
    members: dict[str, list[LevelMembers]] = Field(default_factory=dict)


class Polling(_Strict):
    initial_delay_s: float = Field(ge=0)
    interval_s: float = Field(gt=0)
    max_interval_s: float = Field(gt=0)
    timeout_s: float = Field(gt=0)
    source: Source
    inferred: str | None = None


class Fallback(_Strict):
    statement: str
    sources: tuple[Source, ...]
    intent_template: str


class Safety(_Strict):
    prompt: str
    blocked_terms: tuple[str, ...]


class Limits(_Strict):
    pixel_ceiling: int
    pixel_ceiling_source: Source
    url_ttl_s: dict[str, int]


class NotedSide(_Strict):
    surface: str
    value: str
    doc: str
    section: str
    quote: str = Field(min_length=1)


class NotedConflict(_Strict):
    """A disagreement between documents that no table shows, recorded with each side's quote."""

    topic: str
    detail: str
    sides: tuple[NotedSide, ...] = Field(min_length=2)


class DefaultsFile(_Strict):
    polling: dict[str, Polling]
    fallback: Fallback
    ratio_tolerance: float = Field(gt=0, lt=0.2)
    safety: Safety
    limits: Limits
    conflicts: tuple[NotedConflict, ...] = ()
