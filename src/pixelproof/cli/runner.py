"""`pixelproof run`: a thin shell over `pytest suites` that maps outcomes to exit codes and writes
the report directory, partial or not (Ctrl-C and crashes still leave a report)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import secrets
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pixelproof.cli.exits import EXIT_BROKEN, EXIT_INFRA, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from pixelproof.plugin import session_of
from pixelproof.redact import scrub_tree, secret_values
from pixelproof.report import progress
from pixelproof.report.results import Results
from pixelproof.resources import suites_dir

# pytest plugins installed beside pixelproof that a run never uses; schemathesis' imports all of
# schemathesis in every process (the controller, each xdist worker) before anything runs,
# unraisableexception runs full garbage collections at the end (~0.4 s) only to turn what
# Python's own hook prints anyway ("Exception ignored in ...", on stderr) into warnings, and
# Hypothesis' imports all of Hypothesis for its terminal summary (in `-n N`'s controller, which
# never fuzzes: ~0.2 CPU-s) while no suite test is a Hypothesis test (fuzzing drives its own)
NOT_NEEDED = ("-p", "no:schemathesis", "-p", "no:anyio", "-p", "no:unraisableexception",
              "-p", "no:hypothesispytest", "-p", "pixelproof.boot")  # fmt: skip


def new_run_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


@dataclass
class RunOptions:
    target: str | None = None
    faults: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    workers: str | None = None
    report_root: Path = Path("reports")
    run_id: str | None = None
    time_scale: float = 1000.0
    verbose: int = 0
    pytest_args: list[str] = field(default_factory=list)
    fuzz: str = "auto"
    fuzz_mode: str = "deterministic"
    fuzz_budget: int = 400
    budget: int | None = None
    shard: str | None = None  # "K/N": only that shard's request groups (see pixelproof.shard)
    plugins: list[Any] = field(default_factory=list)  # objects for pytest (e.g. an EarlyStack)


RUN_FILES = ("run.json", "junit.xml", "summary.md", "allure-results")  # a run directory's own


def _remove_empty(made: list[Path]) -> None:
    """The directories made for this run (innermost first), where still empty."""
    for made_here in made:
        with contextlib.suppress(OSError):
            made_here.rmdir()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _interrupts_to(handler: Callable[[int, Any], None]) -> Iterator[None]:
    """Ctrl-C and SIGTERM (a CI job cancelled or timed out) both go to ``handler`` inside the
    block, in the main thread (signals reach no other), whatever they did before: a process
    started with SIGINT ignored (a background job) still takes its Ctrl-C. Put back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, previous in held.items():
            signal.signal(sig, previous)


class _StopOnInterrupt:
    """Ctrl-C ends the run even when its KeyboardInterrupt lands where Python cannot deliver it
    (inside a finalizer or a generator being closed, where it is printed as "Exception ignored"
    and the run went on): the signal is remembered and raised again before the next test."""

    def __init__(self) -> None:
        self.requested = False

    def handler(self, signum: int, frame: Any) -> None:
        self.requested = True
        raise KeyboardInterrupt

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        if self.requested:
            raise KeyboardInterrupt


