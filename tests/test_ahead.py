"""A serial run's rule cases observed ahead of their tests, in a thread of their own (ahead.py):
each test judges its own case's observation, sent in the run's order, exactly as one at a time."""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from _pytest.assertion.rewrite import AssertionRewritingHook

from conftest import pixelproof_inprocess
from pixelproof import ahead
from pixelproof.deadline import Guard

# tasks polled (a fault hides their failures: 7 cases fail), Jimeng's slow generations, and one
# fuzz target, which runs on the main thread meanwhile (schemathesis drawing with Hypothesis)
RULES = ["task.tasks-action.*", "ratio.jimeng-4.0.1:1*", "upstream.failure.tasks-action.*",
         "fuzz.tasks-action.getTask.positive"]  # fmt: skip
FIELDS = ("outcome", "requests", "images", "expected", "observed", "message")
# task ids, clock readings, request nonces, the stack's ports: new in each run
FRESH = re.compile(r'task_[0-9a-f]+|"created": \d+|pp:\S+-[0-9a-f]{6}\b|127\.0\.0\.1:\d+')


def _outcomes(report_dir: Path) -> dict[str, tuple[Any, ...]]:
    (run_json,) = report_dir.glob("*/run.json")
    data = json.loads(run_json.read_text())
    return {
        o["case"]: tuple(FRESH.sub("-", str(o[f])) for f in FIELDS) for o in data["outcomes"]
    } | {"requests_sent": data["requests_sent"]}


def test_cases_observed_ahead_are_judged_as_one_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    observing: list[str] = []  # the thread each case was observed in
    real_observe = ahead.observe_case

    def observe_case(observer: Any, case: Any) -> Any:
        observing.append(threading.current_thread().name)
        return real_observe(observer, case)

    rewritten: list[tuple[str, str]] = []  # modules pytest rewrote with ast: in which thread
    real_exec = AssertionRewritingHook.exec_module

    def exec_module(self: AssertionRewritingHook, module: Any) -> None:
        rewritten.append((threading.current_thread().name, module.__name__))
        real_exec(self, module)

    monkeypatch.setattr(ahead, "observe_case", observe_case)
    monkeypatch.setattr(AssertionRewritingHook, "exec_module", exec_module)
    runs, threads = {}, {}
    for switch in ("1", "0"):  # ahead first: nothing observing imports is imported yet
        monkeypatch.setenv(ahead.SWITCH, switch)
        observing.clear()
        args = [a for r in RULES for a in ("--rules", r)]
        result = pixelproof_inprocess("run", *args, "--fault", "task-failure-hidden",
                                      "--report-dir", str(tmp_path / switch), "--run-id", "ahead",
                                      "--", "--pixelproof-fuzz-budget", "12")  # fmt: skip
        assert result.returncode == 1, result.stdout[-2000:]
        runs[switch], threads[switch] = _outcomes(tmp_path / switch), set(observing)
    assert threads == {"0": {"MainThread"}, "1": {ahead.THREAD}}
    assert runs["1"] == runs["0"]
    assert sum(o[0] == "failed" for k, o in runs["1"].items() if k != "requests_sent") == 7
    assert not [m for t, m in rewritten if t == ahead.THREAD]


class _Counting:
    requests_sent = images_sent = 0


def _fake_observation(monkeypatch: pytest.MonkeyPatch, script: dict[str, Any]) -> list[str]:
    """observe_case replaced: each case ``name`` sends len(name) requests and one image, then
    returns or raises what ``script`` says (a callable is called first)."""
    seen: list[str] = []

    def observe_case(observer: _Counting, case: SimpleNamespace) -> Any:
        seen.append(f"{case.name}@{threading.current_thread().name}")
        observer.requests_sent += len(case.name)
        observer.images_sent += 1
        outcome = script[case.name]
        if callable(outcome):
            outcome = outcome()
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    monkeypatch.setattr(ahead, "observe_case", observe_case)
    return seen


