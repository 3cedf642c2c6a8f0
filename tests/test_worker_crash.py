"""A `run -n N` whose worker dies in the middle of a case: the case is an error naming the worker,
the command exits 3 (only errors: the harness could not observe), and run.json, junit.xml and
summary.md say the same; the case is not run again, so its request is sent once.

The worker really dies (kill_worker.py: ``os._exit`` in the case's call phase, after its request
was sent and before any report), once: a replacement that ran the case again would see it pass.
Before crashed.py, xdist's report of the case (failed, no rule attached) made the command exit 1
while run.json, left without the case, said exit 0 and summary.md "all documented promises kept";
and xdist's ``loadgroup`` gave the case to the replacement worker, which sent its request again.
The run's workers are forked from its session now (pixelproof/lanes.py), with the same promises.

The command runs in this process (conftest.pixelproof_inprocess), its workers are forked from it;
``-n 1`` is the fewest workers that crash and get replaced (two workers start: the first and its
replacement, and one more for each further kill). Kills whose runs can agree on every assertion
share a run."""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import pixelproof_inprocess, recorded, stack_keyed_in_env, stack_profile_file
from pixelproof.mock.faults import FAULT_HEADER
from pixelproof.mock.server import Stack

KEY_ENV = "PP_CRASH_KEY"
KEY = "pp-crash-key-0123456789abcdef"
CRASH_WORDS = re.compile(r"crashed (while running this case|in this case's teardown)")
KILLED = "size.gpt-image-2.1:1"  # the six size.gpt-image-2.* cases: this one's worker dies
REPORTED = "size.gpt-image-2.9:16"  # ... and this one's after it was reported whole


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with stack_keyed_in_env(KEY_ENV, KEY) as running:
        yield running


