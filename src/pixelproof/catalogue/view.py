"""Rendering of the catalogue for people (a table) and machines (JSON)."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict

from pixelproof.catalogue import Catalogue, Rule
from pixelproof.catalogue.conflicts import find_conflicts


def _expected(rule: Rule) -> str:
    e = rule.expect
    if rule.rejected:
        return "rejected (4xx)"
    if rule.kind == "fallback":
        return f"native size, ratio intent {e.get('ratio')}"
    if "size" in e:
        return str(e["size"]) + (
            "" if e.get("native", True) else f" (fallback {e['fallback_size']})"
        )
    return ", ".join(f"{k}={v}" for k, v in e.items())


def print_rules(catalogue: Catalogue, rules: list[Rule], as_json: bool) -> int:
    if as_json:
        payload = {
            "contracts": str(catalogue.root),
            "count": len(rules),
            "rules": [rule.model_dump(mode="json") for rule in rules],
        }
        print(json.dumps(payload, indent=2, ensure_ascii=False))
        return 0
    width = shutil.get_terminal_size((160, 20)).columns
    rows = [
        (
            r.id,
            r.severity,
            r.surface,
            ",".join(r.models) if r.models else "*",
            _expected(r),
            r.cite(),
        )
        for r in rules
    ]
    headers = ("rule", "sev", "surface", "models", "expected", "source")
    widths = [
        max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
        for i, h in enumerate(headers)
    ]
    widths = [min(w, 48) for w in widths]

    def line(cells: tuple[str, ...]) -> str:
        text = "  ".join(c[:w].ljust(w) for c, w in zip(cells, widths, strict=True))
        return text[: max(width, 80)].rstrip()

    print(line(headers))
    print(line(tuple("-" * w for w in widths)))
    for row in rows:
        print(line(row))
    print(f"\n{len(rules)} rules")
    return 0


def print_conflicts(catalogue: Catalogue, as_json: bool) -> int:
    conflicts = find_conflicts(catalogue)
    if as_json:
        print(
            json.dumps({"conflicts": [asdict(c) for c in conflicts]}, indent=2, ensure_ascii=False)
        )
        return 0
    for kind, title in (
        ("disagreement", "Documents disagree"),
        ("not-native", "Documented sizes not native to their upstream"),
    ):
        chosen = [c for c in conflicts if c.kind == kind]
        print(f"{title} ({len(chosen)}):\n")
        for c in chosen:
            print(f"  {c.topic}: {c.detail}")
            for side in c.sides:
                print(f"    - {side.rule_id} [{side.surface}] = {side.value}")
                print(f"      {side.source}")
            print()
    return 0
