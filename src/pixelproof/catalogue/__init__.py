"""The rule catalogue: schema of the rule files, loading, expansion into rules, the conflicts lint, views."""

from __future__ import annotations

from pixelproof.catalogue.load import (
    Catalogue,
    CatalogueError,
    Rule,
    contracts_dir,
    default_catalogue,
    load_catalogue,
)

__all__ = [
    "Catalogue",
    "CatalogueError",
    "Rule",
    "contracts_dir",
    "default_catalogue",
    "load_catalogue",
]
