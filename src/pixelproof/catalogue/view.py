"""Rendering of the catalogue for people (a table) and machines (JSON)."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from pixelproof.catalogue.conflicts import find_conflicts

if TYPE_CHECKING:
    from pixelproof.catalogue import Catalogue, Rule


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


WIDE = 140  # narrower, a table squeezes columns to slivers: one block per rule instead


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
    console = Console(width=width, highlight=False, soft_wrap=False)
    if width >= WIDE:
        console.print(_table(rules))
    else:
        for rule in rules:
            console.print(_block(rule))
    console.print(f"\n{len(rules)} rules")
    return 0


def _models(rule: Rule) -> str:
    return ", ".join(rule.models) if rule.models else "*"


def _table(rules: list[Rule]) -> Table:
    """Every column kept at any width: long cells wrap (fold), none is cut or dropped."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, expand=True)
    longest = max((len(r.id) for r in rules), default=4)
    table.add_column("rule", overflow="fold", min_width=min(longest, 44))
    table.add_column("sev", no_wrap=True)
    table.add_column("surface", no_wrap=True)
    table.add_column("models", overflow="fold", ratio=2)
    table.add_column("expected", overflow="fold", ratio=2)
    table.add_column("source", overflow="fold", ratio=3, min_width=26)
    for r in rules:
        table.add_row(r.id, r.severity, r.surface, _models(r), _expected(r), r.cite())
    return table


def _block(rule: Rule) -> Text:
    """A narrow terminal: the rule's fields on lines of their own, wrapped, nothing dropped."""
    text = Text()
    text.append(rule.id, style="bold")
    text.append(f"  {rule.severity}  {rule.surface}  {_models(rule)}\n")
    text.append(f"  expected: {_expected(rule)}\n")
    text.append(f"  source: {rule.cite()}\n")
    return text


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
