"""A `run -n N` worker that dies in the middle of a case (killed, out of memory, ``os._exit`` in a
test or a library): the case is an *error* that names the worker, never a failure and never a pass.

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
from typing import Any

import pytest

from pixelproof.catalogue import Catalogue
from pixelproof.plan import KINDS, cases_for
from pixelproof.report.results import case_properties
from pixelproof.target import Profile

DOWN = pytest.StashKey[dict[str, str]]()  # worker id -> why xdist saw it go down
NODEID = re.compile(r"::(?P<test>\w+)\[(?P<param>.*)\](?:@[^\]]*)?$")  # a test[case], @its group


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object | None) -> None:
    """xdist says why a worker went down before it reports the case it held."""
    if error is not None:
        node.config.stash.setdefault(DOWN, {})[node.gateway.id] = str(error).strip()


def crash_message(worker: str, why: str | None) -> str:
    cause = f" ({why})" if why else ""
    return (
        f"worker {worker} crashed while running this case{cause}: its outcome was not observed, "
        "so this is an error, not a verdict; the case was not run again (its requests may "
        "already have been sent)"
    )


def explain(report: pytest.TestReport, catalogue: Catalogue, profile: Profile) -> None:
    """Turn xdist's report of a crashed worker's case into the case's error (in place)."""
    worker = getattr(report, "node", None)
    config = getattr(worker, "config", None)
    name = str(getattr(getattr(worker, "gateway", None), "id", "?"))
    why = config.stash.get(DOWN, {}).get(name) if config is not None else None
    report.longrepr = crash_message(name, why)
    report.when = "setup"  # nothing of the case was judged: an error in every report format
    if config is not None:
        report.user_properties = planned_properties(report.nodeid, catalogue, profile, config)


def planned_properties(
    nodeid: str, catalogue: Catalogue, profile: Profile, config: pytest.Config
) -> list[tuple[str, Any]]:
    """The rule metadata a worker attached to this test when it collected it (the same plan,
    made again here), or the bare test name where the plan has no such case."""
    found = NODEID.search(nodeid)
    if found is None:
        return []  # not a rule case (a profile check): reported as pytest reports it
    test, param = found["test"], found["param"]
    if test == "test_fuzz":
        from pixelproof.fuzz.targets import fuzz_level, plan_targets

        option = config.getoption
        level = fuzz_level(option("pixelproof_fuzz"), profile)
        targets = plan_targets(catalogue, profile, level, option("pixelproof_fuzz_budget"),
                               option("pixelproof_rules"))  # fmt: skip
        return next((t.properties() for t in targets if t.id == param), _unplanned(param))
    kinds = {name for name, kind in KINDS.items() if kind.suite == test}
    cases = cases_for(catalogue, profile, kinds) if kinds else []
    return next((case_properties(c) for c in cases if c.id == param), _unplanned(param))


def _unplanned(param: str) -> list[tuple[str, Any]]:
    return [("rule", param), ("case", param), ("kind", "-"), ("surface", "-"), ("model", "")]
