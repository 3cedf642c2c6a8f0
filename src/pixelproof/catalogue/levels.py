"""Conformance levels: which level(s) each rule belongs to, and which level a target claims.

A rule's levels come from its surface (a gateway surface: the gateway default; a vendor surface:
that vendor's level; every surface: every level), or from its own row; ``members`` in levels.yaml
add a level to rules written elsewhere. A level that includes another holds all of its rules, so
``openai-images`` rules are ``unified-gateway`` rules too and a superset never forgives a subset.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pixelproof.catalogue.rule import Rule
    from pixelproof.catalogue.schema import LevelsFile, SurfacesFile


def _closure(levels: LevelsFile, names: set[str]) -> tuple[str, ...]:
    """``names`` plus every level that includes one of them, transitively, in file order."""
    out = set(names)
    changed = True
    while changed:
        changed = False
        for name, level in levels.levels.items():
            if name not in out and out.intersection(level.includes):
                out.add(name)
                changed = True
    return tuple(n for n in levels.levels if n in out)


def default_levels(
    rule: Rule, levels: LevelsFile, surfaces: SurfacesFile, only: dict[str, set[str]] | None = None
) -> set[str]:
    if rule.levels:
        return set(rule.levels)
    if only and rule.id in only:
        return only[rule.id]
    if rule.surface == "*":
        return set(levels.levels)
    surface = surfaces.surfaces[rule.surface]
    if surface.role == "gateway":
        return {levels.gateway_default}
    return {name for name, level in levels.levels.items() if rule.surface in level.surfaces}


def validate_levels(levels: LevelsFile, surfaces: SurfacesFile, path: Path) -> None:
    """Names that point nowhere are errors: a level typo would silently unclaim rules."""
    from pixelproof.catalogue.rule import CatalogueError

    names = set(levels.levels)
    if levels.gateway_default not in names:
        raise CatalogueError(path, "gateway_default", f"unknown level {levels.gateway_default!r}")
    for name, level in levels.levels.items():
        for other in level.includes:
            if other not in names:
                raise CatalogueError(path, f"levels.{name}.includes", f"unknown level {other!r}")
        for surface in level.surfaces:
            if surface not in surfaces.surfaces:
                raise CatalogueError(
                    path, f"levels.{name}.surfaces", f"unknown surface {surface!r}"
                )
    for name in levels.members:
        if name not in names:
            raise CatalogueError(path, f"members.{name}", f"unknown level {name!r}")
    for name, surface in surfaces.surfaces.items():
        if surface.role == "vendor" and not any(
            name in lv.surfaces for lv in levels.levels.values()
        ):
            raise CatalogueError(
                path, "levels", f"no level can be claimed on vendor surface {name!r}"
            )


def assign_levels(
    rules: list[Rule], levels: LevelsFile, surfaces: SurfacesFile, path: Path
) -> list[Rule]:
    """Every rule with its levels filled in (closed over ``includes``)."""
    from pixelproof.catalogue.rule import CatalogueError

    validate_levels(levels, surfaces, path)
    only: dict[str, set[str]] = {}
    for r_index, restriction in enumerate(levels.restricted):
        for rule in _matching(rules, restriction.rules, path, f"restricted[{r_index}].rules"):
            only[rule.id] = set(restriction.levels)
    extra: dict[str, set[str]] = {}
    for name, groups in levels.members.items():
        for g_index, group in enumerate(groups):
            for rule in _matching(rules, group.rules, path, f"members.{name}[{g_index}].rules"):
                if group.native_only and rule.expect.get("native") is False:
                    continue
                extra.setdefault(rule.id, set()).add(name)
    out = []
    for rule in rules:
        names = default_levels(rule, levels, surfaces, only) | extra.get(rule.id, set())
        for name in names:
            if name not in levels.levels:
                raise CatalogueError(path, f"rule {rule.id}.levels", f"unknown level {name!r}")
        out.append(rule.model_copy(update={"levels": _closure(levels, names)}))
    return out


def _matching(rules: list[Rule], patterns: tuple[str, ...], path: Path, where: str) -> list[Rule]:
    """Rules whose id matches a pattern; a pattern matching nothing is stale, and an error."""
    from pixelproof.catalogue.rule import CatalogueError

    hits: list[Rule] = []
    for pattern in patterns:
        found = [r for r in rules if fnmatch.fnmatchcase(r.id, pattern)]
        if not found:
            raise CatalogueError(path, where, f"{pattern!r} matches no rule")
        hits += found
    return hits


def claimable(levels: LevelsFile, surface: str) -> list[str]:
    """The levels a profile may claim on ``surface``."""
    return [name for name, level in levels.levels.items() if surface in level.surfaces]
