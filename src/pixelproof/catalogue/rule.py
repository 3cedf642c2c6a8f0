"""A rule: one documented promise, flat and self-contained; and the error a malformed file raises."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pixelproof.catalogue.schema import Source

Severity = Literal["MUST", "SHOULD"]


class CatalogueError(Exception):
    """A contract or rule file is malformed. ``str()`` names file, location and problem."""

    def __init__(self, path: Path | str, location: str, message: str) -> None:
        self.path = str(path)
        self.location = location
        self.message = message
        super().__init__(
            f"{self.path}: {location}: {message}" if location else f"{path}: {message}"
        )


class Rule(BaseModel):
    """One documented promise, flat and self-contained."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    kind: str
    statement: str
    severity: Severity
    source: Source
    also_sources: tuple[Source, ...] = ()
    surface: str
    models: tuple[str, ...] | None = Field(
        default=None, description="None: every model the target claims on the surface"
    )
    tier: str | None = None
    ratio: str | None = None
    request: dict[str, Any] = Field(default_factory=dict)
    expect: dict[str, Any] = Field(default_factory=dict)
    needs: tuple[str, ...] = ()
    inferred: str | None = None
    table: str | None = None
    levels: tuple[str, ...] = Field(
        default=(), description="the conformance levels this rule belongs to (levels.yaml)"
    )

    def applies_to(self, surface: str, model: str | None = None) -> bool:
        if self.surface not in ("*", surface):
            return False
        return model is None or self.models is None or model in self.models

    @property
    def rejected(self) -> bool:
        return bool(self.expect.get("rejected"))

    def cite(self) -> str:
        return f"{self.source.doc} § {self.source.section}"
