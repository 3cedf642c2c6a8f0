"""`pixelproof run -n N`'s scheduler (schedule.py), driven as xdist's controller drives it, with
workers simulated as xdist's are: a worker runs a test once it holds the next one or was told to
shut down, and reports it done. No process, no timing: the order of events is the test's own."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from pixelproof.schedule import LaneScheduling, pytest_xdist_make_scheduler

FUZZ = [f"suites/test_fuzz.py::test_fuzz[target {i}]" for i in range(4)]
RULES = [
    "suites/test_sizes.py::test_size[a]@g1",
    "suites/test_sizes.py::test_size[b]@g1",
    "suites/test_sizes.py::test_size[c]@g1",
    "suites/test_edits.py::test_edit[d]@g2",
    "suites/test_sizes.py::test_size[e]@g2",
    "suites/test_profile.py::test_waivers",
    "suites/test_outputs.py::test_output[f]@g3",
]
COLLECTION = [RULES[0], *FUZZ[:2], *RULES[1:4], *FUZZ[2:], *RULES[4:]]


class Worker:
    def __init__(self, name: str) -> None:
        self.gateway = SimpleNamespace(id=name)
        self.shutting_down = False
        self.queue: list[int] = []
        self.ran: list[str] = []

    def send_runtest_some(self, indexes: list[int]) -> None:
        self.queue += indexes

    def shutdown(self) -> None:
        self.shutting_down = True

    def can_run(self) -> bool:
        return len(self.queue) >= 2 or (self.shutting_down and bool(self.queue))


def config(workers: int, dist: str = "loadgroup") -> Any:
    values = {"tx": [f"{workers}*popen"], "dist": dist}
    return SimpleNamespace(
        getvalue=values.get, option=SimpleNamespace(loadscopereorder=True), stash=pytest.Stash()
    )


def start(workers: int, collection: list[str] = COLLECTION) -> tuple[LaneScheduling, list[Worker]]:
    sched = LaneScheduling(config(workers))
    nodes = [Worker(f"gw{i}") for i in range(workers)]
    for node in nodes:
        sched.add_node(node)
    for node in nodes:
        sched.add_node_collection(node, collection)
    sched.schedule()
    return sched, nodes


def step(sched: LaneScheduling, node: Worker) -> None:
    index = node.queue.pop(0)
    node.ran.append(sched.collection[index])
    sched.mark_test_complete(node, index)


def run_all(sched: LaneScheduling, nodes: list[Worker], turns: list[int] | None = None) -> None:
    """Workers take turns (``turns`` names whose turn it is, then round robin) until none can run."""
    turns, order = list(turns or []), list(nodes)
    while any(n.can_run() for n in nodes):
        pick = turns.pop(0) if turns else None
        ready = [n for n in order if n.can_run()]
        node = nodes[pick] if pick is not None and nodes[pick].can_run() else ready[0]
        step(sched, node)
        if pick is None:  # round robin: the one that ran goes last
            order.append(order.pop(order.index(node)))


def group(nodeid: str) -> str:
    return nodeid.rsplit("@", 1)[-1] if "@" in nodeid else nodeid


def test_every_test_runs_once_and_a_request_group_never_splits() -> None:
    sched, nodes = start(2)
    assert not sched.tests_finished
    assert sched.has_pending
    for _ in range(5):
        step(sched, nodes[0])
    assert not sched.workqueue
    assert not sched.tests_finished
    assert sched.has_pending
    run_all(sched, nodes)
    ran = [t for n in nodes for t in n.ran]
    assert sorted(ran) == sorted(COLLECTION)
    owner = {group(t): n.gateway.id for n in nodes for t in n.ran}
    for n in nodes:
        assert all(owner[group(t)] == n.gateway.id for t in n.ran)
    assert sched.tests_finished
    assert not sched.has_pending
    assert all(n.shutting_down for n in nodes)


def test_the_first_worker_fuzzes_while_the_others_send_rule_cases() -> None:
    sched, nodes = start(2)
    first = [COLLECTION[i] for i in nodes[0].queue]
    second = [COLLECTION[i] for i in nodes[1].queue]
    assert first == FUZZ[:2]  # its first two units: fuzz targets, in collection order
    assert second == [t for t in RULES if t.endswith("@g1")]  # three pending: enough for now
    # each keeps to its lane while it lasts: the rule worker takes a fuzz target only once
    # every rule unit is handed out, the fuzzing worker a rule unit only once fuzzing is
    run_all(sched, nodes, turns=[1, 1, 1, 0] * 4)
    kinds = [["fuzz" if "test_fuzz" in t else "rule" for t in n.ran] for n in nodes]
    assert kinds[0] == sorted(kinds[0])  # fuzz... then rule...
    assert kinds[1] == sorted(kinds[1], reverse=True)  # rule... then fuzz...
    assert kinds[1][:7] == ["rule"] * 7
    assert sorted(t for n in nodes for t in n.ran) == sorted(COLLECTION)


def test_a_worker_whose_lane_is_empty_takes_from_the_other() -> None:
    sched, nodes = start(2)
    run_all(sched, nodes, turns=[0] * 12)  # the fuzzing worker is the fast one
    assert set(FUZZ) <= set(nodes[0].ran)
    assert any("test_fuzz" not in t for t in nodes[0].ran)
    assert sorted(t for n in nodes for t in n.ran) == sorted(COLLECTION)


def test_one_worker_starts_with_the_rule_cases_as_collected() -> None:
    sched, nodes = start(1)
    run_all(sched, nodes)
    assert nodes[0].ran[:3] == [t for t in RULES if t.endswith("@g1")]  # largest unit first
    assert sorted(nodes[0].ran) == sorted(COLLECTION)


def test_a_crashed_workers_units_go_to_the_others() -> None:
    sched, nodes = start(2)
    step(sched, nodes[1])  # one test of g1 done, the worker dies holding the rest
    held = [COLLECTION[i] for i in nodes[1].queue]
    crashed = sched.remove_node(nodes[1])
    assert crashed == RULES[1]  # xdist reports it as the crashed case (crashed.py: an error)
    run_all(sched, nodes[:1])
    assert set(held) - {crashed} <= set(nodes[0].ran)
    assert crashed not in nodes[0].ran  # not run again: its request is not sent twice
    assert sorted(nodes[0].ran + nodes[1].ran + [crashed]) == sorted(COLLECTION)
    assert sched.tests_finished


def test_a_worker_that_crashes_after_finishing_whole_units_does_not_hang_the_run() -> None:
    """xdist gives a crashed worker's units back whole, finished ones too: each must be dropped,
    not handed to a worker that would then wait for a test that never comes."""
    units = [f"suites/test_sizes.py::test_size[{i}]" for i in range(20)]  # one test per unit
    sched, nodes = start(2, units)
    for _ in range(6):
        step(sched, nodes[1])  # six whole units done, then the worker dies
    step(sched, nodes[0])
    crashed = sched.remove_node(nodes[1])
    run_all(sched, nodes[:1])
    assert crashed == units[8]  # the one it held when it died: reported (an error), not run again
    assert sorted(nodes[0].ran) == sorted(set(units) - set(nodes[1].ran) - {crashed})  # each once
    assert nodes[0].shutting_down
    assert not nodes[0].queue
    assert sched.tests_finished
    assert not sched.has_pending


def test_the_replacement_of_a_crashed_lone_worker_runs_what_is_left_and_ends() -> None:
    """xdist replaces a crashed worker; the new one is handed work when its collection arrives.
    It runs a test once it holds the next one or was told to shut down: handed a last unit of
    one test, and nothing else, it waited for ever and the run hung (`run -n 1`, or the last
    units of `-n 2`)."""
    units = [f"suites/test_sizes.py::test_size[{i}]" for i in range(4)]  # one test per unit
    sched, nodes = start(1, units)
    step(sched, nodes[0])
    step(sched, nodes[0])  # two done, it dies holding the third (and the fourth)
    crashed = sched.remove_node(nodes[0])
    assert crashed == units[2]
    replacement = Worker("gw1")
    sched.add_node(replacement)
    sched.add_node_collection(replacement, units)
    sched.schedule()
    run_all(sched, [replacement])
    assert replacement.ran == [units[3]]
    assert replacement.shutting_down
    assert sched.tests_finished
    assert not sched.has_pending


def test_the_fuzz_lane_hands_out_its_costliest_targets_first() -> None:
    """Longest first: what is left at the end, when one worker may wait for the other, is the
    cheapest. Negative cases cost about twice a documented one; a GET's only input is its path
    id; equal costs keep the collection's order."""
    get, pos, neg_a, stateful, neg_b = fuzz = [
        "suites/test_fuzz.py::test_fuzz[tasks GET /v1/tasks/{task_id} positive]",
        "suites/test_fuzz.py::test_fuzz[unified POST /a positive]",
        "suites/test_fuzz.py::test_fuzz[unified POST /a negative]",
        "suites/test_fuzz.py::test_fuzz[tasks POST /b -> GET /v1/tasks/{task_id} stateful]",
        "suites/test_fuzz.py::test_fuzz[unified POST /b negative]",
    ]
    sched, nodes = start(1, fuzz)
    run_all(sched, nodes)
    assert nodes[0].ran == [neg_a, neg_b, pos, stateful, get]


