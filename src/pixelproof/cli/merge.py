"""`pixelproof merge`: combine the run dirs of a sharded run (CI matrix) into one."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

MERGE_HELP = """\
Combine the run directories of `pixelproof run --shard K/N` (one per CI runner) into one run:
run.json, junit.xml, summary.md, report.html and allure-results, with the exit code the unsharded
run would have given (0 kept, 1 broken, 3 errors only). Missing, repeated or foreign shards are
named and exit 2; the partial report is still written.
"""


def add_merge(sub: Any) -> None:
    parser = sub.add_parser("merge", help="combine shard run dirs into one run",
                            description=MERGE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="shard run dirs")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="merged run dir")
    parser.set_defaults(handler=_run_merge)


def _run_merge(args: argparse.Namespace) -> int:
    from pixelproof.report.merge import merge_dirs
    from pixelproof.report.summary import spent_text

    merged = merge_dirs(args.run_dirs, args.out)
    for problem in merged.problems:
        print(f"pixelproof merge: {problem}", file=sys.stderr)
    counts = merged.data["counts"]
    listing = ", ".join(f"{counts[k]} {k}" for k in counts if counts[k])
    print(f"pixelproof merge: {len(args.run_dirs)} run dir(s), {spent_text(merged.data)}, "
          f"{listing or 'nothing judged'}; written to {args.out}", file=sys.stderr)  # fmt: skip
    return merged.exit_code
