"""A gateway whose tasks never finish is judged in seconds, not minutes: the deadline rule fails,
every other rule on a stuck task is an error with its reason, and polling stays on its cadence."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_a_stuck_task_gateway_exits_1_well_under_90_s(tmp_path: Path) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pixelproof.cli", "run", "--fault", "task-stuck", "--fuzz", "off",
         "--rules", "task.tasks-official.*", "--rules", "size.gpt_image_2_official.*",
         "--report-dir", str(tmp_path), "--run-id", "stuck"],
        capture_output=True, text=True, timeout=300, check=False, cwd=REPO,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    data = json.loads((tmp_path / "stuck" / "run.json").read_text())
    by_outcome: dict[str, list[dict[str, str]]] = {}
    for o in data["outcomes"]:
        by_outcome.setdefault(o["outcome"], []).append(o)
    assert [o["rule"] for o in by_outcome["failed"]] == ["task.tasks-official.deadline"]
    assert "a terminal state within the client timeout" in by_outcome["failed"][0]["message"]
    errors = by_outcome["error"]
    assert len(errors) >= 20, "every size case on the official channel waits on a stuck task"
    assert all("still 'processing'" in o["message"] for o in errors)
    abandoned = [o for o in errors if "not polled to the deadline" in o["message"]]
    assert len(abandoned) >= len(errors) - 2, "after the first stuck task, a few polls each"
    assert elapsed < 90, f"took {elapsed:.0f} s"
