"""An interrupted run never reads as passing: run.json records exit 130 and how far it got, and
summary.md, report.html and the terminal say "interrupted after N of M cases".

The runs go through the same ``main`` in this process (conftest.pixelproof_inprocess), where the
run installs its own SIGINT handler as in a child (tests run in the worker's main thread), and
interrupt_after raises the KeyboardInterrupt, or sends this process the real SIGINT, at a case
boundary of the nested session, so nothing reaches the outer one; a child's exit status is what
``main`` returns (``sys.exit(main())``). A SIGINT sent to a child from outside, and its exit
130, is test_run_cli's test_ctrl_c_still_writes_the_report. Four children here cost ~4.5 CPU-s.
Their target is the reference stack served by this module (``--target``): the same gateway and
mock as the default run, whose cases pass, so "kept" could only come from the interruption
being lost."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import pixelproof_inprocess, served_profile

KEY_ENV = "PIXELPROOF_INTERRUPT_KEY"
KEY = "pp-interrupt-key-0123456789"
RunCut = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A profile of the reference stack (as a run without --target builds), served here."""
    with served_profile(tmp_path_factory.mktemp("interrupt"), KEY_ENV, KEY) as path:
        yield path


@pytest.fixture
def run_cut(target: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunCut:
    """``pixelproof run`` of the six size.gpt-image-2.* cases with interrupt_after, in process."""

    def run(run_id: str, *workers: str, **env: str) -> subprocess.CompletedProcess[str]:
        for name, value in {**env, KEY_ENV: KEY}.items():
            monkeypatch.setenv(name, value)
        return pixelproof_inprocess(
            "run", "--target", str(target), "--rules", "size.gpt-image-2.*", "--fuzz", "off",
            "--report-dir", str(tmp_path), "--run-id", run_id, *workers,
            "--", "-p", "interrupt_after",
        )  # fmt: skip

    return run


@pytest.mark.parametrize("workers", [[], ["-n", "1"]], ids=["serial", "forked-worker"])
def test_interrupted_run_says_so_everywhere_and_exits_130(
    run_cut: RunCut, tmp_path: Path, workers: list[str]
) -> None:
    """With a forked worker the Ctrl-C lands in the worker's third case (the command replays
    the worker's reports, and counts its own three a moment later)."""
    done = run_cut("cut", *workers, PIXELPROOF_TEST_INTERRUPT_AFTER="3")
    assert done.returncode == 130, done.stderr[-2000:]
    run = json.loads((tmp_path / "cut" / "run.json").read_text())
    assert run["exit_code"] == 130
    after = len(run["outcomes"])
    assert 0 < after < 6
    assert run["interrupted"]["after"] == after
    assert run["interrupted"]["of"] == 6  # the six size.gpt-image-2.* cases
    wording = f"interrupted after {after} of 6 cases"
    summary = (tmp_path / "cut" / "summary.md").read_text()
    page = (tmp_path / "cut" / "report.html").read_text()
    assert wording in summary
    assert wording in page
    assert "kept" not in summary, summary
    assert "kept" not in page  # the cases judged before the cut passed: no score says so
    assert wording in done.stderr


def test_ctrl_c_swallowed_where_it_landed_still_ends_the_run(
    run_cut: RunCut, tmp_path: Path
) -> None:
    """A SIGINT whose KeyboardInterrupt is lost (raised inside a finalizer) used to let the run
    go on to the end and exit 0; the runner remembers the signal and stops before the next case."""
    done = run_cut("lost", PIXELPROOF_TEST_SWALLOWED_SIGINT_AFTER="2")
    assert done.returncode == 130, done.stdout[-2000:] + done.stderr[-2000:]
    run = json.loads((tmp_path / "lost" / "run.json").read_text())
    assert run["interrupted"]["after"] == len(run["outcomes"]) < 6


@pytest.mark.parametrize(
    "how", ["PIXELPROOF_TEST_SWALLOWED_SIGINT_AFTER", "PIXELPROOF_TEST_INTERRUPT_AFTER"]
)
def test_ctrl_c_whose_report_crashes_pytest_is_still_an_interruption(
    run_cut: RunCut, tmp_path: Path, how: str
) -> None:
    """pytest raised while reporting the KeyboardInterrupt (seen once in CI: exit 1 and a
    traceback instead of 130): the run still exits 130 with its interrupted report."""
    done = run_cut("crashed", **{how: "2"}, PIXELPROOF_TEST_BREAK_INTERRUPT_REPORT="1")
    assert done.returncode == 130, done.stdout[-2000:] + done.stderr[-2000:]
    assert "pytest failed reporting the interruption" in done.stderr
    run = json.loads((tmp_path / "crashed" / "run.json").read_text())
    assert run["interrupted"]["after"] == len(run["outcomes"]) < 6


def test_a_run_that_judged_nothing_never_says_kept() -> None:
    from pixelproof.report.summary import verdict

    counts = {"passed": 0, "failed": 0, "error": 0, "waived": 0, "fixed": 0, "skipped": 4}
    assert "kept" not in verdict({"exit_code": 0, "counts": counts})
    assert "nothing judged" in verdict({"exit_code": 0, "counts": counts})
    assert verdict({"exit_code": 0, "counts": {**counts, "passed": 1}}).endswith("kept")


@pytest.mark.parametrize(
    "args",
    [["--budget", "0", "--rules", "size.gpt-image-2.*"], ["--fuzz-budget", "0", "--rules", "fuzz.unified.*"]],
    ids=["image-budget-0", "fuzz-budget-0"],
)  # fmt: skip
def test_a_run_that_judged_nothing_does_not_exit_as_kept(tmp_path: Path, args: list[str]) -> None:
    """Every case skipped: exit 3 (no verdict), in run.json too, and said on stderr; the exit
    code was 0, "every promise kept", while the summary said "not a verdict"."""
    done = pixelproof_inprocess("run", *args, "--fuzz", "full", "--report-dir", str(tmp_path),
                                "--run-id", "none")  # fmt: skip
    assert done.returncode == 3, done.stdout[-2000:] + done.stderr[-2000:]
    assert "nothing judged: every case was skipped, no verdict (exit 3)" in done.stderr
    run = json.loads((tmp_path / "none" / "run.json").read_text())
    assert run["exit_code"] == 3
    assert run["counts"]["skipped"] > 0
    assert run["counts"]["passed"] == run["counts"]["error"] == 0
    assert "nothing judged" in (tmp_path / "none" / "summary.md").read_text()