class _Capture:
    """Holds on to the plugin session so the CLI can read outcomes after pytest returns."""

    session: Any = None
    stopped: str | None = None  # why pytest stopped before the last test (-x, --maxfail)

    @pytest.hookimpl(trylast=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        self.session = session_of(config)

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        """xdist ends a session at -x/--maxfail by raising its Interrupted: a stop, no Ctrl-C."""
        value = excinfo.value
        if type(value).__module__ == "xdist.dsession" and "keyboard-interrupt" not in str(value):
            self.stopped = str(value)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.stopped = self.stopped or str(session.shouldfail or session.shouldstop or "") or None


def pytest_args(opts: RunOptions, report_dir: Path, run_id: str) -> list[str]:
    suites = suites_dir().resolve()  # (a checkout links it into the package: one spelling)
    args = [str(suites), "-c", str(suites / "pytest.ini"), "-p", "no:cacheprovider", "--junitxml", str(report_dir / "junit.xml"),
            "-o", "junit_family=xunit2", "-o", "junit_logging=no", "--pixelproof-run-id", run_id,
            "--pixelproof-time-scale", str(opts.time_scale), "--pixelproof-allure", str(report_dir / "allure-results"), "--tb=short", "--assert=plain", "-rfE", "-W", "ignore::pytest.PytestAssertRewriteWarning",
            *NOT_NEEDED]  # fmt: skip
    if opts.verbose:
        args.append("-" + "v" * opts.verbose)
    if opts.target:
        args += ["--pixelproof-target", opts.target]
    for fault in opts.faults:
        args += ["--pixelproof-fault", fault]
    for glob in opts.rules:
        args += ["--pixelproof-rules", glob]
    args += ["--pixelproof-fuzz", opts.fuzz, "--pixelproof-fuzz-mode", opts.fuzz_mode,
             "--pixelproof-fuzz-budget", str(opts.fuzz_budget)]  # fmt: skip
    if opts.budget is not None:
        args += ["--pixelproof-budget", str(opts.budget)]
    if opts.shard:
        args += ["--pixelproof-shard", opts.shard]
    if opts.workers and opts.workers != "0":
        args += ["--pixelproof-workers", opts.workers]  # forked from the session (lanes.py)
    return args + per_test_plugins(opts.pytest_args) + opts.pytest_args


def per_test_plugins(user_args: list[str]) -> list[str]:
    """pytest's work around every test that a run does not need (0.4-0.5 ms a test, of ~10 ms
    of the controller's CPU per case). Its fd capture swaps file descriptors and reads a
    temporary file back in each phase: nothing of a run writes to fd 1 or 2 below Python (the
    embedded stack's process starts before pytest and keeps its own stderr), so capturing
    sys.stdout and sys.stderr keeps what a failing case printed. Its logging plugin puts two
    handlers around each phase to show log records of a failing case: nothing of a run's own
    logs, and a library's warnings then go to stderr as they would without pytest; kept when the
    arguments after `--` ask for pytest's logging (``--log-cli-level``, ``-o log_cli=...``).
    Arguments after `--` still win (``-- --capture=fd``)."""
    args = ["--capture=sys"]
    if not any("log" in arg for arg in user_args):
        args += ["-p", "no:logging"]
    return args


def run(opts: RunOptions) -> int:
    run_id = opts.run_id or new_run_id()
    report_dir = opts.report_root / run_id
    made = [d for d in (report_dir, *report_dir.parents) if not d.exists()]  # (innermost first)
    earlier = [n for n in RUN_FILES if (report_dir / n).exists()]
    if earlier:  # its Allure results would mix with this run's, its run.json be overwritten
        print(f"pixelproof run: {report_dir} already holds a run ({', '.join(earlier)}): give "
              "another --run-id, or remove it", file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file in the way, no permission: a usage error, not a traceback
        print(f"pixelproof run: cannot create {report_dir}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    started = dt.datetime.now(dt.UTC)
    if opts.target:
        try:
            with _interrupts_to(_interrupt):
                unreachable = _preflight(opts, report_dir, run_id, started)
        except KeyboardInterrupt:  # before any case: nothing to report, no directory left empty
            _remove_empty(made)
            print("pixelproof: interrupted during the preflight: nothing was run, no report "
                  f"written (exit {EXIT_INTERRUPTED})", file=sys.stderr)  # fmt: skip
            return EXIT_INTERRUPTED
        if unreachable is not None:
            return unreachable
    capture, stop = _Capture(), _StopOnInterrupt()
    plugins: list[Any] = [capture, stop, *opts.plugins]
    args = pytest_args(opts, report_dir, run_id)
    if progress.wanted(sys.stdout, verbose=opts.verbose):
        plugins.append(progress.LiveProgress())
        args += ["-o", "console_output_style=classic"]
    code: int | pytest.ExitCode = pytest.ExitCode.INTERNAL_ERROR
    final = EXIT_USAGE
    try:
        # a SIGTERM interrupts the run as a Ctrl-C does: the partial report is written (it
        # ended the process at once, with no report)
        with _interrupts_to(stop.handler):
            code = _pytest_main(args, plugins, stop)
    finally:
        # a Ctrl-C is an interrupted run whatever pytest made of it (a stack the same Ctrl-C
        # ended: exit 2), and wherever it landed (outside pytest's session: the fork server)
        if stop.requested:
            code = pytest.ExitCode.INTERRUPTED
        elif code == pytest.ExitCode.INTERRUPTED and capture.stopped:
            code = pytest.ExitCode.TESTS_FAILED  # xdist's -x / --maxfail: a verdict, stopped early
        results = capture.session.results if capture.session is not None else Results()
        final = exit_code(int(code), results, opts.shard)
        interrupted = stopped = None
        how_far = (len(results.outcomes), getattr(capture.session, "planned", None))
        if final == EXIT_INTERRUPTED:
            interrupted = how_far
            print(f"pixelproof: {interrupted_text(*interrupted)}", file=sys.stderr)
        elif capture.stopped and (how_far[1] is None or how_far[0] < how_far[1]):
            # (the last case reaching --maxfail stops nothing: every case ran)
            stopped = (*how_far, capture.stopped)
            print(f"pixelproof: {stopped_text(*stopped)}", file=sys.stderr)
        # pytest refused the arguments after `--` before its session began: nothing ran
        refused = code == pytest.ExitCode.USAGE_ERROR and capture.session is None
        if refused:
            _remove_empty(made)
            print("pixelproof run: pytest refused the arguments after `--` (above): nothing was "
                  "run and no report written", file=sys.stderr)  # fmt: skip
        else:
            write_reports(
                report_dir, run_id, opts, capture.session, results, started, final, interrupted,
                stopped,
            )  # fmt: skip
            print(f"pixelproof: report written to {report_dir}", file=sys.stderr)
    return final


def _pytest_main(args: list[str], plugins: list[Any], stop: _StopOnInterrupt) -> int:
    try:
        return pytest.main(args, plugins=plugins)
    except Exception as exc:
        if not (stop.requested or _while_interrupted(exc)):
            raise
        # pytest failed while reporting the Ctrl-C itself (on CPython 3.11 its traceback can
        # hold an entry without a line number, and pytest's repr of it raises): still interrupted
        print(f"pixelproof: pytest failed reporting the interruption: {exc!r}", file=sys.stderr)
        return pytest.ExitCode.INTERRUPTED


def _while_interrupted(exc: BaseException) -> bool:
    """Raised while a KeyboardInterrupt was being handled (it is in the exception's context)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__context__
    return False


def interrupted_text(after: int, of: int | None) -> str:
    total = f" of {of}" if of is not None else ""
    return f"interrupted after {after}{total} cases (exit {EXIT_INTERRUPTED}): not a verdict"


def stopped_text(after: int, of: int | None, why: str) -> str:
    total = f" of {of}" if of is not None else ""
    return f"stopped early ({why}): {after}{total} cases run, the rest not"


def _preflight(opts: RunOptions, report_dir: Path, run_id: str, started: dt.datetime) -> int | None:
    """Reach every base URL and the recorder once; if one cannot be reached, say so in one line
    each, write a report of those errors, and run no suite (exit 3). None when all answer."""
    from types import SimpleNamespace

    from pixelproof.catalogue import default_catalogue
    from pixelproof.preflight import preflight
    from pixelproof.report.results import Outcome
    from pixelproof.target import load_profile

    assert opts.target is not None
    catalogue = default_catalogue()
    profile = load_profile(opts.target, catalogue)
    problems = preflight(profile)
    if not problems:
        return None
    results = Results()
    for problem in problems:
        print(f"pixelproof: {problem.line()}", file=sys.stderr)
        props = {"rule": "preflight", "case": f"preflight: {problem.what}", "kind": "preflight",
                 "surface": problem.what.split(" ", 1)[-1], "source": "pixelproof preflight"}  # fmt: skip
        results.outcomes[props["case"]] = Outcome(props["case"], "error", props, problem.line())
    session = SimpleNamespace(profile=profile, catalogue=catalogue)
    write_reports(report_dir, run_id, opts, session, results, started, EXIT_INFRA)
    print(f"pixelproof: no suite run; report written to {report_dir}", file=sys.stderr)
    return EXIT_INFRA


def exit_code(pytest_code: int, results: Results, shard: str | None = None) -> int:
    if pytest_code == pytest.ExitCode.INTERRUPTED:
        return EXIT_INTERRUPTED
    if pytest_code in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.INTERNAL_ERROR):
        return EXIT_USAGE
    if pytest_code == pytest.ExitCode.NO_TESTS_COLLECTED and shard:
        print(f"pixelproof: shard {shard} holds no request group (fewer groups than shards)",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    if pytest_code == pytest.ExitCode.NO_TESTS_COLLECTED:
        print(
            "pixelproof: no rule applies to the target's claims (check --rules and the profile's surfaces)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    judged = results.exit_code()
    if pytest_code == pytest.ExitCode.TESTS_FAILED and judged in (EXIT_OK, EXIT_INFRA):
        if judged == EXIT_OK or not results.counts()["error"]:
            return EXIT_BROKEN  # a profile check (e.g. an expired waiver) failed
    if judged == EXIT_INFRA and not results.counts()["error"]:  # no case judged at all
        print(f"pixelproof: nothing judged: every case was skipped, no verdict (exit {EXIT_INFRA})",
              file=sys.stderr)  # fmt: skip
    return judged


def run_filters(opts: RunOptions, session: Any) -> dict[str, Any]:
    """What narrowed this run: two runs compare (diff, trend) only when these agree."""
    from pixelproof.fuzz.targets import fuzz_level

    profile = session.profile if session is not None else None
    fuzz = fuzz_level(opts.fuzz, profile) if profile is not None else opts.fuzz
    # the budget the run kept to: --budget, else the profile's budget_images (the session's
    # profile carries the one in force)
    budget = profile.budget_images if profile is not None else opts.budget
    return {
        "rules": sorted(opts.rules), "faults": sorted(opts.faults),
        "level": getattr(opts, "level", None) or getattr(profile, "level", None),
        "fuzz": fuzz, "fuzz_mode": opts.fuzz_mode, "budget": budget,
    }  # fmt: skip


def write_reports(
    report_dir: Path,
    run_id: str,
    opts: RunOptions,
    session: Any,
    results: Results,
    started: dt.datetime,
    run_exit: int | None = None,
    interrupted: tuple[int, int | None] | None = None,
    stopped: tuple[int, int | None, str] | None = None,
) -> None:
    """run.json records how the run ended (an interrupted one: exit 130 and how far it got; one
    pytest stopped early, -x or --maxfail: how far it got and why); summary.md and report.html
    are rendered from it."""
    from pixelproof.report.html import render_html
    from pixelproof.report.runjson import build_run_json
    from pixelproof.report.summary import render_markdown

    data = build_run_json(
        run_id, opts.target, session, results, started, run_filters(opts, session)
    )
    # what `pixelproof merge` needs to rebuild the unsharded verdict: the split and this exit code
    data["shard"] = opts.shard
    data["run_exit_code"] = run_exit
    if interrupted is not None:  # never a verdict: the exit code says so too
        data["exit_code"] = EXIT_INTERRUPTED
        data["interrupted"] = {"after": interrupted[0], "of": interrupted[1],
                               "text": interrupted_text(*interrupted)}  # fmt: skip
    if stopped is not None:  # the verdict stands on what was judged; the reports say what was not
        data["stopped_early"] = {"after": stopped[0], "of": stopped[1], "why": stopped[2],
                                 "text": stopped_text(*stopped)}  # fmt: skip
    (report_dir / "run.json").write_text(
        json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    (report_dir / "summary.md").write_text(render_markdown(data), encoding="utf-8")
    (report_dir / "report.html").write_text(render_html(data), encoding="utf-8")
    profile = getattr(session, "profile", None)
    if profile is not None:  # last line of defence: a key a target echoed where no formatter saw
        scrub_tree(report_dir, secret_values([profile.credentials.env]))
