"""`pixelproof rules`: the rule catalogue and its conflicts lint, as a table or JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pixelproof.cli.exits import EXIT_USAGE


def add_contracts_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--contracts",
        type=Path,
        metavar="DIR",
        help="contracts directory (rules/ and openapi/); default: the one shipped with pixelproof",
    )


def add_rules(sub: Any) -> None:
    rules = sub.add_parser(
        "rules",
        help="print the rule catalogue",
        description="Print the rule catalogue derived from the documents: one row per rule, with "
        "its source. Filters combine.",
    )
    add_contracts_option(rules)
    rules.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    rules.add_argument(
        "--conflicts",
        action="store_true",
        help="list cross-document disagreements and documented sizes not native to their upstream",
    )
    rules.add_argument("--kind", help="only rules of this kind (e.g. size, fallback, watermark)")
    rules.add_argument(
        "--surface", help="only rules of this surface (e.g. unified, tasks-official)"
    )
    rules.add_argument("--model", help="only rules that apply to this model")
    rules.set_defaults(handler=_cmd_rules)


def _cmd_rules(args: argparse.Namespace) -> int:
    from pixelproof.catalogue import load_catalogue
    from pixelproof.catalogue.view import print_conflicts, print_rules
    from pixelproof.cli.usage import UsageProblem, check_choice

    catalogue = load_catalogue(args.contracts)
    try:
        check_choice("--kind", args.kind, (r.kind for r in catalogue))
        check_choice("--surface", args.surface, catalogue.surfaces)
        named = {m for r in catalogue for m in r.models or ()}
        check_choice("--model", args.model, named | {m.model for m in catalogue.models})
    except UsageProblem as exc:
        print(f"pixelproof rules: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.conflicts:
        return print_conflicts(catalogue, as_json=args.json)
    rules = catalogue.rules(kind=args.kind, surface=args.surface, model=args.model)
    if args.surface is None and args.model is not None:
        rules = [r for r in rules if r.models is None or args.model in r.models]
    return print_rules(catalogue, rules, as_json=args.json)
