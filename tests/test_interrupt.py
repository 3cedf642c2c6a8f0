"""An interrupted run never reads as passing: run.json records exit 130 and how far it got, and
summary.md, report.html and the terminal say "interrupted after N of M cases"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).parent


def test_interrupted_run_says_so_everywhere_and_exits_130(tmp_path: Path) -> None:
    env = {**os.environ, "PIXELPROOF_TEST_INTERRUPT_AFTER": "3",
           "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "pixelproof.cli.main", "run", "--rules", "size.gpt-image-2.*",
         "--fuzz", "off", "--report-dir", str(tmp_path), "--run-id", "cut",
         "--", "-p", "interrupt_after"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 130, done.stderr[-2000:]
    run = json.loads((tmp_path / "cut" / "run.json").read_text())
    assert run["exit_code"] == 130
    after = len(run["outcomes"])
    assert 0 < after < 6
    assert run["interrupted"]["after"] == after
    assert run["interrupted"]["of"] == 6  # the six size.gpt-image-2.* cases
    wording = f"interrupted after {after} of 6 cases"
    summary = (tmp_path / "cut" / "summary.md").read_text()
    assert wording in summary
    assert "kept" not in summary.splitlines()[0]
    assert wording in (tmp_path / "cut" / "report.html").read_text()
    assert wording in done.stderr


def test_ctrl_c_swallowed_where_it_landed_still_ends_the_run(tmp_path: Path) -> None:
    """A SIGINT whose KeyboardInterrupt is lost (raised inside a finalizer) used to let the run
    go on to the end and exit 0; the runner remembers the signal and stops before the next case."""
    env = {**os.environ, "PIXELPROOF_TEST_SWALLOWED_SIGINT_AFTER": "2",
           "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "pixelproof.cli.main", "run", "--rules", "size.gpt-image-2.*",
         "--fuzz", "off", "--report-dir", str(tmp_path), "--run-id", "lost",
         "--", "-p", "interrupt_after"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 130, done.stdout[-2000:] + done.stderr[-2000:]
    run = json.loads((tmp_path / "lost" / "run.json").read_text())
    assert run["interrupted"]["after"] == len(run["outcomes"]) < 6


def test_a_run_that_judged_nothing_never_says_kept() -> None:
    from pixelproof.report.summary import verdict

    counts = {"passed": 0, "failed": 0, "error": 0, "waived": 0, "fixed": 0, "skipped": 4}
    assert "kept" not in verdict({"exit_code": 0, "counts": counts})
    assert "nothing judged" in verdict({"exit_code": 0, "counts": counts})
    assert verdict({"exit_code": 0, "counts": {**counts, "passed": 1}}).endswith("kept")