def test_a_rule_worker_stops_rather_than_start_fuzzing_for_a_few_cheap_targets() -> None:
    """Its first fuzz target would cost it the start-up (schemathesis, Hypothesis, the surface's
    contract: ~1 CPU-s) that the worker already fuzzing has paid: for two documented targets it
    stops, and that worker runs them."""
    sched, nodes = start(2)  # four fuzz targets of one unit each; seven rule tests
    run_all(sched, nodes, turns=[1] * 7)  # the rule worker is the fast one
    assert [t for t in nodes[1].ran if "test_fuzz" in t] == []
    assert nodes[1].shutting_down
    assert nodes[0].ran[: len(FUZZ)] == FUZZ
    assert sorted(nodes[0].ran + nodes[1].ran) == sorted(COLLECTION)
    assert sched.tests_finished


def test_a_rule_worker_joins_fuzzing_when_more_is_left_than_its_start_up() -> None:
    fuzz = [f"suites/test_fuzz.py::test_fuzz[unified POST /op{i} negative]" for i in range(8)]
    sched, nodes = start(2, [*RULES[:3], *fuzz])
    run_all(sched, nodes, turns=[1] * 6)
    assert [t for t in nodes[1].ran if "test_fuzz" in t]
    assert sorted(nodes[0].ran + nodes[1].ran) == sorted([*RULES[:3], *fuzz])
    assert sched.tests_finished


def test_other_dist_modes_keep_xdists_own_scheduler() -> None:
    assert pytest_xdist_make_scheduler(config(2, "load"), None) is None
    assert isinstance(pytest_xdist_make_scheduler(config(2), None), LaneScheduling)


def test_the_unit_collected_first_is_handed_out_first_in_its_lane() -> None:
    """The plugin collects first the case sending the large sample (while the processes are
    small); among the largest units first, it came after every larger unit."""
    large_sample = RULES[6]  # g3: a unit of one test, collected first
    sched, nodes = start(2, [large_sample, *FUZZ, *RULES[:6]])
    assert sched.collection[nodes[1].queue[0]] == large_sample
    assert [sched.collection[i] for i in nodes[0].queue] == FUZZ[:2]
    run_all(sched, nodes)
    assert sorted(t for n in nodes for t in n.ran) == sorted([large_sample, *FUZZ, *RULES[:6]])
