"""Subcommands other than `rules`, registered here so cli.py stays a table of contents."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

Register = Callable[[Any], None]
REGISTRY: list[Register] = []


def register(func: Register) -> Register:
    REGISTRY.append(func)
    return func


def _secret_from_env(name: str | None, what: str) -> str | None:
    if not name:
        return None
    value = os.environ.get(name)
    if not value:
        raise SystemExit(f"pixelproof: {what}: environment variable {name} is not set")
    return value


MOCK_HELP = """\
Serve the built-in mock on loopback.

Roles:
  upstream  (default) speaks the vendors' own APIs: OpenAI Images (generations, edits in multipart
            and JSON), xAI images (same path, grok-* models), Gemini generateContent, Volcengine Ark
            Seedream (/api/v3/images/generations) and the Jimeng visual API (POST /?Action=...).
            It rejects what the vendors reject, with their error shapes. Point a gateway under test
            at it instead of a paid vendor.
  gateway   the reference implementation of the documented unified layer, read from the rule
            catalogue: /v1/images/generations, /v1/images/edits, /v1/edits, /v1/images/variations,
            /v1beta/models/{model}:generateContent, /jm, and the async task APIs under /action/v1/...
            (seed 002) and /official/v1/... (seed 004). Needs --upstream URL (or 'embedded').

Every request that arrives is recorded (credentials redacted): GET /__pixelproof/requests
(filters: path, method, since, tag, contains; DELETE clears). Images answered by URL are served
from /__pixelproof/files/ and expire on the mock's clock.

Faults: --fault NAME (repeatable) breaks a documented promise for the whole process; a request can
carry the header 'X-Pixelproof-Fault: a,b' instead, so parallel tests do not interfere.
`pixelproof faults` lists them with the rules each breaks.

Time: async jobs take 15 s of documented time (queued 2 s); --time-scale 1000 makes that 15 ms and
scales URL expiry the same way.
"""


@register
def _mock(sub: Any) -> None:
    parser = sub.add_parser(
        "mock", help="serve the built-in mock upstream or reference gateway", description=MOCK_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument(
        "--role", choices=["upstream", "gateway"], default="upstream", help="default: upstream"
    )
    parser.add_argument(
        "--upstream",
        metavar="URL",
        help="gateway role: the upstream base URL, or 'embedded' to start a vendor mock too",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1, loopback only)"
    )
    parser.add_argument(
        "--port", type=int, default=8700, help="port (default 8700; 0 picks a free one)"
    )
    parser.add_argument(
        "--key-env",
        metavar="NAME",
        help="require 'Authorization: Bearer <key>', the key read from env NAME",
    )
    parser.add_argument(
        "--upstream-key-env",
        metavar="NAME",
        help="gateway role: bearer key for the upstream, from env NAME",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME",
        help="inject a named fault (repeatable)",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        metavar="X",
        help="mock seconds per real second (default 1)",
    )
    parser.add_argument(
        "--public-url", metavar="URL", help="base URL used in url answers (default: the request's)"
    )
    parser.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    parser.set_defaults(handler=_run_mock)


def _run_mock(args: argparse.Namespace) -> int:
    from pixelproof.mock import MockConfig, create_app
    from pixelproof.mock.faults import UnknownFault, validate
    from pixelproof.mock.server import serve_forever, start

    if args.time_scale <= 0:
        print("pixelproof mock: --time-scale must be > 0", file=sys.stderr)
        return 2
    try:
        names = validate(args.fault)
    except UnknownFault as exc:
        print(f"pixelproof mock: {exc}", file=sys.stderr)
        return 2
    key = _secret_from_env(args.key_env, "--key-env")
    upstream_url = args.upstream
    if args.role == "gateway" and not upstream_url:
        print(
            "pixelproof mock: the gateway role needs --upstream URL (or --upstream embedded)",
            file=sys.stderr,
        )
        return 2
    if upstream_url == "embedded":
        vendor = start(create_app(MockConfig(time_scale=args.time_scale, faults=names)), args.host)
        upstream_url = vendor.url
        print(f"pixelproof mock: embedded upstream on {vendor.url}", flush=True)
    config = MockConfig(
        role=args.role, api_key=key, faults=names, time_scale=args.time_scale, upstream_url=upstream_url,
        upstream_key=_secret_from_env(args.upstream_key_env, "--upstream-key-env"), public_url=args.public_url,
    )  # fmt: skip
    print(
        f"pixelproof mock: role {args.role}, faults {sorted(names) or 'none'}, time scale {args.time_scale}",
        flush=True,
    )
    try:
        serve_forever(create_app(config), args.host, args.port, args.log_level)
    except OSError as exc:
        print(
            f"pixelproof mock: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2
    return 0


@register
def _faults(sub: Any) -> None:
    parser = sub.add_parser("faults", help="list the mock's named faults and the rules each breaks",
                            description="List the named faults the mock can inject and the rules each one breaks.")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="machine-readable JSON")
    parser.set_defaults(handler=_run_faults)


def _run_faults(args: argparse.Namespace) -> int:
    from pixelproof.mock.faults import CATALOGUE

    if args.json:
        print(
            json.dumps(
                [{**vars(f), "breaks": list(f.breaks)} for f in CATALOGUE.values()], indent=2
            )
        )
        return 0
    width = max(len(name) for name in CATALOGUE)
    for fault in CATALOGUE.values():
        kind = (
            "infrastructure"
            if fault.infrastructure
            else ", ".join(fault.breaks) or "(found by fuzzing)"
        )
        print(
            f"{fault.name.ljust(width)}  [{fault.role}] {fault.description}\n{' ' * width}  breaks: {kind}"
        )
    print(f"\n{len(CATALOGUE)} faults")
    return 0


RUN_HELP = """\
Judge a target against every documented rule it claims, and write reports/<run id>/.

