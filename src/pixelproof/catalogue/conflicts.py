"""The catalogue lint: where documents disagree, and which documented sizes no upstream takes.

Nothing here picks a winner. Both sides stay in the catalogue with their scopes; this module only
names the disagreement so a reader (and `pixelproof rules --conflicts`) sees it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

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


def find_conflicts(catalogue: Catalogue) -> list[Conflict]:
    return (
        size_disagreements(catalogue)
        + limit_disagreements(catalogue)
        + ratio_set_disagreements(catalogue)
        + not_native(catalogue)
    )
