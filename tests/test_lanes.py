"""Which unit each of `pixelproof run -n N`'s forked workers runs next (schedule.Dispatcher): the
same lanes and policy as the xdist scheduler (test_schedule.py), over pytest items. No process:
the order of requests is the test's own. The workers themselves (forking, reports, crashes,
Ctrl-C) are test_worker_crash's, test_xdist_requests' and test_run_cli's."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from conftest import EVERY_WAY_TO_RUN
from pixelproof.schedule import Dispatcher, scope_of
from pixelproof.workers import worker_count


class Item:
    """What the dispatcher reads of a pytest item: its id and its xdist_group mark."""

    def __init__(self, nodeid: str, group: str | None = None) -> None:
        self.nodeid = nodeid
        self.marks = [SimpleNamespace(args=(group,), kwargs={})] if group else []

    def iter_markers(self, name: str) -> Any:
        return iter(self.marks if name == "xdist_group" else [])


def fuzz(target: str) -> Item:
    return Item(f"suites/test_fuzz.py::test_fuzz[{target}]")


# collected order: a rule group first (the large sample's), fuzz targets among the rule cases
ITEMS = [
    Item("suites/test_references.py::test_ref[big]", "g0"),
    fuzz("unified POST /v1/images/generations negative"),  # cost 2
    Item("suites/test_sizes.py::test_size[a]", "g1"),
    Item("suites/test_sizes.py::test_size[b]", "g1"),
    fuzz("unified GET /v1/tasks/{id}"),  # cost 0.5
    Item("suites/test_sizes.py::test_size[c]", "g1"),
    Item("suites/test_profile.py::test_waivers"),
    fuzz("unified POST /v1/images/edits"),  # cost 1
]


def ids(dispatcher: Dispatcher, unit: list[int]) -> list[str]:
    return [ITEMS[i].nodeid.split("::")[1] for i in unit]


def test_the_first_worker_fuzzes_costliest_first_while_the_other_takes_rule_units_whole() -> None:
    d = Dispatcher(ITEMS, 2)  # type: ignore[arg-type]
    alive = {0, 1}
    assert ids(d, d.take(0, alive)) == ["test_fuzz[unified POST /v1/images/generations negative]"]
    # the unit collected first first, then the largest; a group's tests together, in order
    assert ids(d, d.take(1, alive)) == ["test_ref[big]"]
    assert ids(d, d.take(1, alive)) == ["test_size[a]", "test_size[b]", "test_size[c]"]
    assert ids(d, d.take(0, alive)) == ["test_fuzz[unified POST /v1/images/edits]"]
    assert ids(d, d.take(1, alive)) == ["test_waivers"]
    # the rule lane is empty: the last target costs less than a start-up, and worker 0 fuzzes
    assert d.take(1, alive) == []
    assert ids(d, d.take(0, alive)) == ["test_fuzz[unified GET /v1/tasks/{id}]"]
    assert d.take(0, alive) == []
    assert not d.left()


def test_a_worker_joins_fuzzing_when_no_other_worker_fuzzes() -> None:
    d = Dispatcher(ITEMS, 2)  # type: ignore[arg-type]
    d.take(0, {0, 1})  # worker 0 fuzzes, then dies
    for _ in range(3):
        d.take(1, {1})
    assert ids(d, d.take(1, {1})) == ["test_fuzz[unified POST /v1/images/edits]"]


def test_one_worker_runs_everything_rules_first_and_returned_tests_last() -> None:
    d = Dispatcher(ITEMS, 1)  # type: ignore[arg-type]
    d.returned.append([6])  # a dead worker's tests it had not begun
    taken = [d.take(0, {0}) for _ in range(7)]
    assert [ITEMS[u[0]].nodeid.split("::")[1][:9] for u in taken[:3]] == [
        "test_ref[",
        "test_size",
        "test_waiv",
    ]
    assert [len(u) for u in taken] == [1, 3, 1, 1, 1, 1, 1]
    assert taken[-1] == [6]
    assert d.take(0, {0}) == []
    assert not d.left()


def test_a_stopped_run_hands_out_nothing() -> None:
    d = Dispatcher(ITEMS, 2)  # type: ignore[arg-type]
    d.stopped = True
    assert d.take(1, {0, 1}) == []
    assert not d.left()


def test_units_are_request_groups_and_ungrouped_tests_alone() -> None:
    assert scope_of(ITEMS[2]) == scope_of(ITEMS[5]) == "@g1"  # type: ignore[arg-type]
    assert scope_of(ITEMS[6]) == ITEMS[6].nodeid  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["auto", "logical"])
def test_auto_is_the_cpus_this_process_may_use_not_the_machines(value: str) -> None:
    """A CI job pinned to one CPU of a bigger machine (a container's cpuset, `taskset`) runs one
    worker: the count is read in a child allowed a single CPU, which os.cpu_count() still counts
    as all of them."""
    import os
    import subprocess
    import sys

    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("one CPU here: a pinned child cannot tell affinity from the machine's count")
    code = f"from pixelproof.workers import worker_count; print(worker_count({value!r}))"
    pinned = subprocess.run(
        [sys.executable, "-c", code],
        preexec_fn=lambda: os.sched_setaffinity(0, {cpus[-1]}),
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert pinned.stdout.strip() == "1"
    assert (os.cpu_count() or 1) > 1  # what a count of the machine's CPUs would have said
    assert worker_count(value) == len(cpus)


@pytest.mark.parametrize("value", ["1", "3", "16"])
def test_a_number_is_that_many_workers(value: str) -> None:
    assert worker_count(value) == int(value)


@pytest.mark.parametrize("value", ["0", "-1", "two", "", "1.5", None])
def test_anything_else_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="not a positive number of workers"):
        worker_count(value)


def test_a_ctrl_c_held_back_is_delivered_to_the_handler_before_at_the_end() -> None:
    """lanes.py forks and stops its workers, and a worker writes each message, with a Ctrl-C held
    back (lane_worker.CtrlCHeld): a real SIGINT in the stretch reaches no code in it, and the
    handler that was there gets it once the stretch ends."""
    import signal

    from pixelproof.lane_worker import CtrlCHeld

    got: list[str] = []

    def handler(signum: int, frame: object) -> None:
        got.append("handler")

    before = signal.signal(signal.SIGINT, handler)
    try:
        with CtrlCHeld():
            signal.raise_signal(signal.SIGINT)
            got.append("stretch went on")
        assert got == ["stretch went on", "handler"]
        assert signal.getsignal(signal.SIGINT) is handler
        with CtrlCHeld():  # nothing came: nothing delivered
            pass
        assert got == ["stretch went on", "handler"]
    finally:
        signal.signal(signal.SIGINT, before)


BUDGET_KEY_ENV, BUDGET_KEY = "PP_LANES_BUDGET_KEY", "pp-lanes-budget-key-0123456789"


@pytest.fixture(scope="module")
def budget_target(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The reference stack served here, and its profile (``--target``)."""
    from conftest import served_profile

    with served_profile(tmp_path_factory.mktemp("budget"), BUDGET_KEY_ENV, BUDGET_KEY) as path:
        yield path


@EVERY_WAY_TO_RUN
def test_a_run_stops_buying_images_at_its_budget_however_many_workers(
    budget_target: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, workers: list[str]
) -> None:
    """`--budget 10`: the run buys 10 images and skips the cases that would buy more, saying so.
    With forked or xdist workers each counted its own (ledger.py): two workers bought 20."""
    import json

    from conftest import pixelproof_inprocess

    monkeypatch.setenv(BUDGET_KEY_ENV, BUDGET_KEY)
    done = pixelproof_inprocess(
        "run", "--target", str(budget_target), "--rules", "size.*", "--fuzz", "off",
        "--budget", "10", "--report-dir", str(tmp_path), "--run-id", "budget", *workers,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    run = json.loads((tmp_path / "budget" / "run.json").read_text())
    assert run["images_bought"] == 10, run["images_bought"]
    skipped = [o for o in run["outcomes"] if o["outcome"] == "skipped"]
    assert skipped
    assert all("image budget of 10 reached" in o["message"] for o in skipped), skipped[:3]
    # kept where judged, and the headline says how much was not (it said "all ... kept")
    headline = (tmp_path / "budget" / "summary.md").read_text().splitlines()[0]
    assert f"every promise judged was kept; {len(skipped)} case(s) skipped, not judged" in headline
    assert "image budget of 10 reached" in headline


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "forked-workers"])
def test_a_workers_warning_keeps_its_class_and_place(
    budget_target: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, workers: list[str]
) -> None:
    """The warnings summary of `run -n N` is the serial run's: the class a worker warned with
    (it said "UserWarning: ProbeWarning: ..." at line 0) and where it was raised."""
    import sys

    from conftest import pixelproof_inprocess

    monkeypatch.setenv(BUDGET_KEY_ENV, BUDGET_KEY)
    monkeypatch.delitem(sys.modules, "warn_lazy", raising=False)  # (an earlier run imported it)
    done = pixelproof_inprocess(
        "run", "--target", str(budget_target), "--rules", "size.gpt-image-2.*", "--fuzz", "off",
        "--report-dir", str(tmp_path), *workers, "--", "-p", "warn_probe",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "warn_probe.py:" in done.stdout
    assert "ProbeWarning: pp-probe: warned in a worker" in done.stdout, done.stdout[-2000:]
    # a class the command cannot find again keeps its name in the text (it said only UserWarning)
    assert "LazyWarning: pp-lazy: warned in a worker" in done.stdout, done.stdout[-2000:]