With no --target, starts the reference gateway and the vendor mock on free loopback ports and
judges them (the README's first command). With --target FILE, judges the deployment the profile
describes (fixtures/targets/ has examples). --fault NAME injects a mock fault into the embedded
stack, to watch pixelproof catch it.

Reports: junit.xml (one test case per rule x model), run.json, summary.md.
Exit codes: 0 every promise kept; 1 a promise broken (or a waiver expired or fixed);
2 bad usage, profile or contract; 3 only infrastructure errors (target unreachable, timeouts).
Anything after `--` goes to pytest unchanged.
"""


@register
def _run(sub: Any) -> None:
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
        "-n", "--workers", metavar="N", help="parallel workers (pytest-xdist), e.g. auto or 4"
    )
    parser.add_argument(
        "--report-dir",
        type=Path_,
        default="reports",
        metavar="DIR",
        help="where run directories go (default reports/)",
    )
    parser.add_argument("--run-id", help="name of the run directory (default: UTC timestamp)")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1000.0,
        metavar="X",
        help="embedded stack clock speed (default 1000)",
    )
    parser.add_argument(
        "--budget",
        type=int,
        metavar="IMAGES",
        help="stop buying images at this many; cases left unrun are reported as skipped",
    )
    parser.add_argument("--fuzz", choices=["auto", "off", "negative", "full"], default="auto",
                        help="contract fuzzing (default auto: full, or negative for a paid profile)")  # fmt: skip
    parser.add_argument("--fuzz-mode", choices=["deterministic", "explore"], default="deterministic",
                        help="deterministic for CI gates (default), explore for nightly runs")  # fmt: skip
    parser.add_argument("--fuzz-budget", type=int, default=400, metavar="N",
                        help="the most requests fuzzing may send (default 400)")  # fmt: skip
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="one line per rule (-vv: more)"
    )
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.set_defaults(handler=_run_run)


def Path_(text: str) -> Any:
    from pathlib import Path

    return Path(text)


def _run_run(args: argparse.Namespace) -> int:
    from pixelproof.catalogue import default_catalogue
    from pixelproof.mock.faults import UnknownFault, validate
    from pixelproof.run import RunOptions, run
    from pixelproof.target import ProfileError, load_profile

    if args.target and args.fault:
        print(
            "pixelproof run: --fault injects into the embedded stack; it cannot be combined with --target",
            file=sys.stderr,
        )
        return 2
    try:
        validate(args.fault)
        if args.target:
            load_profile(args.target, default_catalogue())
    except UnknownFault as exc:
        print(f"pixelproof run: {exc}", file=sys.stderr)
        return 2
    except ProfileError as exc:
        print(f"pixelproof run: bad target profile: {exc}", file=sys.stderr)
        return 2
    extra = [a for a in args.pytest_args if a != "--"]
    opts = RunOptions(target=args.target, faults=args.fault, rules=args.rules, workers=args.workers,
                      report_root=args.report_dir, run_id=args.run_id, time_scale=args.time_scale,
                      verbose=args.verbose, pytest_args=extra, fuzz=args.fuzz, fuzz_mode=args.fuzz_mode,
                      fuzz_budget=args.fuzz_budget, budget=args.budget)  # fmt: skip
    return run(opts)


def _profile_or_embedded(target: str | None) -> Any:
    from pixelproof.catalogue import default_catalogue
    from pixelproof.target import embedded_profile, load_profile

    catalogue = default_catalogue()
    if target:
        return catalogue, load_profile(target, catalogue)
    return catalogue, embedded_profile(
        catalogue, "http://127.0.0.1:0", "http://127.0.0.1:0", "PIXELPROOF_EMBEDDED_KEY", 1000
    )


@register
def _plan(sub: Any) -> None:
    parser = sub.add_parser("plan", help="what a run would send and buy, before spending anything",
                            description="Count the requests a run would send, the images it would buy and their "
                            "documented price, without sending anything.")  # fmt: skip
    parser.add_argument(
        "--target", metavar="FILE", help="target profile (default: the embedded stack)"
    )
    parser.add_argument(
        "--budget",
        type=int,
        metavar="IMAGES",
        help="stop buying at this many images; list the cases left unrun",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable JSON")
    parser.set_defaults(handler=_run_plan)


def _run_plan(args: argparse.Namespace) -> int:
    from pixelproof.report.plan_view import build_plan, render_plan
    from pixelproof.target import ProfileError

    try:
        catalogue, profile = _profile_or_embedded(args.target)
    except ProfileError as exc:
        print(f"pixelproof plan: bad target profile: {exc}", file=sys.stderr)
        return 2
    summary = build_plan(catalogue, profile, args.budget)
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2))
    else:
        print("\n".join(render_plan(summary, profile)))
    return 0


@register
def _diff(sub: Any) -> None:
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


@register
def _report(sub: Any) -> None:
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