def test_each_case_gets_its_own_observation_made_ahead_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    last_done = threading.Event()
    broken = RuntimeError("target gone")
    seen = _fake_observation(monkeypatch, {"a": "ev-a", "bb": broken,
                                           "ccc": lambda: last_done.set() or "ev-ccc", "x": "ev-x"})  # fmt: skip
    a, bb, ccc, x = (SimpleNamespace(name=n) for n in ("a", "bb", "ccc", "x"))
    observer = _Counting()
    running = ahead.Ahead(observer, [a, bb, ccc]).start()  # type: ignore[arg-type]
    assert last_done.wait(30)  # all three observed before any test asked
    assert seen == [f"{n}@{ahead.THREAD}" for n in ("a", "bb", "ccc")]
    assert _ended(running)  # given all its cases at the start: none will come after them
    assert running.take(ccc) == ("ev-ccc", 3, 1)  # type: ignore[arg-type]
    assert running.take(a) == ("ev-a", 1, 1)  # type: ignore[arg-type]
    assert running.take(bb) == (broken, 2, 1)  # type: ignore[arg-type]
    assert running.take(x) == ("ev-x", 1, 1)  # type: ignore[arg-type]  (not given: here)
    assert seen[-1] == "x@MainThread"
    running.close()


def test_a_halted_ahead_leaves_the_rest_to_their_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    cases = [SimpleNamespace(name=n) for n in ("a", "bb", "ccc")]
    running: list[ahead.Ahead] = []
    in_a = threading.Event()
    seen = _fake_observation(monkeypatch, {"a": lambda: running[0].halt() or in_a.set() or "ev-a",
                                           "bb": "ev-bb", "ccc": "ev-ccc"})  # fmt: skip
    running.append(ahead.Ahead(_Counting(), cases))  # type: ignore[arg-type]
    running[0].start()
    assert in_a.wait(30)  # (a stop before the thread's first case would leave it nothing to do)
    running[0].stop()
    assert seen == [f"a@{ahead.THREAD}"]  # halted while observing "a": nothing after it
    assert [running[0].take(c)[0] for c in cases] == ["ev-a", "ev-bb", "ev-ccc"]  # type: ignore[arg-type]
    assert seen[1:] == ["bb@MainThread", "ccc@MainThread"]


