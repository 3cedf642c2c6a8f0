"""The pytest plugin: options, the target session, cases as parameters, waivers and outcomes.

Suites mark a generic test with ``@pytest.mark.pixelproof`` and take a ``case`` argument; this
plugin parameterizes it with every (rule, model) of the kinds ``plan.KINDS`` registers for that
test and the target claims, observes the probes in
the setup phase (so an unreachable target is an *error*) and lets the test body judge (so a
broken promise is a *failure*).
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import secrets
import signal
from pathlib import Path
from typing import Any

import pytest

from pixelproof.ahead import observed
from pixelproof.ahead import start as observe_ahead
from pixelproof.catalogue import default_catalogue
from pixelproof.crashed import WorkerCrashes
from pixelproof.images import thumbnails
from pixelproof.judging.evidence import Evidence, NotJudged
from pixelproof.judging.failures import RuleFailure
from pixelproof.ledger import Ledger
from pixelproof.memory import keep_for_the_run, release_after_the_run, return_big_buffers
from pixelproof.mock.stack_process import EMBEDDED_KEY_ENV, run_stack, several_senders
from pixelproof.observe import TargetError
from pixelproof.options import pytest_addoption  # noqa: F401  (a hook of this plugin)
from pixelproof.plan import KINDS, Case, not_claimed_reason
from pixelproof.quick_exit import end_worker_at_once
from pixelproof.report import allure_results
from pixelproof.report.allure import case_facts, label, write_results_in_one_piece
from pixelproof.report.results import Results, case_properties
from pixelproof.resources import suites_dir
from pixelproof.samples import carries_large_sample
from pixelproof.schedule import (
    pytest_xdist_make_scheduler,  # noqa: F401  (a hook: -n N's lanes)
)
from pixelproof.session import SESSION, PixelproofSession, close_process, session_of
from pixelproof.shard import ShardError, parse_shard, select
from pixelproof.target import Profile, ProfileError, embedded_profile, load_profile


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "pixelproof: a generic suite test judging the rule kinds registered for it (plan.KINDS)",
    )
    config.addinivalue_line(
        "markers", "pixelproof_fuzz: a contract-fuzzing test parameterized with fuzz targets"
    )
    return_big_buffers()  # decoded 4K images do not stay resident once judged (memory.py)
    allure_results.start(config)
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and "pixelproof_profile" in workerinput:
        os.environ.update(workerinput.get("pixelproof_env", {}))
        end_worker_at_once()
        profile = Profile.model_validate_json(workerinput["pixelproof_profile"])
        config.stash[SESSION] = PixelproofSession(
            default_catalogue(), profile, workerinput["pixelproof_run_id"],
            clock_urls=tuple(workerinput.get("pixelproof_clock", ())),
            ledger=Ledger(workerinput.get("pixelproof_ledger")),
        )  # fmt: skip
        return
    if not _wants_suites(config):
        return
    if config.getoption("pixelproof_workers"):
        from pixelproof import lanes

        config.pluginmanager.register(lanes, "pixelproof-lanes")  # its pytest_runtestloop
    catalogue = default_catalogue()
    run_id = config.getoption("pixelproof_run_id") or secrets.token_hex(4)
    target = config.getoption("pixelproof_target")
    if target:
        try:
            profile = _with_budget(config, load_profile(target, catalogue))
        except ProfileError as exc:  # pytest's own usage error: one line, no INTERNALERROR
            raise pytest.UsageError(f"bad target profile: {exc}") from None
        config.stash[SESSION] = PixelproofSession(catalogue, profile, run_id)
        return
    from pixelproof.mock.faults import validate

    faults = validate(config.getoption("pixelproof_fault"))
    scale = config.getoption("pixelproof_time_scale")
    # started by `pixelproof run` before it imported pytest, or now: it serves once imported
    # (meanwhile pytest collects), and ready() is called before any test
    workers = config.getoption("pixelproof_workers") or getattr(config.option, "numprocesses", None)
    parallel = several_senders(workers)
    context, stack = run_stack(config.pluginmanager.get_plugins(), faults, scale, parallel)
    profile = _with_budget(
        config,
        embedded_profile(catalogue, stack.gateway.url, stack.upstream.url, EMBEDDED_KEY_ENV, scale),
    )
    clock = (stack.gateway.url, stack.upstream.url)
    config.stash[SESSION] = PixelproofSession(
        catalogue,
        profile,
        run_id,
        stack=context,
        clock_urls=clock,
        stack_ready=stack.ready,
        stack_pid=stack.pid,
    )


def _with_budget(config: pytest.Config, profile: Profile) -> Profile:
    budget = config.getoption("pixelproof_budget")
    return profile if budget is None else profile.model_copy(update={"budget_images": budget})


def _wants_suites(config: pytest.Config) -> bool:
    """Start a stack only when suites are being run (not for the project's own tests)."""
    if config.getoption("pixelproof_target") or config.getoption("pixelproof_fault"):
        return True
    suites = suites_dir().resolve()
    for arg in config.args or [str(config.rootpath)]:
        path = Path(arg.split("::")[0]).resolve()
        if path == suites or suites in path.parents:
            return True
    return False


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    session = session_of(node.config)
    if session is None:
        return
    node.workerinput["pixelproof_profile"] = session.profile.model_dump_json()
    node.workerinput["pixelproof_run_id"] = session.run_id
    node.workerinput["pixelproof_clock"] = list(session.clock_urls)
    ledger = session.shared_ledger()  # one image budget for the run, not one per worker
    if ledger is not None:
        node.workerinput["pixelproof_ledger"] = ledger
    env = session.profile.credentials.env
    node.workerinput["pixelproof_env"] = {env: os.environ[env]} if env and env in os.environ else {}


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Any:
    """Once every test has run (here, or on every xdist worker), nothing asks the embedded stack
    anything: it is stopped at once, while pytest writes the JUnit file, the workers end and the
    reports are written, not after them (its graceful shutdown took ~0.4 s of the run's tail;
    unconfigure reaps it). It holds no file and nothing of it is read afterwards. A serial run's
    rule cases are observed ahead of their tests meanwhile (ahead.py)."""
    pp = session_of(session.config)
    try:
        if pp is not None:
            pp.ahead = observe_ahead(session, pp)
        return (yield)
    finally:
        if pp is not None and pp.ahead is not None:
            pp.ahead.halt()  # (a Ctrl-C: no case after the one in flight, which the stack's end cuts)
        if pp is not None and pp.stack_pid is not None:
            with contextlib.suppress(OSError):
                os.kill(pp.stack_pid, signal.SIGTERM)
        if pp is not None and pp.ahead is not None:
            pp.ahead.close()


def pytest_unconfigure(config: pytest.Config) -> None:
    session = close_process(config)
    if session is None:
        return
    session.ledger.close()
    if session.stack is not None:
        session.stack.__exit__(None, None, None)
    if session.gc_before is not None:
        release_after_the_run(session.gc_before)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("pixelproof")
    if marker is None or "case" not in metafunc.fixturenames:
        return
    session = session_of(metafunc.config)
    if session is None:
        raise pytest.UsageError(
            "pixelproof suites need the pixelproof plugin session (run them through `pixelproof run` or `pytest suites`)"
        )
    patterns = metafunc.config.getoption("pixelproof_rules")
    kinds = {name for name, kind in KINDS.items() if kind.suite == metafunc.function.__name__}
    cases = [
        c for c in session.cases(kinds)
        if not patterns or any(fnmatch.fnmatchcase(c.rule.id, p) or fnmatch.fnmatchcase(c.id, p) for p in patterns)
    ]  # fmt: skip
    groups = session.probe_groups()
    params = [
        pytest.param(c, id=c.id, marks=[pytest.mark.xdist_group(groups[c.probes[0].key])])
        if c.probes else pytest.param(c, id=c.id)
        for c in cases
    ]  # fmt: skip
    metafunc.parametrize("case", params, indirect=True)


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    pp = session_of(config)
    if pp is None:
        return
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        case = callspec.params.get("case") if callspec else None
        if item.get_closest_marker("pixelproof_fuzz"):
            target = callspec.params.get("fuzzed") if callspec else None
            if not hasattr(target, "properties"):
                drop.append(item)  # fuzzing is off, or nothing the target claims is fuzzed
                continue
            keep.append(item)
            item.user_properties += target.properties()
            continue
        if item.get_closest_marker("pixelproof") and not isinstance(case, Case):
            drop.append(item)  # the target claims nothing this test judges
            continue
        keep.append(item)
        if not isinstance(case, Case):
            continue
        rule = case.rule
        item.user_properties += case_properties(case)
        if not case.claimed:
            item.user_properties.append(("claimed", "no"))
            item.add_marker(pytest.mark.skip(reason=not_claimed_reason(case)))
            continue
        waiver = pp.profile.waiver(rule.id, case.model)
        if waiver and not waiver.expired():
            reason = f"waived ({waiver.reason}) until {waiver.expires}: {waiver.note or 'no note'}"
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True, raises=AssertionError))
    keep.sort(key=lambda item: not _carries_large_sample(item))  # stable: the rest keep order
    shard = config.getoption("pixelproof_shard")
    if shard:
        try:
            keep, dropped = select(keep, parse_shard(shard))
        except ShardError as exc:
            raise pytest.UsageError(str(exc)) from None
        drop += dropped
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep
    pp.planned = sum(1 for i in items if dict(i.user_properties).get("rule"))


