"""`pixelproof plan`, `pixelproof diff` and `pixelproof report`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pixelproof import values
from pixelproof.cli.run import Path_
from pixelproof.cli.usage import profile_or_embedded


def add_plan(sub: Any) -> None:
    parser = sub.add_parser("plan", help="what a run would send and buy, before spending anything",
                            description="Count the requests a run would send, the images it would buy and their "
                            "documented price, without sending anything.")  # fmt: skip
    parser.add_argument(
        "--target", metavar="FILE", help="target profile (default: the embedded stack)"
    )
    parser.add_argument(
        "--budget",
        type=values.count,
        metavar="IMAGES",
        help="stop buying at this many images; list the cases left unrun",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable JSON")
    parser.set_defaults(handler=_run_plan)


def _run_plan(args: argparse.Namespace) -> int:
    from pixelproof.report.plan_view import build_plan, render_plan
    from pixelproof.target import ProfileError

    try:
        catalogue, profile = profile_or_embedded(args.target, need_key=False)
    except ProfileError as exc:
        print(f"pixelproof plan: bad target profile: {exc}", file=sys.stderr)
        return 2
    summary = build_plan(catalogue, profile, args.budget)
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2))
    else:
        print("\n".join(render_plan(summary, profile)))
    return 0


def add_diff(sub: Any) -> None:
    parser = sub.add_parser("diff", help="regressions between two runs (the nightly gate)",
                            description="Compare two runs (run directories or run.json files): regressions "
                            "(kept -> broken), new errors, fixes, new and vanished rules. Exit 1 when something regressed.")  # fmt: skip
    parser.add_argument("old", type=Path_, help="the earlier run (directory or run.json)")
    parser.add_argument("new", type=Path_, help="the later run")
    parser.add_argument("--html", type=Path_, metavar="FILE", help="also write the diff as HTML")
    parser.add_argument(
        "--out", type=Path_, metavar="FILE", help="write the markdown here instead of stdout"
    )
    parser.set_defaults(handler=_run_diff)


def _run_diff(args: argparse.Namespace) -> int:
    from pixelproof.report.diff import (
        RunFileError,
        diff_runs,
        load_run,
        render_html,
        render_markdown,
    )

    try:
        result = diff_runs(load_run(args.old), load_run(args.new))
    except RunFileError as exc:
        print(f"pixelproof diff: {exc}", file=sys.stderr)
        return 2
    text = render_markdown(result)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        print(text, end="")
    if args.html:
        args.html.write_text(render_html(result), encoding="utf-8")
    return 1 if result.regressed else 0


def add_report(sub: Any) -> None:
    parser = sub.add_parser("report", help="re-render a run's reports, or a trend over many runs",
                            description="Render report.html and summary.md from a run's run.json, or with "
                            "--history DIR a trend of conformance per surface over every run below DIR.")  # fmt: skip
    parser.add_argument("run", nargs="?", type=Path_, help="a run directory (with run.json)")
    parser.add_argument(
        "--history",
        type=Path_,
        metavar="DIR",
        help="a directory of run directories (e.g. reports/)",
    )
    parser.add_argument(
        "--out",
        type=Path_,
        metavar="FILE",
        help="where to write the HTML (default: beside the input)",
    )
    parser.set_defaults(handler=_run_report)


def _run_report(args: argparse.Namespace) -> int:
    from pixelproof.report.diff import RunFileError, load_run
    from pixelproof.report.html import render_html
    from pixelproof.report.summary import render_markdown
    from pixelproof.report.trend import load_history, render_svg

    if bool(args.run) == bool(args.history):
        print(
            "pixelproof report: give a run directory or --history DIR (one of them)",
            file=sys.stderr,
        )
        return 2
    if args.history:
        if not args.history.is_dir():
            print(f"pixelproof report: {args.history} is not a directory", file=sys.stderr)
            return 2
        runs, problems = load_history(args.history)
        for problem in problems:
            print(f"pixelproof report: skipped {problem}", file=sys.stderr)
        if not runs:
            print(f"pixelproof report: no run.json below {args.history}", file=sys.stderr)
            return 2
        out = args.out or args.history / "trend.html"
        out.write_text(render_html(runs[-1], trend_svg=render_svg(runs)), encoding="utf-8")
        print(f"pixelproof report: trend over {len(runs)} runs written to {out}")
        return 0
    try:
        data = load_run(args.run)
    except RunFileError as exc:
        print(f"pixelproof report: {exc}", file=sys.stderr)
        return 2
    folder = args.run if args.run.is_dir() else args.run.parent
    out = args.out or folder / "report.html"
    out.write_text(render_html(data), encoding="utf-8")
    (folder / "summary.md").write_text(render_markdown(data), encoding="utf-8")
    print(f"pixelproof report: written {out}")
    return 0
