"""The catalogue lint: where documents disagree, and which documented sizes no upstream takes.

Nothing here picks a winner. Both sides stay in the catalogue with their scopes; this module only
names the disagreement so a reader (and `pixelproof rules --conflicts`) sees it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pixelproof.geometry import Size

if TYPE_CHECKING:
    from pixelproof.catalogue import Catalogue, Rule


@dataclass(frozen=True)
class Side:
    rule_id: str
    surface: str
    value: str
    source: str


@dataclass(frozen=True)
class Conflict:
    topic: str
    kind: str  # "disagreement" | "not-native"
    detail: str
    sides: tuple[Side, ...] = field(default_factory=tuple)


def _lineage(catalogue: Catalogue, rule: Rule) -> str | None:
    """The vendor model a rule's model is forwarded to: rules about one lineage are comparable."""
    if not rule.models or len(rule.models) != 1:
        entries = [catalogue.model(rule.surface, m) for m in rule.models or ()]
        upstreams = {e.upstream for e in entries if e}
        return upstreams.pop() if len(upstreams) == 1 else None
    entry = catalogue.model(rule.surface, rule.models[0])
    return entry.upstream if entry else None


def _outcome(rule: Rule) -> str:
    return "rejected" if rule.rejected else str(rule.expect.get("size") or rule.expect.get("ratio"))


def _side(rule: Rule, value: str) -> Side:
    return Side(rule.id, rule.surface, value, f'{rule.cite()}: "{rule.source.quote}"')


def size_disagreements(catalogue: Catalogue) -> list[Conflict]:
    groups: dict[tuple[str, str, str], list[Rule]] = defaultdict(list)
    for rule in catalogue.rules("size"):
        lineage, tier = _lineage(catalogue, rule), rule.expect.get("compare_tier")
        if lineage and rule.ratio and tier:
            groups[(lineage, rule.ratio, tier)].append(rule)
    conflicts = []
    for (lineage, ratio, tier), rules in sorted(groups.items()):
        outcomes = {_outcome(r) for r in rules}
        if len(outcomes) > 1 and len({r.surface for r in rules}) > 1:
            conflicts.append(
                Conflict(
                    topic=f"{lineage} {ratio} @ {tier}",
                    kind="disagreement",
                    detail=f"{ratio} at {tier} maps to {' vs '.join(sorted(outcomes))} depending on the surface",
                    sides=tuple(_side(r, _outcome(r)) for r in rules),
                )
            )
    return conflicts


def limit_disagreements(catalogue: Catalogue) -> list[Conflict]:
    groups: dict[str, list[Rule]] = defaultdict(list)
    for rule in catalogue.rules("ref_limit"):
        models = rule.models or tuple(catalogue.models_on(rule.surface))
        for model in models:
            entry = catalogue.model(rule.surface, model)
            if entry and entry.upstream:
                groups[entry.upstream].append(rule)
    conflicts = []
    for lineage, rules in sorted(groups.items()):
        unique = {r.id: r for r in rules}.values()
        limits = {str(r.expect.get("max")) for r in unique}
        if len(limits) > 1:
            conflicts.append(
                Conflict(
                    topic=f"{lineage} reference images",
                    kind="disagreement",
                    detail=f"up to {' vs '.join(sorted(limits, key=int))} reference images depending on the surface",
                    sides=tuple(_side(r, str(r.expect.get("max"))) for r in unique),
                )
            )
    return conflicts


def ratio_set_disagreements(catalogue: Catalogue) -> list[Conflict]:
    """Different surfaces of one lineage documenting different sets of aspect ratios."""
    sets: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    witness: dict[tuple[str, str], Rule] = {}
    for rule in catalogue.rules(["size", "aspect_ratio"]):
        lineage = _lineage(catalogue, rule)
        if lineage and rule.ratio and rule.table:
            sets[lineage][rule.surface].add(rule.ratio)
            witness.setdefault((lineage, rule.surface), rule)
    conflicts = []
    for lineage, by_surface in sorted(sets.items()):
        sizes = {surface: len(ratios) for surface, ratios in by_surface.items()}
        if len(set(sizes.values())) > 1:
            conflicts.append(
                Conflict(
                    topic=f"{lineage} aspect ratios",
                    kind="disagreement",
                    detail=", ".join(f"{n} ratios on {s}" for s, n in sorted(sizes.items())),
                    sides=tuple(
                        _side(witness[(lineage, s)], ", ".join(sorted(by_surface[s])))
                        for s in sorted(by_surface)
                    ),
                )
            )
    return conflicts


