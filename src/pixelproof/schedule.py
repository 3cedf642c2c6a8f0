"""How a parallel run hands out work: two lanes, so the cores stay busy. xdist's workers
(`pytest suites -n N --dist loadgroup`) get it from ``LaneScheduling`` below, the workers
`pixelproof run -n N` forks (lanes.py) from ``Dispatcher``, with the same lanes and policy
(``lanes_of``, ``joins_fuzzing``).

A run's tests are of two sorts. A rule case is ping-pong with the embedded stack: the worker
sends a probe, waits while the stack answers (drawing and encoding images), then judges. A fuzz
target is mostly the worker's own CPU: Hypothesis drawing cases from schemathesis' strategies,
the stack idle. xdist's ``loadgroup`` hands out request groups largest first, whatever their
sort, so both workers fuzzed side by side and then both sent rule cases to the one stack, which
then bounded the run (its process is one core: each worker waited on it, a core sat idle).

Here the first worker takes the fuzz targets and the others the rule cases, each taking from the
other lane once its own is empty: while fuzzing lasts, one core fuzzes and the other carries the
rule cases' ping-pong. The units are xdist's ``loadgroup`` units unchanged (a request group never
splits: each distinct request is still sent once per run), in xdist's order within a lane
(largest first; the large-sample case first of all, as the plugin collects it). Which worker runs
a test never changes its verdict, only when it runs.

The unit collected first stays first in the rule lane, before the larger ones (the fuzz lane is
sorted by cost afterwards): the plugin collects first the case that sends the 41 MB sample
(plugin._carries_large_sample), so that the stack parses that body while the processes are
small, and xdist's sort by size had moved it behind every larger unit. Handed out first, the
stack's ~0.5 CPU-s on that body also fall while the fuzzing worker imports its libraries and
builds its first strategies (no request to wait for), not later, while fuzzing waited behind it
for the stack's answers (the two cores ~1.3 busy for ~1 s of a `-n auto` run, measured).

The bookkeeping is per worker (a count of its pending tests) where xdist's summed every unit ever
assigned, after every report: quadratic in the run's size, ~5% of the controller's samples.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

import pytest
from xdist.scheduler import LoadGroupScheduling

from pixelproof.shard import key_components

if TYPE_CHECKING:
    from pixelproof.plan import Case

# What the controller got of each test, phase -> outcome (crashed.WorkerCrashes fills it): a
# worker that dies after its test's teardown report, before xdist hears the test is complete,
# did not die in that test.
PHASES_SEEN = pytest.StashKey[dict[str, dict[str, str]]]()
FUZZ_TEST = "::test_fuzz["  # the suites' fuzz test (suites/test_fuzz.py): one unit per target


def is_fuzz(scope: str) -> bool:
    return FUZZ_TEST in scope


def fuzz_cost(scope: str) -> float:
    """A fuzz target's rough CPU, in units of one documented request's generation, from its id
    (surface, operation, mode; the plan gives each target the same share of requests).
    Negative cases are drawn from a mutated schema, redone on every draw: about twice a
    documented case. A GET's only input is a path id. A stateful target follows the contract's
    links with documented inputs. Only the order and the ratio to FUZZ_START_UP matter."""
    target = scope.partition(FUZZ_TEST)[2]
    if target.endswith(" negative]"):
        return 2.0
    if " GET " in target and "->" not in target:
        return 0.5
    return 1.0


# What a worker pays once before its first fuzz target, in fuzz_cost's units: importing
# schemathesis and Hypothesis, tailoring the surface's contract, building its strategies (about
# 1 CPU-s on the 2-core CI machine, where one documented target costs 0.1-0.25 CPU-s)
FUZZ_START_UP = 5.0


def lanes_of(sizes: dict[str, int], reorder: bool = True) -> tuple[deque[str], deque[str]]:
    """The fuzz lane and the rule lane of a run's units (scope -> its test count, in collection
    order). Rule units in xdist's ``loadgroup`` order: largest first where ``reorder`` (xdist's
    default), but the first collected first of all (see the module's docstring). Fuzz targets
    longest first (LPT): what is left for the end, where one worker may wait on the other, is
    the cheapest targets (sorted is stable: equal costs keep the plan's order)."""
    order = list(sizes)
    if reorder and order:
        first = order[0]
        order.sort(key=lambda scope: (scope != first, -sizes[scope]))
    fuzz = sorted((s for s in order if is_fuzz(s)), key=lambda s: -fuzz_cost(s))
    return deque(fuzz), deque(s for s in order if not is_fuzz(s))


def joins_fuzzing(fuzzed: bool, others_fuzzing: bool, cost_left: float) -> bool:
    """Whether a worker takes a fuzz target: one that fuzzed already does; one that has not, only
    where that ends the run sooner: when no other worker is fuzzing, or when the targets left
    (``fuzz_cost`` summed) cost more than its start-up (FUZZ_START_UP)."""
    return fuzzed or not others_fuzzing or cost_left > FUZZ_START_UP


class LaneScheduling(LoadGroupScheduling):
    """``loadgroup`` with a fuzz lane and a rule lane (see the module's docstring)."""

    def __init__(self, config: pytest.Config, log: Any = None) -> None:
        super().__init__(config, log)
        self.lanes: tuple[deque[str], deque[str]] = (deque(), deque())  # fuzz, rules
        self.pending: dict[Any, int] = {}
        self.position: dict[str, int] = {}  # nodeid -> index in the (identical) collections
        self.fuzzed: set[Any] = set()  # workers handed a fuzz target (they paid its start-up)

    def add_node(self, node: Any) -> None:
        super().add_node(node)
        self.pending[node] = 0

    def remove_node(self, node: Any) -> str | None:
        """xdist's (a crashed worker's units go back to the workqueue, whole), except that the
        case it died in is marked done first: it is reported as an error (crashed.py), not run
        again. Run again, its requests were sent twice, and a case that kills its worker killed
        each replacement in turn until xdist gave up on the run."""
        self.pending.pop(node, None)
        workload = self.assigned_work.pop(node)
        left = [(unit, nodeid) for unit in workload.values() for nodeid, done in unit.items()
                if not done]  # fmt: skip
        if not left:
            return None
        unit, crashitem = left[0]  # a worker runs its units, and their tests, in order
        unit[crashitem] = True
        self.workqueue.update(workload)
        for other in self.assigned_work:
            self._reschedule(other)
        if "teardown" in self.config.stash.get(PHASES_SEEN, {}).get(crashitem, {}):
            return None  # reported whole: the worker died after it (a second, false report)
        return crashitem

    def schedule(self) -> None:
        """xdist's ``schedule`` (its checks and its order), with the units put in two lanes
        before any is handed out."""
        assert self.collection_is_completed
        if self.collection is not None:
            for node in self.nodes:
                self._reschedule(node)
            return
        if not self._check_nodes_have_same_collection():
            self.log("**Different tests collected, aborting run**")
            return
        self.collection = list(next(iter(self.registered_collections.values())))
        if not self.collection:
            return
        self.position = {nodeid: i for i, nodeid in enumerate(self.collection)}
        found: dict[str, dict[str, bool]] = {}
        for nodeid in self.collection:
            found.setdefault(self._split_scope(nodeid), {})[nodeid] = False
        sizes = {scope: len(tests) for scope, tests in found.items()}
        self.lanes = lanes_of(sizes, self.config.option.loadscopereorder)
        for scope in (*self.lanes[0], *self.lanes[1]):
            self.workqueue[scope] = found[scope]
        for _ in range(len(self.nodes) - len(self.workqueue)):  # more workers than units
            unused, _work = self.assigned_work.popitem()
            self.pending.pop(unused, None)
            unused.shutdown()
        for node in self.nodes:
            self._assign_work_unit(node)
        for node in self.nodes:  # each starts with two units where it can (xdist #277)
            self._reschedule(node)
        if not self.workqueue:
            for node in self.nodes:
                node.shutdown()

    def _next_scope(self, node: Any) -> str | None:
        """The worker's own lane first, then the other; units put back by a crashed worker (not
        in either lane) last. None: this worker is better stopped than fuzzing (``_joins_fuzzing``)."""
        fuzz_first = len(self.assigned_work) > 1 and next(iter(self.assigned_work)) is node
        lanes = (self.lanes[0], self.lanes[1]) if fuzz_first else (self.lanes[1], self.lanes[0])
        for lane in lanes:
            while lane and lane[0] not in self.workqueue:
                lane.popleft()
            if lane and lane is self.lanes[0] and not self._joins_fuzzing(node):
                return None
            if lane:
                return lane.popleft()
        return next(iter(self.workqueue))

    def _joins_fuzzing(self, node: Any) -> bool:
        """A worker that has not fuzzed yet takes a fuzz target only where that ends the run
        sooner: when no other worker fuzzes, or when the targets left cost more than its
        start-up (FUZZ_START_UP). Otherwise the worker already fuzzing runs them while this one
        stops: a rule worker that took the last few small targets spent longer starting to fuzz
        than the targets took (~1 CPU-s more in each `-n auto` run on 2 cores)."""
        others = [n for n in self.fuzzed if n is not node and n in self.assigned_work]
        left = sum(fuzz_cost(s) for s in self.lanes[0] if s in self.workqueue)
        return joins_fuzzing(node in self.fuzzed, any(not n.shutting_down for n in others), left)

    def _assign_work_unit(self, node: Any) -> None:
        """The next unit with a test left to run. A crashed worker's units come back whole, the
        ones it finished too (xdist's ``remove_node``): handed out, such a unit would leave the
        worker waiting for a test that never comes, and the run hung. Once nothing is left the
        worker is told to shut down, as ``_reschedule`` would."""
        while self.workqueue:
            scope = self._next_scope(node)
            if scope is None:
                break
            if is_fuzz(scope):
                self.fuzzed.add(node)
            work_unit = self.workqueue.pop(scope)
            indexes = [self.position[nodeid] for nodeid, done in work_unit.items() if not done]
            if not indexes:
                continue
            self.assigned_work.setdefault(node, {})[scope] = work_unit
            self.pending[node] = self.pending.get(node, 0) + len(indexes)
            node.send_runtest_some(indexes)
            return
        node.shutdown()

    def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None:
        nodeid = self.registered_collections[node][item_index]
        self.assigned_work[node][self._split_scope(nodeid)][nodeid] = True
        self.pending[node] -= 1
        self._reschedule(node)

    def _reschedule(self, node: Any) -> None:
        """As xdist: one more unit once a worker holds two tests or fewer. And, unlike xdist, more
        until it holds two, or is told to shut down once nothing is left: a worker runs a test
        only once it knows the next one, so one handed a last unit of one test (a crashed
        worker's replacement) waited for ever."""
        if node.shutting_down:
            return
        if self.workqueue and self.pending[node] <= 2:
            self._assign_work_unit(node)
            while self.workqueue and self.pending[node] < 2 and not node.shutting_down:
                self._assign_work_unit(node)
        if not self.workqueue and not node.shutting_down:
            node.shutdown()

    @property
    def tests_finished(self) -> bool:
        if not self.collection_is_completed or self.workqueue:
            return False
        return all(count < 2 for count in self.pending.values())

    @property
    def has_pending(self) -> bool:
        return bool(self.workqueue) or any(count > 0 for count in self.pending.values())


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> LaneScheduling | None:
    """Only for ``--dist loadgroup`` (what `pixelproof run -n N` asks for); other modes stay
    xdist's own."""
    if config.getvalue("dist") != "loadgroup":
        return None
    return LaneScheduling(config, log)


def probe_groups(cases: list[Case]) -> dict[str, str]:
    """Probe key -> its xdist group, so each distinct request is sent once per run.

    Cases that share any probe must run on one worker: a group is a connected component of
    the cases-share-a-probe graph over ``cases``, every case the profile makes (the session's
    plan: the same on every worker, set as a mark when tests are generated, before xdist reads
    it)."""
    return key_components([p.key for p in case.probes] for case in cases)


def scope_of(item: pytest.Item) -> str:
    """An item's unit: its xdist group (cases that share a request), else the test alone."""
    for mark in item.iter_markers("xdist_group"):
        name = mark.args[0] if mark.args else mark.kwargs.get("name", "default")
        return f"@{name}"
    return item.nodeid


class Dispatcher:
    """`pixelproof run -n N`'s side of the same policy (lanes.py): which unit each of its forked
    workers runs next, in ``lanes_of``'s lanes, joining the fuzz lane as ``joins_fuzzing`` says,
    and a dead worker's unbegun tests (``returned``) last."""

    def __init__(self, items: list[pytest.Item], workers: int) -> None:
        self.units: dict[str, list[int]] = {}
        for index, item in enumerate(items):
            self.units.setdefault(scope_of(item), []).append(index)
        sizes = {scope: len(indexes) for scope, indexes in self.units.items()}
        self.fuzz, self.rules = lanes_of(sizes)
        self.fuzz_first = workers > 1  # worker 0, where another carries the rule cases
        self.returned: deque[list[int]] = deque()  # a dead worker's tests it had not begun
        self.fuzzing: set[int] = set()  # workers that took a fuzz target
        self.stopped = False

    def take(self, worker: int, alive: set[int]) -> list[int]:
        """The next unit's test indexes for ``worker`` (empty: it is done)."""
        if self.stopped:
            return []
        lanes = (
            (self.fuzz, self.rules) if self.fuzz_first and worker == 0 else (self.rules, self.fuzz)
        )
        for lane in lanes:
            if not lane:
                continue
            if lane is self.fuzz:
                others = any(w in alive for w in self.fuzzing if w != worker)
                left = sum(_fuzz_cost(scope) for scope in lane)
                if not joins_fuzzing(worker in self.fuzzing, others, left):
                    continue  # the worker already fuzzing runs them (schedule.joins_fuzzing)
                self.fuzzing.add(worker)
            return self.units[lane.popleft()]
        return self.returned.popleft() if self.returned else []

    def left(self) -> bool:
        return not self.stopped and bool(self.fuzz or self.rules or self.returned)


def _fuzz_cost(scope: str) -> float:
    return fuzz_cost(scope) if is_fuzz(scope) else 0.0
