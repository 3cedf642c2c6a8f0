"""Whole runs stay bounded and classified alike in the suites and in fuzzing: a surface that stops
answering is cut off by the breaker (fuzz included) after ``breaker_after`` requests; a JSON
``null`` is JSON and a 100k-deep answer is judged without a traceback; a report dir that is a
file is a one-line usage error.

The runs are in this process (conftest.pixelproof_inprocess). Where memory is the point (fuzzing
reads no body past the cap) the run's peak memory is what this process's RSS rose by during it
(hostile.rss_growth), bounded as in test_broken_targets."""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import pytest

import hostile
from conftest import pixelproof_inprocess
from pixelproof import session
from pixelproof.deadline import Guard
from test_broken_targets import PEAK_GROWTH_MB

posts: list[bytes] = []


def _answer_get(sock: object) -> None:
    hostile.read_request(sock)  # type: ignore[arg-type]
    sock.sendall(hostile.answer(200, b"{}"))  # type: ignore[attr-defined]


def _hang_post(sock: object) -> None:
    posts.append(hostile.read_request(sock))  # type: ignore[arg-type]
    hostile.time.sleep(30)


def _profile(
    tmp: Path, url: str, models: tuple[str, ...] = ("gpt-image-2",), **extra: object
) -> Path:
    profile = {"name": "bounds", "surfaces": {"unified": {"base_url": url, "models": list(models)}},
               "timeout_s": 1, **extra}  # fmt: skip
    path = tmp / "p.yaml"
    path.write_text(json.dumps(profile))
    return path


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process runs start where a child did: in the test's own directory."""
    monkeypatch.chdir(tmp_path)


def _run(tmp: Path, profile: Path, *extra: str) -> tuple[int, float, dict[str, object], str]:
    """``pixelproof run`` in this process: (exit code, wall seconds, run.json, its output)."""
    rules = [] if "edits.alias" in extra else ["--rules", "size.gpt-image-2.1:1"]
    args = ["run", "--target", str(profile), *rules, "--report-dir", str(tmp), "--run-id", "r",
            *extra]  # fmt: skip
    started = time.monotonic()
    done = pixelproof_inprocess(*args)
    wall = time.monotonic() - started
    run = json.loads((tmp / "r" / "run.json").read_text())
    return done.returncode, wall, run, done.stderr + done.stdout


def test_breaker_stops_suites_and_fuzzing_after_consecutive_timeouts(tmp_path: Path) -> None:
    """A fuzz budget of 6 (was 40) still sends fuzz requests after the breaker opens: without a
    breaker this run sends 7 POSTs (measured), so more fuzzing proves nothing more, at ~5 CPU-s."""
    posts.clear()
    with hostile.serve(hostile.by_method(_answer_get, _hang_post)) as url:
        code, wall, run, text = _run(tmp_path, _profile(tmp_path, url, breaker_after=2),
                                     "--rules", "fuzz.unified.*", "--fuzz", "negative",
                                     "--fuzz-budget", "6")  # fmt: skip
    assert code == 3, text[-2000:]
    assert len(posts) <= 2, f"{len(posts)} requests reached a surface the breaker had stopped"
    outcomes = run["outcomes"]
    assert any(o["kind"] == "fuzz" for o in outcomes)
    assert all(o["outcome"] == "error" for o in outcomes), outcomes
    stopped = [
        o for o in outcomes if "not sent: unified gave no answer 2 times in a row" in o["message"]
    ]
    assert stopped, [o["message"][-300:] for o in outcomes]
    assert "first: timed out" in stopped[0]["message"]
    assert wall < 120


def _answer(body: bytes) -> hostile.Behaviour:
    return hostile.status(200, body)


def test_json_null_is_judged_as_json(tmp_path: Path) -> None:
    with hostile.serve(_answer(b"null")) as url:
        code, _, run, text = _run(tmp_path, _profile(tmp_path, url), "--fuzz", "off")
    assert code in (1, 3), text[-2000:]
    for outcome in run["outcomes"]:
        assert outcome["outcome"] != "passed"
        assert "not valid JSON" not in outcome["message"]
        assert "not JSON" not in outcome["message"]


def test_a_100k_deep_answer_is_judged_without_a_traceback(tmp_path: Path) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    with hostile.serve(_answer(deep)) as url:
        code, _, run, text = _run(tmp_path, _profile(tmp_path, url), "--rules", "fuzz.unified.*",
                                  "--fuzz", "negative", "--fuzz-budget", "6")  # fmt: skip
    assert code in (1, 3), text[-2000:]
    assert run["outcomes"]
    for outcome in run["outcomes"]:
        assert outcome["outcome"] in ("failed", "error")
        assert "RecursionError" not in outcome["message"]
        assert "Traceback" not in outcome["message"]
    assert "RecursionError" not in text