def not_native(catalogue: Catalogue) -> list[Conflict]:
    conflicts = []
    for rule in catalogue.rules("size"):
        if rule.expect.get("native") is False:
            fallback = catalogue.rule("fallback." + rule.id.removeprefix("size."))
            conflicts.append(
                Conflict(
                    topic=rule.id,
                    kind="not-native",
                    detail=f"{rule.expect['why']} for {fallback.expect['upstream']}: "
                    f"falls back (closest official size {rule.expect['fallback_size']})",
                    sides=(
                        _side(rule, rule.expect["size"]),
                        _side(fallback, fallback.expect["closest_official"]),
                    ),
                )
            )
    return conflicts


def ceiling_disagreements(catalogue: Catalogue) -> list[Conflict]:
    """Documented sizes over the documented pixel ceiling, and refusals "over the limit" that are not."""
    limits = catalogue.defaults.limits
    ceiling, src = limits.pixel_ceiling, limits.pixel_ceiling_source
    ceiling_side = Side(
        "limits.pixel_ceiling", "*", f"{ceiling:,} px", f'{src.doc} § {src.section}: "{src.quote}"'
    )
    sizes = [
        r
        for r in catalogue.rules("size")
        if r.expect.get("size") and _lineage(catalogue, r) == "openai/gpt-image-2"
    ]
    over = [r for r in sizes if Size.parse(r.expect["size"]).pixels > ceiling]
    conflicts = []
    if over:
        conflicts.append(
            Conflict(
                topic="openai/gpt-image-2 pixel ceiling",
                kind="disagreement",
                detail=f"{len(over)} documented sizes exceed the {ceiling:,} px ceiling: "
                + ", ".join(
                    f"{r.expect['size']} ({Size.parse(r.expect['size']).pixels:,} px)" for r in over
                ),
                sides=(ceiling_side, *(_side(r, r.expect["size"]) for r in over)),
            )
        )
    for refused in catalogue.rules("size"):
        if not (refused.rejected and "pixel limit" in refused.source.quote.lower()):
            continue
        within = [
            r
            for r in sizes
            if r.ratio == refused.ratio
            and r.expect.get("compare_tier") == refused.expect.get("compare_tier")
            and Size.parse(r.expect["size"]).pixels <= ceiling
        ]
        for r in within:
            px = Size.parse(r.expect["size"]).pixels
            conflicts.append(
                Conflict(
                    topic=f"{refused.id} over the pixel limit",
                    kind="disagreement",
                    detail=f"{refused.ratio} at {refused.tier} is refused as over the pixel limit, but {r.id} documents "
                    f"{r.expect['size']} = {px:,} px, {'exactly' if px == ceiling else 'within'} the {ceiling:,} px ceiling",
                    sides=(_side(refused, "rejected"), _side(r, r.expect["size"]), ceiling_side),
                )
            )
    return conflicts


def ratio_without_size(catalogue: Catalogue) -> list[Conflict]:
    """A ratio a document lists for models whose complete size table gives it no size."""
    complete = {table.table for table in catalogue.size_tables if table.complete}
    gaps: dict[tuple[str, str], list[tuple[str, Rule]]] = defaultdict(list)
    for rule in catalogue.rules("aspect_ratio", "unified"):
        for model in rule.models or ():
            tables = [r for r in catalogue.rules("size", "unified", model) if r.table in complete]
            if tables and rule.ratio not in {r.ratio for r in tables}:
                gaps[(tables[0].table or "", rule.ratio or "")].append((model, rule))
    conflicts = []
    for (table, ratio), found in sorted(gaps.items()):
        models = ", ".join(m for m, _ in found)
        witness = next(r for r in catalogue.rules("size") if r.table == table)
        conflicts.append(
            Conflict(
                topic=f"{models} {ratio} without a size",
                kind="disagreement",
                detail=f"{ratio} is listed for {models}, but the size table {table} has no {ratio} row",
                sides=(_side(found[0][1], ratio), _side(witness, f"no {ratio} row")),
            )
        )
    return conflicts


def noted_disagreements(catalogue: Catalogue) -> list[Conflict]:
    """Disagreements no table shows (semantics, spelling), recorded as data with their quotes."""
    return [
        Conflict(
            topic=note.topic,
            kind="disagreement",
            detail=note.detail,
            sides=tuple(
                Side(note.topic, s.surface, s.value, f'{s.doc} § {s.section}: "{s.quote}"')
                for s in note.sides
            ),
        )
        for note in catalogue.defaults.conflicts
    ]


def find_conflicts(catalogue: Catalogue) -> list[Conflict]:
    return (
        size_disagreements(catalogue)
        + limit_disagreements(catalogue)
        + ratio_set_disagreements(catalogue)
        + ceiling_disagreements(catalogue)
        + ratio_without_size(catalogue)
        + noted_disagreements(catalogue)
        + not_native(catalogue)
    )
