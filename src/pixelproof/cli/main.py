"""The `pixelproof` command: a thin shell over the catalogue, the mock, the pytest plugin and reports.

Exit codes (every subcommand): 0 all promises kept, 1 a promise broken, 2 bad usage, profile or
contract file, 3 only infrastructure errors (target unreachable, timeouts) or nothing judged, 130
interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from pixelproof.catalogue import CatalogueError
from pixelproof.cli import discover, merge, mock, profile, reports, rules, run
from pixelproof.cli.exits import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE

# The subcommands, in --help order: each entry adds one subparser. An explicit list, no registry.
COMMANDS: tuple[Callable[[Any], None], ...] = (
    run.add_run,
    rules.add_rules,
    discover.add_discover,
    profile.add_profile,
    reports.add_plan,
    reports.add_diff,
    reports.add_report,
    merge.add_merge,
    mock.add_mock,
    mock.add_faults,
)


Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pixelproof",
        description="Prove that an image-generation gateway or vendor endpoint does what its "
        "documentation says.",
        epilog="Exit codes: 0 all kept, 1 a promise broken, 2 bad usage/profile/contract, "
        "3 infrastructure errors only or nothing judged, 130 interrupted (partial report written).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


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
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except OSError as exc:  # a path given that cannot be written or read: named, never a traceback
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"pixelproof {args.command}: cannot write or read {where}{exc.strerror or exc}",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