@pytest.fixture
def observed_once_from(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Starts the interval at ``before``, observes one case (``observe``: what it does) in a
    serial run's Ahead until the thread ends; the process's interval is put back afterwards."""
    original = sys.getswitchinterval()

    def run(before: float, observe: Callable[[], Any]) -> None:
        _fake_observation(monkeypatch, {"a": observe})
        sys.setswitchinterval(before)
        cases = [SimpleNamespace(name="a")]
        running = ahead.Ahead(_Counting(), cases, switch_s=ahead.SWITCH_INTERVAL_S).start()  # type: ignore[arg-type]
        assert _ended(running)

    yield run
    sys.setswitchinterval(original)


@pytest.mark.parametrize(("before", "while_observing"), [(0.005, ahead.SWITCH_INTERVAL_S),
                                                         (0.0001, 0.0001)])  # fmt: skip
def test_the_gil_switch_interval_is_short_while_the_thread_observes(
    observed_once_from: Callable[..., None], before: float, while_observing: float
) -> None:
    """The main thread fuzzes on the CPU while the thread waits on answers: at CPython's 5 ms it
    got the GIL back late after each. Shorter while it observes (a shorter one set by the user
    kept), the interval before once it has ended."""
    intervals: list[float] = []
    observed_once_from(before, lambda: intervals.append(sys.getswitchinterval()) or "ev")
    assert intervals == [pytest.approx(while_observing, rel=0.02)]  # (kept in µs)
    assert sys.getswitchinterval() == pytest.approx(before, rel=0.02)


def test_an_interval_set_while_the_thread_observes_is_kept(
    observed_once_from: Callable[..., None],
) -> None:
    observed_once_from(0.005, lambda: sys.setswitchinterval(0.002) or "ev")
    assert sys.getswitchinterval() == pytest.approx(0.002, rel=0.02)  # not put back to 5 ms


WAIT = 5.0  # s: a wait no notify ends fails the test after this, instead of hanging the suite


class _Watched(threading.Condition):
    """An Ahead's condition that says when each named thread waits on it: a thread waiting is
    woken by a notify only (the Ahead's own waits have no timeout)."""

    def __init__(self, *names: str) -> None:
        super().__init__()
        self.waiting = {name: threading.Event() for name in names}

    def wait(self, timeout: float | None = None) -> bool:
        event = self.waiting.get(threading.current_thread().name)
        if event is not None:
            event.set()  # the lock still held: a notify after this is one the waiter needs
        return super().wait(timeout)


def _waiting_for_more(cases: list[Any], *names: str) -> tuple[ahead.Ahead, _Watched]:
    """A `run -n N` worker's Ahead (``more``), started with ``cases``, its condition watched."""
    running = ahead.Ahead(_Counting(), cases, more=True)  # type: ignore[arg-type]
    watched = running._ready = _Watched(ahead.THREAD, *names)
    return running.start(), watched


def _ended(running: ahead.Ahead) -> bool:
    """The thread ended (within ``WAIT``; ``stop`` would wait for ever)."""
    running._thread.join(WAIT)
    return not running._thread.is_alive()


def test_cases_extended_after_start_are_observed_in_order_and_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker extends its Ahead unit by unit: the thread, waiting with nothing left, wakes to
    observe each unit's cases after those before, and waits again."""
    seen = _fake_observation(monkeypatch, {"a": "ev-a", "bb": "ev-bb", "ccc": "ev-ccc"})
    a, bb, ccc = (SimpleNamespace(name=n) for n in ("a", "bb", "ccc"))
    running, watched = _waiting_for_more([])
    waiting = watched.waiting[ahead.THREAD]
    for unit in ([a, bb], [ccc]):
        assert waiting.wait(WAIT)  # nothing (left) to observe: waiting for more
        waiting.clear()
        running.extend(unit)  # type: ignore[arg-type]
    assert waiting.wait(WAIT)  # all three observed, and waiting for more
    assert seen == [f"{n}@{ahead.THREAD}" for n in ("a", "bb", "ccc")]
    assert running.take(bb) == ("ev-bb", 2, 1)  # type: ignore[arg-type]
    assert running.take(a) == ("ev-a", 1, 1)  # type: ignore[arg-type]
    assert running.take(ccc) == ("ev-ccc", 3, 1)  # type: ignore[arg-type]
    assert len(seen) == 3  # each handed over, none observed again
    running.halt()
    assert _ended(running)


def test_halt_wakes_an_ahead_waiting_for_more_cases(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker halts its Ahead when no unit is left: the thread waiting for more ends, and a case
    never given is observed in the caller's thread."""
    seen = _fake_observation(monkeypatch, {"x": "ev-x"})
    running, watched = _waiting_for_more([])
    assert watched.waiting[ahead.THREAD].wait(WAIT)
    running.halt()
    assert _ended(running)
    assert running.take(SimpleNamespace(name="x")) == ("ev-x", 1, 1)  # type: ignore[arg-type]
    assert seen == ["x@MainThread"]


def test_take_of_an_extended_case_waits_until_it_is_observed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The case's observation ends only once its taker waits for it: the taker got the thread's
    observation, none of its own."""
    running, watched = _waiting_for_more([], "taker")
    taker_waits = watched.waiting["taker"]
    seen = _fake_observation(monkeypatch, {"a": lambda: taker_waits.wait(WAIT) and "ev-a"})
    a = SimpleNamespace(name="a")
    took: list[ahead.Observed] = []
    taker = threading.Thread(target=lambda: took.append(running.take(a)), name="taker")  # type: ignore[arg-type]
    running.extend([a])  # type: ignore[list-item]
    taker.start()
    taker.join(WAIT)
    assert not taker.is_alive()
    assert took == [("ev-a", 1, 1)]
    assert seen == [f"a@{ahead.THREAD}"]
    running.halt()
    assert _ended(running)


def _session(option: dict[str, Any], worker: bool = False, xdist: bool = False) -> Any:
    defaults = {"maxfail": 0, "stepwise": False, "collectonly": False, "setupplan": False,
                "continue_on_collection_errors": False}  # fmt: skip
    config = SimpleNamespace(option=SimpleNamespace(**(defaults | option)),
                             pluginmanager=SimpleNamespace(has_plugin=lambda name: xdist))  # fmt: skip
    if worker:
        config.workerinput = {}
    return SimpleNamespace(config=config, items=[], testsfailed=0)


@pytest.mark.parametrize(
    ("option", "worker", "xdist", "clock_urls", "switch"),
    [
        ({"maxfail": 1}, False, False, ("http://127.0.0.1:1",), "1"),  # -x: later cases unsent
        ({"stepwise": True}, False, False, ("http://127.0.0.1:1",), "1"),
        ({"collectonly": True}, False, False, ("http://127.0.0.1:1",), "1"),
        ({"setupplan": True}, False, False, ("http://127.0.0.1:1",), "1"),
        ({}, True, False, ("http://127.0.0.1:1",), "1"),  # an xdist worker
        ({}, False, True, ("http://127.0.0.1:1",), "1"),  # the xdist controller
        ({}, False, False, (), "1"),  # a real target: one request at a time
        ({}, False, False, ("http://127.0.0.1:1",), "0"),  # switched off
    ],
)
def test_no_observing_ahead_where_the_run_is_not_plainly_serial(
    monkeypatch: pytest.MonkeyPatch, option: dict[str, Any], worker: bool, xdist: bool,
    clock_urls: tuple[str, ...], switch: str,
) -> None:  # fmt: skip
    monkeypatch.setenv(ahead.SWITCH, switch)
    session = _session(option, worker, xdist)
    pp = SimpleNamespace(clock_urls=clock_urls, observer=None)
    cases = [SimpleNamespace(name=n) for n in ("a", "b")]
    monkeypatch.setattr(ahead, "case_of", lambda item: item)
    session.items = cases
    monkeypatch.setattr(ahead, "lane_of", lambda pp: pytest.fail("an observer was made"))
    assert ahead.start(session, pp) is None


def test_a_lane_guard_shares_the_run_deadline_not_the_breakers() -> None:
    now = [100.0]
    guard = Guard(run_timeout_s=50, breaker_after=2, clock=lambda: now[0])
    lane = guard.lane()
    for _ in range(2):
        guard.record("unified", "refused")
    assert guard.refusal("unified") is not None
    assert lane.refusal("unified") is None  # its own breakers: still closed
    now[0] = 151.0
    assert lane.refusal("unified") is not None  # the same run deadline
    assert "deadline" in str(lane.refusal("unified"))


def test_a_plain_serial_run_on_the_embedded_stack_observes_ahead(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ahead.SWITCH, raising=False)
    _fake_observation(monkeypatch, {"a": "ev-a", "b": "ev-b"})
    session = _session({})
    session.items = [SimpleNamespace(name=n) for n in ("a", "b")]
    monkeypatch.setattr(ahead, "case_of", lambda item: item)
    observer = _Counting()
    monkeypatch.setattr(ahead, "lane_of", lambda pp: (observer, None))
    pp = SimpleNamespace(clock_urls=("http://127.0.0.1:1",), observer=None)
    running = ahead.start(session, pp)
    assert running is not None
    assert pp.observer is observer  # the session's observer is the lane's: one observer
    assert running.switch_s == ahead.SWITCH_INTERVAL_S  # beside the main thread's fuzzing
    assert running.take(session.items[1]) == ("ev-b", 1, 1)
    running.close()


def _item(case: Any, *marks: pytest.Mark) -> Any:
    """What ``case_of`` reads of a pytest item: its parameters and its marks."""
    config = SimpleNamespace(getini=lambda name: False)  # xfail_strict
    return SimpleNamespace(callspec=SimpleNamespace(params={"case": case}), config=config,
                           iter_markers=lambda name: [m for m in marks if m.name == name])  # fmt: skip


def test_only_cases_pytest_will_run_are_observed_ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    """A case pytest skips (skip, a true skipif) or does not run (xfail run=False) is never taken
    by its setup: observed ahead, its requests would count for no case (seen: requests_sent 6 -> 0
    with a plugin adding skipif(True) to the first of cases that share their probes)."""
    monkeypatch.setattr(ahead, "Case", SimpleNamespace)
    case = SimpleNamespace(name="c")
    run = [_item(case), _item(case, pytest.mark.xfail(reason="waived", raises=AssertionError).mark),
           _item(case, pytest.mark.skipif(False, reason="no").mark)]  # fmt: skip
    unrun = [_item(case, pytest.mark.skip(reason="unclaimed").mark),
             _item(case, pytest.mark.skipif(True, reason="by a plugin").mark),
             _item(case, pytest.mark.xfail(run=False, reason="not run").mark),
             _item("not a case")]  # fmt: skip
    assert [ahead.case_of(i) for i in run] == [case, case, case]
    assert [ahead.case_of(i) for i in unrun] == [None, None, None, None]