def _carries_large_sample(item: pytest.Item) -> bool:
    """Run first: the mock holds a 41 MB body twice while parsing it, best while all is small."""
    case = item.callspec.params.get("case") if hasattr(item, "callspec") else None
    return isinstance(case, Case) and any(carries_large_sample(p.body) for p in case.probes)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """Under xdist the controller collects nothing itself: a worker's collection is the plan.
    No test is handed out before this: the embedded stack must serve by then."""
    pp = session_of(node.config)
    if pp is not None:  # rule cases are the parameterized tests (profile checks are not)
        pp.planned = sum(1 for i in ids if "[" in i)
        pp.stack_ready()


def pytest_collection_finish(session: pytest.Session) -> None:
    """The embedded stack started while pytest collected; no test runs before it serves."""
    pp = session_of(session.config)
    if pp is not None:
        pp.stack_ready()
        pp.gc_before = keep_for_the_run()
        write_results_in_one_piece()  # allure's results, encoded at once (report/allure.py)


@pytest.fixture(scope="session")
def pixelproof(request: pytest.FixtureRequest) -> PixelproofSession:
    session = session_of(request.config)
    if session is None:
        pytest.fail("no pixelproof session: run suites with `pixelproof run` or `pytest suites`")
    session.stack_ready()  # (done after collection already; a no-op then)
    return session


