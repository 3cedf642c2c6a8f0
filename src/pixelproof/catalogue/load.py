"""The rule catalogue: contracts/rules/*.yaml loaded, validated and expanded into typed rules.

Rules are data. This module turns the tables (one row = one documented promise) into flat ``Rule``
objects that suites, the mock and the CLI query by kind, surface and model. Anything malformed
raises ``CatalogueError`` naming the file, the location and the field, never a bare traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from pixelproof.catalogue.rule import CatalogueError, Rule
from pixelproof.catalogue.schema import (
    BehaviourFile,
    DefaultsFile,
    LevelsFile,
    ModelEntry,
    ModelsFile,
    SizesFile,
    SizeTable,
    SourcesFile,
    SurfacesFile,
    VendorModel,
)
from pixelproof.geometry import NativeSizes, Size
from pixelproof.resources import contracts_dir

__all__ = [
    "Catalogue",
    "CatalogueError",
    "Rule",
    "contracts_dir",
    "load_catalogue",
]

# Files of behaviour rows (one row a rule); vendors.yaml and openai-images.yaml may add models.
BEHAVIOUR_FILES = ("behaviours", "tasks-action", "openai-images", "vendors")
M = TypeVar("M", bound=BaseModel)


# libyaml's safe loader when PyYAML has it: the same documents six times faster (every run loads
# the catalogue in the controller, each xdist worker and the embedded stack's process).
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogueError(path, "", f"cannot read: {exc.strerror or exc}") from None
    try:
        return yaml.load(text, Loader=SAFE_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise CatalogueError(path, where, f"invalid YAML: {problem}") from None


def _validate(model: type[M], path: Path, data: Any) -> M:
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in first["loc"])
        loc = loc.replace(".[", "[")
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise CatalogueError(path, loc or "top level", f"{first['msg']}{more}") from None


SELECTIONS_KEPT = 4096  # distinct (kind, surface, model) selections kept per catalogue


class Catalogue:
    """Every rule, model and vendor fact, loaded once. Query with ``rules(...)``."""

    def __init__(
        self,
        root: Path,
        sources: SourcesFile,
        surfaces: SurfacesFile,
        models: ModelsFile,
        defaults: DefaultsFile,
        rules: list[Rule],
        levels: LevelsFile | None = None,
        extra_models: list[ModelEntry] | None = None,
        size_tables: tuple[SizeTable, ...] = (),
    ) -> None:
        self.root = root
        self.size_tables = size_tables  # the tables as written (the lint reads their flags)
        self.sources = sources
        self.surfaces = surfaces.surfaces
        self.models = [*models.models, *(extra_models or [])]
        self.levels = levels
        self.vendors = models.vendors
        self.gemini_pixels_1k = models.gemini_pixels_1k
        self.defaults = defaults
        self._rules = rules
        self._by_id = {rule.id: rule for rule in rules}
        self._selections: dict[tuple[str | None, str | None, str | None], list[Rule]] = {}

    def __iter__(self) -> Iterator[Rule]:
        return iter(self._rules)

    def __len__(self) -> int:
        return len(self._rules)

    def rule(self, rule_id: str) -> Rule:
        return self._by_id[rule_id]

    def rules(
        self,
        kind: str | Iterable[str] | None = None,
        surface: str | None = None,
        model: str | None = None,
    ) -> list[Rule]:
        """All rules of ``kind`` that apply to ``model`` on ``surface`` (None = any). A selection
        by one kind or a tuple of kinds is kept (the reference gateway and fuzzing's oracle ask
        the same few per request, each a pass over every rule); a new list each time, so a caller
        may change its own."""
        key = (kind, surface, model) if kind is None or isinstance(kind, str | tuple) else None
        kept = self._selections.get(key) if key else None
        if kept is None:
            kinds = {kind} if isinstance(kind, str) else set(kind) if kind is not None else None
            kept = [
                rule
                for rule in self._rules
                if (kinds is None or rule.kind in kinds)
                and (surface is None or rule.applies_to(surface, model))
            ]
            if key and len(self._selections) < SELECTIONS_KEPT:  # models a client names: bounded
                self._selections[key] = kept
        return list(kept)

    def model(self, surface: str, name: str) -> ModelEntry | None:
        return next((m for m in self.models if m.surface == surface and m.model == name), None)

    def vendor(self, surface: str, name: str) -> VendorModel | None:
        entry = self.model(surface, name)
        return self.vendors.get(entry.upstream) if entry and entry.upstream else None

    def native_sizes(self, upstream: str) -> NativeSizes | None:
        vendor = self.vendors.get(upstream)
        return vendor.native_sizes() if vendor and vendor.sizes else None

    def models_on(self, surface: str) -> list[str]:
        return [m.model for m in self.models if m.surface == surface]


def load_catalogue(root: Path | None = None) -> Catalogue:
    """Load and validate every rule file under ``root``/rules (default: ``contracts_dir()``)."""
    root = Path(root) if root is not None else contracts_dir()
    rules_dir = root / "rules"
    if not rules_dir.is_dir():
        raise CatalogueError(rules_dir, "", "rules directory not found")
    files = {
        name: rules_dir / f"{name}.yaml"
        for name in ("sources", "surfaces", "models", "sizes", "behaviours", "defaults", "levels")
    }
    sources = _validate(SourcesFile, files["sources"], _read_yaml(files["sources"]))
    surfaces = _validate(SurfacesFile, files["surfaces"], _read_yaml(files["surfaces"]))
    models = _validate(ModelsFile, files["models"], _read_yaml(files["models"]))
    sizes = _validate(SizesFile, files["sizes"], _read_yaml(files["sizes"]))
    defaults = _validate(DefaultsFile, files["defaults"], _read_yaml(files["defaults"]))
    levels = _validate(LevelsFile, files["levels"], _read_yaml(files["levels"]))

    from pixelproof.catalogue.expand import expand_behaviours, expand_size_tables, with_fallbacks
    from pixelproof.catalogue.levels import assign_levels

    rules = expand_size_tables(sizes.tables, models, files["sizes"])
    rules = with_fallbacks(rules, models, defaults)
    origins = {rule.id: files["sizes"] for rule in rules}
    extra_models: list[ModelEntry] = []
    for name in BEHAVIOUR_FILES:
        path = rules_dir / f"{name}.yaml"
        behaviours = _validate(BehaviourFile, path, _read_yaml(path))
        extra_models += behaviours.models
        more = expand_behaviours(behaviours.rules, path)
        origins.update({rule.id: path for rule in more if rule.id not in origins})
        rules += more
    rules = assign_levels(rules, levels, surfaces, files["levels"])
    all_models = models.model_copy(update={"models": [*models.models, *extra_models]})
    _check_integrity(rules, sources, surfaces, all_models, origins)
    return Catalogue(
        root, sources, surfaces, models, defaults, rules, levels, extra_models, tuple(sizes.tables)
    )


def _check_integrity(
    rules: list[Rule],
    sources: SourcesFile,
    surfaces: SurfacesFile,
    models: ModelsFile,
    origins: Mapping[str, Path],
) -> None:
    """Cross-file checks pydantic cannot see: unique ids, known docs, surfaces and models."""
    seen: dict[str, Rule] = {}
    known_models = {(m.surface, m.model) for m in models.models}
    for rule in rules:
        where = origins[rule.id]
        if rule.id in seen:
            raise CatalogueError(where, f"rule {rule.id}", "duplicate rule id")
        seen[rule.id] = rule
        for src in (rule.source, *rule.also_sources):
            if src.doc not in sources.documents:
                raise CatalogueError(
                    where, f"rule {rule.id}.source.doc", f"unknown document {src.doc!r}"
                )
        if rule.surface != "*" and rule.surface not in surfaces.surfaces:
            raise CatalogueError(
                where, f"rule {rule.id}.surface", f"unknown surface {rule.surface!r}"
            )
        for model in rule.models or ():
            if rule.surface != "*" and (rule.surface, model) not in known_models:
                raise CatalogueError(
                    where, f"rule {rule.id}.models", f"{model!r} is not a model of {rule.surface}"
                )
    for entry in models.models:
        if entry.upstream and entry.upstream not in models.vendors:
            raise CatalogueError(
                "models.yaml",
                f"model {entry.model}.upstream",
                f"unknown vendor {entry.upstream!r}",
            )


@functools.cache
def default_catalogue() -> Catalogue:
    """The catalogue shipped with pixelproof, loaded once per process."""
    return load_catalogue()


def size_of(rule: Rule) -> Size | None:
    value = rule.expect.get("size")
    return Size.parse(value) if value else None