def test_report_dir_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "reports"
    blocker.write_text("not a directory")
    done = pixelproof_inprocess("run", "--report-dir", str(blocker), "--fuzz", "off")
    code, text = done.returncode, done.stdout + done.stderr
    assert code == 2
    assert f"--report-dir {blocker}: {blocker} is a file, not a directory" in text
    assert "Traceback" not in text


def test_a_redirect_loop_is_a_failure_in_the_suites_and_in_fuzzing(tmp_path: Path) -> None:
    with hostile.serve(hostile.redirect_loop) as url:
        code, _, run, text = _run(tmp_path, _profile(tmp_path, url), "--rules", "fuzz.unified.*",
                                  "--fuzz", "negative", "--fuzz-budget", "6")  # fmt: skip
    assert code == 1, text[-2000:]
    kinds = {o["kind"] for o in run["outcomes"]}
    assert {"fuzz", "size"} <= kinds
    for outcome in run["outcomes"]:
        assert outcome["outcome"] == "failed", outcome["message"][-500:]
        assert "302" in outcome["message"]


RUN_TIMEOUT_S = 600  # never reached in real time: the run's clock jumps instead
JUMP_S = RUN_TIMEOUT_S / 2
jumped = [0.0]


def _jumping_answer(sock: object) -> None:
    """Every API call moves the run's clock half the run deadline on and answers a 400 (GETs
    answer at once and move nothing, so the preflight passes): two calls use up the deadline."""
    head = hostile.read_request(sock)  # type: ignore[arg-type]
    if not head.startswith(b"GET "):
        jumped[0] += JUMP_S
    sock.sendall(hostile.answer(400, b'{"error": {"message": "no"}}'))  # type: ignore[attr-defined]


def test_run_deadline_turns_the_remaining_cases_into_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fake clock instead of a slow target: the run's guard reads real time plus the jumps,
    so the deadline passes after exactly two answered calls however loaded the machine is."""
    jumped[0] = 0.0
    clock = lambda: time.monotonic() + jumped[0]  # noqa: E731
    monkeypatch.setattr(session, "Guard", functools.partial(Guard, clock=clock))
    with hostile.serve(_jumping_answer) as url:
        profile = _profile(tmp_path, url, run_timeout_s=RUN_TIMEOUT_S, timeout_s=30)
        code, wall, run, text = _run(tmp_path, profile, "--rules", "size.gpt-image-2.*",
                                     "--fuzz", "off")  # fmt: skip
    outcomes = run["outcomes"]
    assert len(outcomes) == 6, text[-2000:]
    late = [
        o for o in outcomes
        if f"not sent: the run deadline passed (run_timeout_s={RUN_TIMEOUT_S})" in o["message"]
    ]  # fmt: skip
    assert len(late) == 4, [o["message"][-200:] for o in outcomes]
    assert all(o["outcome"] == "error" for o in late)
    assert code in (1, 3)
    assert wall < 120


def test_fuzzing_reads_no_body_past_the_cap(tmp_path: Path) -> None:
    with hostile.serve(hostile.huge_chunked(300 * 1024 * 1024)) as url:
        args = ["run", "--target", str(_profile(tmp_path, url, timeout_s=30)), "--rules",
                "fuzz.unified.*", "--fuzz", "negative", "--fuzz-budget", "4",
                "--report-dir", str(tmp_path), "--run-id", "r"]  # fmt: skip
        with hostile.rss_growth() as growth:
            done = pixelproof_inprocess(*args)
    code, text = done.returncode, done.stderr + done.stdout
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    assert code == 3, text[-3000:]
    assert run["outcomes"], text[-3000:]
    for outcome in run["outcomes"]:
        assert outcome["outcome"] == "error", outcome["message"][-800:]
        assert "byte cap" in outcome["message"], outcome["message"][-800:]
    grown = growth()  # a cold worker's first fuzz run imports schemathesis in it: ~45 MB of it
    assert grown < PEAK_GROWTH_MB, f"the run's peak RSS grew by {grown:.0f} MB"


def test_edits_alias_does_not_pass_on_two_equal_refusals(tmp_path: Path) -> None:
    with hostile.serve(hostile.status(404, b'{"error": {"message": "no such route"}}')) as url:
        profile = _profile(tmp_path, url, models=("gpt-image-1",))
        code, _, run, text = _run(tmp_path, profile, "--rules", "edits.alias",
                                  "--fuzz", "off")  # fmt: skip
    alias = [o for o in run["outcomes"] if o["rule"] == "edits.alias"]
    assert alias, text[-2000:]
    assert all(o["outcome"] == "failed" for o in alias), [o["message"][-300:] for o in alias]
    assert "both answered 404" in alias[0]["message"]
    assert code == 1