@pytest.fixture
def case(request: pytest.FixtureRequest, pixelproof: PixelproofSession) -> Evidence:
    """Observe the case's probes (setup phase): infrastructure problems are errors here."""
    label(request.node, case_facts(request.param), request.param.id)
    if pixelproof.ahead is not None:
        result, requests, images = pixelproof.ahead.take(request.param)
    else:
        result, requests, images = observed(pixelproof.get_observer(), request.param)
    request.node.user_properties += [("requests", requests), ("images", images)]
    if isinstance(result, NotJudged):
        pytest.skip(str(result))
    if isinstance(result, BaseException):
        raise result
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Rule failures and target errors print their own message, not a traceback."""
    excinfo = call.excinfo
    if excinfo is not None and isinstance(excinfo.value, (RuleFailure, TargetError)):
        # the message below replaces pytest's traceback text: let it format no frame (it parses
        # each frame's source file: ~70 ms a failure when it formatted them all, most of a run's
        # CPU when many promises are broken; ~4 ms for the last one alone, ~0.5 CPU-s of the
        # runs nested in the test suite); pytest then writes the exception's message alone
        excinfo.traceback = excinfo.traceback[:0]
    report = yield
    if excinfo is None or not isinstance(excinfo.value, (RuleFailure, TargetError)):
        return report
    if report.failed or hasattr(report, "wasxfail"):  # failed, or waived (allure shows its text)
        report.longrepr = f"{type(excinfo.value).__name__}: {excinfo.value}"
        if report.failed and isinstance(excinfo.value, RuleFailure):
            failure = excinfo.value
            report.user_properties += [
                ("expected", failure.expected), ("observed", failure.observed),
                ("request", failure.request), ("response", failure.response),
                ("thumbnails", thumbnails(failure.images)),
            ]  # fmt: skip
    return report


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    pp = session_of(session.config)
    if pp is None or hasattr(session.config, "workerinput"):
        return
    session.config.pluginmanager.register(_Collector(pp.results), "pixelproof-results")
    session.config.pluginmanager.register(
        WorkerCrashes(pp.catalogue, pp.profile, session.config), "pp-crashes"
    )


class _Collector:
    pixelproof_controller_only = True  # (lanes.py: a worker's reports reach the command's)

    def __init__(self, results: Results) -> None:
        self.results = results

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if dict(report.user_properties).get("rule"):
            self.results.add(report)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    pp = session_of(config)
    if pp is None or hasattr(config, "workerinput") or not pp.results.outcomes:
        return
    from pixelproof.report.summary import render_terminal

    terminalreporter.write_line("")
    for line in render_terminal(pp.results, pp.profile):
        terminalreporter.write_line(line)
