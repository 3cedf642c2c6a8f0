"""Fuzzing ahead (pixelproof.ahead): a serial run on the embedded stack fuzzes in a thread while
the rule cases run, and reports exactly what fuzzing inside each test reported."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from conftest import pixelproof_inprocess
from pixelproof.ahead import FuzzAhead, fuzz_last, plan


class _Session:
    def __init__(self) -> None:
        self.closed = 0


def _target(name: str) -> Any:
    return SimpleNamespace(id=name)


def _ahead(names: list[str], run: Any, make: Any = _Session) -> tuple[FuzzAhead, list[Any]]:
    closed: list[Any] = []
    return FuzzAhead([_target(n) for n in names], make, run, closed.append), closed


def test_targets_run_in_order_in_one_other_thread_and_each_test_gets_its_result() -> None:
    seen: list[tuple[str, str]] = []

    def run(session: _Session, target: Any) -> str:
        seen.append((target.id, threading.current_thread().name))
        return f"result of {target.id}"

    ahead, closed = _ahead(["a", "b", "c"], run)
    ahead.start()
    assert [ahead.result(_target(n)) for n in "abc"] == [
        "result of a",
        "result of b",
        "result of c",
    ]
    assert [name for name, _ in seen] == ["a", "b", "c"]
    assert {thread for _, thread in seen} == {"pixelproof-fuzz"}
    ahead.stop()
    assert len(closed) == 1  # the session, once the thread is done


def test_what_a_target_raised_is_raised_by_its_test_and_the_next_targets_still_run() -> None:
    def run(session: _Session, target: Any) -> str:
        if target.id == "b":
            raise ConnectionError("no answer")
        return target.id

    ahead, _ = _ahead(["a", "b", "c"], run)
    assert ahead.result(_target("a")) == "a"  # started by the first test that needs it
    with pytest.raises(ConnectionError, match="no answer"):
        ahead.result(_target("b"))
    assert ahead.result(_target("c")) == "c"
    ahead.stop()


def test_a_session_that_cannot_be_built_is_each_targets_error() -> None:
    def broken() -> Any:
        raise RuntimeError("contract unreadable")

    ahead, closed = _ahead(["a", "b"], lambda s, t: t.id, broken)
    ahead.start()
    for name in "ab":
        with pytest.raises(RuntimeError, match="contract unreadable"):
            ahead.result(_target(name))
    ahead.stop()
    assert closed == []


def test_stopping_cancels_targets_not_begun_and_cuts_the_running_one_short() -> None:
    """An interrupted run: the target running when the session ends is cut short by closing its
    session; the ones after it never send anything."""
    running, release = threading.Event(), threading.Event()
    ran: list[str] = []

    def run(session: _Session, target: Any) -> str:
        ran.append(target.id)
        running.set()
        release.wait(10)
        return target.id

    closed: list[Any] = []

    def close(session: _Session) -> None:
        closed.append(session)
        release.set()  # what closing a FuzzSession's clients does to the request in flight

    ahead = FuzzAhead([_target("a"), _target("b")], _Session, run, close)
    ahead.start()
    assert running.wait(10)
    ahead.stop()
    assert ran == ["a"]
    assert ahead.futures["b"].cancelled()
    assert closed  # closed while "a" ran: without it stop() would wait the 10 s out


def _item(fuzz: bool, allowance: int = 5, name: str = "") -> Any:
    target = SimpleNamespace(id=name, allowance=allowance)
    return SimpleNamespace(
        name=name,
        callspec=SimpleNamespace(params={"fuzzed": target} if fuzz else {}),
        get_closest_marker=lambda name, fuzz=fuzz: (
            "mark" if fuzz and name == "pixelproof_fuzz" else None
        ),
    )


def test_fuzz_tests_move_to_the_end_and_the_rest_keep_their_order() -> None:
    items = [_item(False, name="r1"), _item(True, name="f1"), _item(False, name="r2"),
             _item(True, name="f2")]  # fmt: skip
    fuzz_last(items)
    assert [i.name for i in items] == ["r1", "r2", "f1", "f2"]


@pytest.mark.parametrize(
    ("stack", "worker", "maxfail", "wanted"),
    [
        (object(), False, 0, True),
        (None, False, 0, False),  # a target of the user's: a request not sent stays unsent
        (object(), True, 0, False),  # an xdist worker: its share of targets is not known ahead
        (object(), False, 1, False),  # -x: nothing past the first failure
    ],
)
def test_only_a_serial_run_on_the_embedded_stack_fuzzes_ahead(
    stack: Any, worker: bool, maxfail: int, wanted: bool
) -> None:
    config = SimpleNamespace(
        option=SimpleNamespace(maxfail=maxfail), getoption=lambda name: "deterministic"
    )
    if worker:
        config.workerinput = {}
    pp = SimpleNamespace(stack=stack)
    items = [
        _item(False, name="r"),
        _item(True, name="f", allowance=3),
        _item(True, name="none", allowance=0),
    ]
    ahead = plan(config, items, pp)
    assert (ahead is not None) == wanted
    if ahead is not None:
        assert [t.id for t in ahead.targets] == ["f"]  # a target with no allowance is skipped


def _outcomes(report: Path) -> dict[str, tuple[str, Any]]:
    data = json.loads((report / "run.json").read_text())
    return {o["case"]: (o["outcome"], o["requests"]) for o in data["outcomes"]}


def _targeted(report: Path) -> list[str]:
    """The findings of fuzzing's targeted families (each one case the runner builds itself)."""
    data = json.loads((report / "run.json").read_text())
    lines = [line for o in data["outcomes"] for line in o["message"].splitlines()]
    return sorted(line.strip() for line in lines if line.strip().startswith("case: targeted:"))


def test_a_run_fuzzing_ahead_reports_what_fuzzing_in_each_test_reported(tmp_path: Path) -> None:
    """The same run twice on a stack whose fuzzing finds a broken promise: fuzzing ahead, and in
    each test (``--maxfail`` turns fuzzing ahead off). Same outcomes, same requests per case, the
    same findings of the targeted families. (Not compared here: the cases schemathesis draws. In
    a process of their own, two such runs sent the same cases, but Hypothesis also draws
    constants from the modules the process has imported, and this test's process imports more
    between two runs nested in it.)"""
    common = ["run", "--fault", "bad-ratio-500", "--rules", "fuzz.tasks-action.*", "--rules",
              "size.gpt-image-2.1:1", "--fuzz", "negative", "--fuzz-budget", "30", "--report-dir", str(tmp_path)]  # fmt: skip
    ahead = pixelproof_inprocess(*common, "--run-id", "ahead")
    inline = pixelproof_inprocess(*common, "--run-id", "inline", "--", "--maxfail", "1000")
    assert ahead.returncode == inline.returncode == 1, ahead.stdout[-2000:] + inline.stdout[-2000:]
    assert _outcomes(tmp_path / "ahead") == _outcomes(tmp_path / "inline")
    assert (
        _targeted(tmp_path / "ahead")
        == _targeted(tmp_path / "inline")
        == ["case: targeted: aspect_ratio = '7:5'"]
    )
    failed = [
        case for case, (outcome, _) in _outcomes(tmp_path / "ahead").items() if outcome == "failed"
    ]
    assert failed == ["tasks-action POST /v1/images/generations negative"]