def _run_killing_workers(
    stack: Stack,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *extra: str,
    kills: tuple[tuple[str, str], ...] = (("call", f"[{KILLED}]"),),
    level: str | None = None,
    fault: str | None = None,
    rules: str = "size.gpt-image-2.*",
    code: int = 3,
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """`run -n 1` of the six size.gpt-image-2.* cases (or ``rules``), whose worker dies once per
    ``kills`` entry (phase, a test id's part: kill_worker.py), the gateway given ``fault`` by
    header."""
    update = {"level": level} if level is not None else {}
    update |= {"headers": {FAULT_HEADER: fault}} if fault is not None else {}
    target = stack_profile_file(stack, KEY_ENV, tmp_path / "stack.json", **update)
    (marks := tmp_path / "killed").mkdir()
    monkeypatch.setenv("PP_KILL_WORKER_AT", json.dumps(kills))
    monkeypatch.setenv("PP_KILL_WORKER_MARKS", str(marks))
    done = pixelproof_inprocess(
        "run", "--target", str(target), "-n", "1", "--rules", rules, "--fuzz", "off",
        "--report-dir", str(tmp_path), "--run-id", "crash", "--", "-p", "kill_worker", *extra,
    )  # fmt: skip
    died = sorted(int(p.name) for p in marks.iterdir())
    assert died == list(range(len(kills))), f"killed {died} of {kills}: the test proves nothing"
    assert done.returncode == code, done.stdout[-3000:] + done.stderr[-2000:]
    crashed = sum(phase != "logfinish" for phase, _ in kills)
    _allure_agrees_with_junit(tmp_path / "crash", crashed=crashed)
    return done, json.loads((tmp_path / "crash" / "run.json").read_text())


def _allure_agrees_with_junit(run_dir: Path, crashed: int = 1) -> None:
    """One Allure result per junit test case, with the same status: the crashed case and the
    cases never run are written by the controller, the dead worker's finished ones before it
    died (they were lost in its write buffer)."""
    junit = Counter()
    for case in ET.parse(run_dir / "junit.xml").getroot().iter("testcase"):
        found = [c.tag for c in case if c.tag in ("error", "failure", "skipped")]
        junit[
            {"error": "broken", "failure": "failed"}.get(found[0], found[0]) if found else "passed"
        ] += 1
    results = [
        json.loads(p.read_text()) for p in (run_dir / "allure-results").glob("*-result.json")
    ]
    assert Counter(r["status"] for r in results) == junit, [
        (r["name"], r["status"]) for r in results
    ]
    names = [r["name"] for r in results]
    assert len(names) == len(set(names)), names  # no test twice
    history = [r["historyId"] for r in results]  # Allure shows a repeated one as a retry
    assert len(history) == len(set(history)), sorted(zip(history, names, strict=True))
    by_controller = [r for r in results if CRASH_WORDS.search(str(r.get("statusDetails")))]
    assert len(by_controller) == crashed, by_controller


def test_a_worker_dying_in_a_case_makes_it_an_error_everywhere_and_one_dying_after_a_case_none(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The case whose worker dies in its call is an error everywhere and is not sent again. The
    replacement worker dies too, after every report of REPORTED reached the command (in the
    test's last hook): no error for a case that passed, no second report of it (one run for
    both)."""
    _, run = _run_killing_workers(
        stack, tmp_path, monkeypatch,
        kills=(("call", f"[{KILLED}]"), ("logfinish", f"[{REPORTED}]")),
    )  # fmt: skip
    assert (run["exit_code"], run["run_exit_code"]) == (3, 3)
    outcomes = {o["case"]: o for o in run["outcomes"]}
    assert len(outcomes) == 6
    assert {c: o["outcome"] for c, o in outcomes.items() if c != KILLED} == dict.fromkeys(
        set(outcomes) - {KILLED}, "passed"
    )
    killed = outcomes[KILLED]
    assert (killed["outcome"], killed["rule"], killed["surface"]) == ("error", KILLED, "unified")
    assert "worker gw0 crashed while running this case" in killed["message"]
    assert "not observed" in killed["message"]
    # junit.xml: an error for that case, nothing failed
    suite = ET.parse(tmp_path / "crash" / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("errors"), suite.get("failures")) == ("1", "0")
    [case] = [c for c in suite.iter("testcase") if f"[{KILLED}]" in (c.get("name") or "")]
    assert case.find("failure") is None
    error = case.find("error")
    assert error is not None
    assert "crashed" in (error.get("message") or "")
    names = [(c.get("classname"), c.get("name")) for c in suite.iter("testcase")]
    assert len(names) == len(set(names)) == 7, names  # six cases and the profile check, once each
    summary = (tmp_path / "crash" / "summary.md").read_text()
    assert "kept" not in summary.splitlines()[0]
    # the dead worker's request for the case is nowhere in the counts: the reports say so
    assert run["requests_uncounted"] == [KILLED]
    assert run["requests_sent"] == 5, run["requests_sent"]  # the five other cases, one each
    assert (
        f"at least {run['requests_sent']} requests, {run['images_bought']} images (not counted: those of 1 case(s)"
        in summary
    )
    assert f"**error** `{KILLED}`" in summary
    # its request (1024x1024) was sent once, by the worker that died; not again by its replacement
    sent = [
        r for r in recorded(stack.gateway.url) if (r.get("json") or {}).get("size") == "1024x1024"
    ]
    assert len(sent) == 1, sent


def test_cases_left_unrun_are_errors_unless_unclaimed_and_a_crashed_profile_check_is_one_too(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no worker restart left (here none: ``--max-worker-restart 0``; by default four per
    worker) the run stops handing out work after a crash: the cases it never ran were not observed.
    They were left out of run.json, which then judged a part of the run as if it were all. A case
    the target does not claim is never sent, whoever runs it: left unrun it is still not claimed.
    The crash here is in a profile check (the waivers' expiry), no rule case: it was pytest's bare
    failure, so the command exited 1 ("a profile check failed") while run.json said 0 and
    summary.md "kept"."""
    _, run = _run_killing_workers(
        stack, tmp_path, monkeypatch, "--max-worker-restart", "0",
        kills=(("call", "test_waivers_not_expired"),), level="openai-images",
    )  # fmt: skip
    assert (run["exit_code"], run["run_exit_code"]) == (3, 3)
    outcomes = {o["case"]: o for o in run["outcomes"]}
    crashed = outcomes["test_waivers_not_expired"]
    assert crashed["outcome"] == "error", crashed
    assert "crashed while running this case" in crashed["message"]
    # the rules table puts these two ratios at the unified-gateway level only
    unclaimed = {c: outcomes[c] for c in ("size.gpt-image-2.16:9", "size.gpt-image-2.9:16")}
    assert {c: o["outcome"] for c, o in unclaimed.items()} == dict.fromkeys(
        unclaimed, "not-claimed"
    )
    assert len(outcomes) == 7  # every planned case is in the report, and the check
    unrun = {c: o for c, o in outcomes.items() if o["message"].startswith("not run: ")}
    assert len(unrun) == 4, outcomes  # the claimed four: the crash came first (-n 1, profile first)
    for case, outcome in unrun.items():
        assert outcome["outcome"] == "error", case
        assert outcome["message"].startswith("not run: the run stopped after 1 worker(s) crashed")
        assert (outcome["rule"], outcome["surface"]) == (case, "unified")
    assert "kept" not in (tmp_path / "crash" / "summary.md").read_text().splitlines()[0]


def test_a_broken_promise_seen_whole_stays_broken_when_the_worker_dies_in_its_teardown(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The call reported the broken promise; the worker died after it. The crash's error replaced
    the failure: exit 3 and 'errors only: no promise broken' for a promise seen broken. The case
    is the run's last (its only one): no worker replaces the dead one (``--max-worker-restart
    0``), as none has anything left to run. That a case reported whole is not run again by a replacement
    is the first test's logfinish kill."""
    case = "size.gpt-image-2.4:3"  # the gateway ignores sizes: 1024x1024 for 4:3
    _, run = _run_killing_workers(
        stack, tmp_path, monkeypatch, "--max-worker-restart", "0",
        kills=(("teardown", f"[{case}]"),), fault="size-ignored", rules=case, code=1,
    )  # fmt: skip
    assert (run["exit_code"], run["run_exit_code"]) == (1, 1)
    [outcome] = [o for o in run["outcomes"] if o["case"] == case]
    assert outcome["outcome"] == "failed", outcome
    assert "1024x1024" in outcome["message"], outcome["message"]
    results = (tmp_path / "crash").glob("allure-results/*-result.json")
    allure = [json.loads(p.read_text()) for p in results]
    assert [r["status"] for r in allure if case in r["name"]] == ["failed"], allure


def test_cases_a_dead_worker_observed_ahead_are_errors_and_never_sent_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against the embedded stack a worker observes the cases it holds ahead of their tests, in a
    thread (pixelproof.lane_worker, AHEAD). When it dies, those whose requests it began to send are
    errors like the case it died in: handed to its replacement they were sent again and counted
    once (run.json said 23 requests where 26 were sent). The run is the embedded one (no
    --target: observing ahead is for the built-in stack only); every request is counted as it
    is sent, in whichever process (count_probes.py)."""
    (marks := tmp_path / "killed").mkdir()
    monkeypatch.setenv("PP_KILL_WORKER_AT", json.dumps([["call", f"[{KILLED}]"]]))
    monkeypatch.setenv("PP_KILL_WORKER_MARKS", str(marks))
    monkeypatch.setenv("PP_COUNT_PROBES", str(sent := tmp_path / "sent.txt"))
    done = pixelproof_inprocess(
        "run", "-n", "1", "--rules", "size.gpt-image-2.*", "--fuzz", "off",
        "--report-dir", str(tmp_path), "--run-id", "ahead", "--",
        "-p", "kill_worker", "-p", "count_probes",
    )  # fmt: skip
    assert [p.name for p in marks.iterdir()] == ["0"], "the worker was not killed"
    assert done.returncode == 3, done.stdout[-3000:] + done.stderr[-2000:]
    keys = sent.read_text().split()
    assert len(keys) == len(set(keys)) > 0, f"requests sent twice: {sorted(keys)}"
    run = json.loads((tmp_path / "ahead" / "run.json").read_text())
    outcomes = {o["case"]: o for o in run["outcomes"] if o["kind"] != "profile"}
    errors = sorted(c for c, o in outcomes.items() if o["outcome"] == "error")
    assert KILLED in errors
    assert {o["outcome"] for c, o in outcomes.items() if c not in errors} <= {"passed"}
    for case in errors:
        assert "worker gw0 crashed" in outcomes[case]["message"], outcomes[case]
    assert sorted(run["requests_uncounted"]) == errors  # their requests went uncounted
    assert run["requests_sent"] == sum(o["requests"] or 0 for o in outcomes.values())
    assert run["requests_sent"] < len(keys)  # ... and the errors' were sent


def test_a_worker_dying_after_its_only_case_was_reported_whole_leaves_the_run_kept(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every report of the case reached the controller, then the worker died: nothing of the
    run is missing, so the run is kept, exit 0 (the first test's run exits 3 for its other kill,
    and could not show a crash that turned a kept run into a failed or errored one)."""
    _, run = _run_killing_workers(
        stack, tmp_path, monkeypatch, "--max-worker-restart", "0",
        kills=(("logfinish", f"[{REPORTED}]"),), rules=REPORTED, code=0,
    )  # fmt: skip
    assert (run["exit_code"], run["run_exit_code"]) == (0, 0)
    assert [o["outcome"] for o in run["outcomes"] if o["case"] == REPORTED] == ["passed"]
    assert "kept" in (tmp_path / "crash" / "summary.md").read_text().splitlines()[0]
