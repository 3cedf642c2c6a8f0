"""`pixelproof run`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pixelproof import values

RUN_HELP = """\
Judge a target against every documented rule it claims, and write reports/<run id>/.

With no --target, starts the reference gateway and the vendor mock on free loopback ports and
judges them (the README's first command). With --target FILE, judges the deployment the profile
describes (fixtures/targets/ has examples). --fault NAME injects a mock fault into the embedded
stack, to watch pixelproof catch it.

Reports: junit.xml (one test case per rule x model), run.json, summary.md, report.html and
allure-results/.
Exit codes: 0 every promise kept; 1 a promise broken (or a waiver expired or fixed; a 5xx or
non-JSON answer that repeats is a broken promise); 2 bad usage, profile or contract (no report);
3 only infrastructure errors (unreachable, timeouts, a dead recorder, a 5xx that does not repeat),
or nothing judged (every case skipped); 130 interrupted (Ctrl-C or SIGTERM: the partial report
is written and says so).
With --target, a preflight reaches every base URL and the recorder first (exit 3 if one cannot be).
Anything after `--` goes to pytest unchanged.
"""


def add_run(sub: Any) -> None:
    parser = sub.add_parser("run", help="run the conformance suites against a target (default: the embedded stack)",
                            description=RUN_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument(
        "--target", metavar="FILE", help="target profile (YAML); default: embedded reference stack"
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME",
        help="embedded stack only: inject a mock fault (repeatable)",
    )
    parser.add_argument(
        "--rules",
        action="append",
        default=[],
        metavar="GLOB",
        help="only rules whose id matches, e.g. 'size.*' (repeatable)",
    )
    parser.add_argument(
        "-n",
        "--workers",
        metavar="N",
        help="parallel workers forked from the run (see pixelproof.lanes): auto (one per CPU) or a number",
    )
    parser.add_argument(
        "--report-dir",
        type=Path_,
        default="reports",
        metavar="DIR",
        help="where run directories go (default reports/)",
    )
    parser.add_argument("--run-id", type=values.run_id,
                        help="name of the run directory (default: UTC timestamp)")  # fmt: skip
    parser.add_argument(
        "--time-scale",
        type=values.positive,
        default=1000.0,
        metavar="X",
        help="embedded stack clock speed (default 1000)",
    )
    parser.add_argument(
        "--budget",
        type=values.count,
        metavar="IMAGES",
        help="stop buying images at this many; cases left unrun are reported as skipped",
    )
    parser.add_argument("--shard", metavar="K/N",
                        help="run shard K of N (CI matrix): whole request groups, never one request "
                        "twice; combine the shards' run dirs with `pixelproof merge`")  # fmt: skip
    parser.add_argument("--fuzz", choices=["auto", "off", "negative", "full"], default="auto",
                        help="contract fuzzing (default auto: full, or negative for a paid profile)")  # fmt: skip
    parser.add_argument("--fuzz-mode", choices=["deterministic", "explore"], default="deterministic",
                        help="deterministic for CI gates (default), explore for nightly runs")  # fmt: skip
    parser.add_argument("--fuzz-budget", type=values.count, default=400, metavar="N",
                        help="the most requests fuzzing may send (default 400)")  # fmt: skip
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="one line per rule (-vv: more)"
    )
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.set_defaults(handler=_run_run)


def Path_(text: str) -> Any:

    return Path(text)


def _run_run(args: argparse.Namespace) -> int:
    from pixelproof.cli.usage import UsageProblem

    try:
        _check_usage(args)
    except UsageProblem as exc:
        print(f"pixelproof run: {exc}", file=sys.stderr)
        return 2
    early = None
    if not args.target:  # the embedded stack starts before pytest is imported (EarlyStack)
        from pixelproof.mock.faults import validate
        from pixelproof.mock.stack_process import EarlyStack, several_senders

        early = EarlyStack(validate(args.fault), args.time_scale, several_senders(args.workers))
    try:
        from pixelproof.cli.runner import RunOptions, run

        extra = [a for a in args.pytest_args if a != "--"]
        opts = RunOptions(target=args.target, faults=args.fault, rules=args.rules, workers=args.workers,
                          report_root=args.report_dir, run_id=args.run_id, time_scale=args.time_scale,
                          verbose=args.verbose, pytest_args=extra, fuzz=args.fuzz, fuzz_mode=args.fuzz_mode,
                          fuzz_budget=args.fuzz_budget, budget=args.budget, shard=args.shard,
                          plugins=[early] if early else [])  # fmt: skip
        return run(opts)
    finally:
        if early is not None:
            early.close()  # a no-op once the run's session took it (and stopped it)


def _check_usage(args: argparse.Namespace) -> None:
    """Everything a typo can break, checked before a report directory exists (exit 2)."""
    from pixelproof.cli.usage import (
        UsageProblem,
        check_report_dir,
        check_rule_globs,
        check_workers,
        profile_or_embedded,
    )
    from pixelproof.mock.faults import UnknownFault, validate
    from pixelproof.plan import cases_for
    from pixelproof.shard import ShardError, parse_shard
    from pixelproof.target import ProfileError

    if args.target and args.fault:
        raise UsageProblem(
            "--fault injects into the embedded stack; it cannot be combined with --target"
        )
    check_workers(args.workers)
    check_report_dir(args.report_dir)
    try:
        if args.shard is not None:
            parse_shard(args.shard)
        validate(args.fault)
        catalogue, profile = profile_or_embedded(args.target)
    except (UnknownFault, ShardError) as exc:
        raise UsageProblem(str(exc)) from None
    except ProfileError as exc:
        raise UsageProblem(f"bad target profile: {exc}") from None
    if args.rules:
        from pixelproof.fuzz.targets import fuzz_level, plan_targets

        rule_ids = [rule.id for rule in catalogue]
        level = fuzz_level(args.fuzz, profile)
        fuzzed = [] if level == "off" else plan_targets(catalogue, profile, level, args.fuzz_budget)
        fuzz_ids = [t.rule_id for t in fuzzed]
        check_rule_globs(args.rules, rule_ids, cases_for(catalogue, profile), fuzz_ids)
