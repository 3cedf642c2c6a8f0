"""The `pixelproof` command: a thin shell over the catalogue, the mock, the pytest plugin and reports.

Exit codes (every subcommand): 0 all promises kept, 1 a promise broken, 2 bad usage, profile or
contract file, 3 only infrastructure errors (target unreachable, timeouts).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pixelproof.catalogue import CatalogueError

EXIT_OK, EXIT_BROKEN, EXIT_USAGE, EXIT_INFRA = 0, 1, 2, 3

Handler = Callable[[argparse.Namespace], int]


def _add_contracts_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--contracts",
        type=Path,
        metavar="DIR",
        help="contracts directory (rules/ and openapi/); default: the one shipped with pixelproof",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pixelproof",
        description="Prove that an image-generation gateway or vendor endpoint does what its "
        "documentation says.",
        epilog="Exit codes: 0 all kept, 1 a promise broken, 2 bad usage/profile/contract, "
        "3 infrastructure errors only.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from pixelproof.cli import commands as cli_commands

    for register in cli_commands.load_all():
        register(sub)
    rules = sub.add_parser(
        "rules",
        help="print the rule catalogue",
        description="Print the rule catalogue derived from the documents: one row per rule, with "
        "its source. Filters combine.",
    )
    _add_contracts_option(rules)
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
    return parser


def _cmd_rules(args: argparse.Namespace) -> int:
    from pixelproof.catalogue import load_catalogue
    from pixelproof.catalogue.view import print_conflicts, print_rules

    catalogue = load_catalogue(args.contracts)
    if args.conflicts:
        return print_conflicts(catalogue, as_json=args.json)
    rules = catalogue.rules(kind=args.kind, surface=args.surface, model=args.model)
    if args.surface is None and args.model is not None:
        rules = [r for r in rules if r.models is None or args.model in r.models]
    return print_rules(catalogue, rules, as_json=args.json)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return handler(args)
    except CatalogueError as exc:
        print(f"pixelproof: contract error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("pixelproof: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
