"""A `run -n N` worker that dies in the middle of a case (killed, out of memory, ``os._exit`` in a
test or a library): the case is an *error* that names the worker, never a failure and never a pass.
The same for the run's forked workers (lanes.py, which calls ``report_crash``) and for xdist's
(`pytest suites -n N`, or `run -- -n N`), below.

xdist reports the case the worker held as *failed*, with no rule attached, so the run's own
outcomes left it out: run.json said every promise was kept (exit 0) while the command exited 1.
What the harness could not observe is an error (DESIGN: errors are not failures), so the report
xdist makes is given the case's rule metadata (worked out again from the plan, as the worker did
at collection) and a message saying what happened; the exit code (3 when nothing else broke),
run.json, junit.xml and summary.md then agree. The case is not run again (schedule.py): its
requests may already have been sent, and a case that kills its worker would kill the next one.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest

from pixelproof.plan import KINDS, cases_for, not_claimed_reason
from pixelproof.report import allure_results
from pixelproof.report.allure import CaseFacts, case_facts, fuzz_facts
from pixelproof.report.results import case_properties
from pixelproof.schedule import PHASES_SEEN

if TYPE_CHECKING:
    from pixelproof.catalogue import Catalogue
    from pixelproof.target import Profile

NODEID = re.compile(r"::(?P<test>\w+)\[(?P<param>.*)\](?:@[^\]]*)?$")  # a test[case], @its group


class WorkerCrashes:
    """The controller's side of `run -n N` when workers die (registered by the plugin at the
    session's start, in the controller only; lanes.py's workers drop it)."""

    pixelproof_controller_only = True

    def __init__(self, catalogue: Catalogue, profile: Profile, config: pytest.Config) -> None:
        self.catalogue, self.profile = catalogue, profile
        self.down: dict[str, str] = {}  # worker id -> why xdist saw it go down
        self.planned: list[str] = []  # the workers' collection
        self.seen = config.stash.setdefault(PHASES_SEEN, {})  # nodeid -> {phase: outcome}

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object | None) -> None:
        """xdist says why a worker went down (before it reports the case it held); None when
        the worker ended as it should."""
        if error is not None:
            self.down[str(node.gateway.id)] = str(error).strip()

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.planned = self.planned or list(ids)

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem: str, report: pytest.TestReport, sched: Any) -> None:
        """The case the worker held: an error naming the worker (see the module's docstring).
        Where its call was reported the worker died in its teardown: the verdict stands (a
        broken promise seen in full stays broken, results.py) and the crash is a teardown error."""
        worker = str(getattr(getattr(getattr(report, "node", None), "gateway", None), "id", "?"))
        self.report_crash(report, worker, sched.config)

    def report_crash(self, report: pytest.TestReport, worker: str, config: pytest.Config) -> None:
        """``report`` (of the case ``worker`` died in) made an error of the run, and its Allure
        result written (xdist's crash item above; lanes.py's workers)."""
        call = self.seen.get(report.nodeid, {}).get("call")
        report.longrepr = crash_message(worker, self.down.get(worker), judged=call is not None)
        report.when = "setup" if call is None else "teardown"  # an error in every report format
        props, facts, original = planned(report.nodeid, self.catalogue, self.profile, config)
        report.user_properties = [*props, ("crashed", worker)]  # its requests went uncounted
        status = "failed" if call == "failed" else "broken"
        allure_results.unobserved(config, report, status, facts, original)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.seen.setdefault(report.nodeid, {})[report.when] = report.outcome

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """After too many crashed workers xdist stops handing out work (``--max-worker-restart``,
        by default four per worker): the cases it never ran were not observed either. Each is
        reported as an error, before junit.xml and the run's outcomes are written, so the run
        says how much of it was never judged instead of leaving those cases out."""
        if not self.down or exitstatus == pytest.ExitCode.INTERRUPTED:
            return
        why = (f"not run: the run stopped after {len(self.down)} worker(s) crashed "
               f"({', '.join(sorted(self.down))}); its outcome was not observed")  # fmt: skip
        for nodeid in self.planned:
            if nodeid in self.seen:
                continue
            fspath = nodeid.split("::")[0]
            props, facts, original = planned(nodeid, self.catalogue, self.profile, session.config)
            outcome, longrepr = "failed", why
            if ("claimed", "no") in props:  # never sent whoever ran it: its verdict is known
                reason = not_claimed_reason(original["case"])
                outcome, longrepr = "skipped", (fspath, None, f"Skipped: {reason}")
            report = pytest.TestReport(nodeid, (fspath, None, fspath), {}, outcome, longrepr,
                                       "setup", user_properties=props)  # fmt: skip
            session.config.hook.pytest_runtest_logreport(report=report)
            status = "skipped" if report.skipped else "broken"
            allure_results.unobserved(session.config, report, status, facts, original)


def crash_message(worker: str, why: str | None, judged: bool = False) -> str:
    cause = f" ({why})" if why else ""
    if judged:
        return (
            f"worker {worker} crashed in this case's teardown, after its verdict{cause}: the "
            "verdict stands, the crash is an error of the run; the case was not run again"
        )
    return (
        f"worker {worker} crashed while running this case{cause}: its outcome was not observed, "
        "so this is an error, not a verdict; the case was not run again (its requests may "
        "already have been sent)"
    )


Planned = tuple[list[tuple[str, Any]], CaseFacts | None, dict[str, Any]]


def planned(nodeid: str, catalogue: Catalogue, profile: Profile, config: pytest.Config) -> Planned:
    """The rule metadata a worker attached to this test when it collected it (the same plan,
    made again here; a case the target does not claim says so), what Allure shows of it and
    its parameter (for Allure's history id, as a worker computes it), or the bare test name
    where the plan has no such case. A profile check (no case: the waivers' expiry) gets
    its name as its rule: its crash is an error of the run like any other, where pytest's bare
    failure made the command exit 1 ("a profile check failed") under a run.json that said 0."""
    found = NODEID.search(nodeid)
    if found is None:
        return _unplanned(nodeid.rsplit("::", 1)[-1]), None, {}
    test, param = found["test"], found["param"]
    if test == "test_fuzz":
        from pixelproof.fuzz.targets import fuzz_level, plan_targets

        option = config.getoption
        level = fuzz_level(option("pixelproof_fuzz"), profile)
        targets = plan_targets(catalogue, profile, level, option("pixelproof_fuzz_budget"),
                               option("pixelproof_rules"))  # fmt: skip
        target = next((t for t in targets if t.id == param), None)
        if target is None:
            return _unplanned(param), None, {}
        return target.properties(), fuzz_facts(target), {"fuzzed": target}
    kinds = {name for name, kind in KINDS.items() if kind.suite == test}
    cases = cases_for(catalogue, profile, kinds) if kinds else []
    case = next((c for c in cases if c.id == param), None)
    if case is None:
        return _unplanned(param), None, {}
    props = case_properties(case) + ([] if case.claimed else [("claimed", "no")])
    return props, case_facts(case), {"case": case}


def _unplanned(param: str) -> list[tuple[str, Any]]:
    return [("rule", param), ("case", param), ("kind", "-"), ("surface", "-"), ("model", "")]
