"""The end of a run: what it no longer needs stops before the reports are written."""

from __future__ import annotations

from pathlib import Path

import stack_watch
from conftest import pixelproof_inprocess


def test_the_embedded_stack_is_stopped_once_the_tests_have_run(tmp_path: Path) -> None:
    """Its graceful shutdown took ~0.4 s of every run's tail, after the JUnit file and before
    the reports; now it ends as soon as the last test has run (stack_watch reads its state at
    the end of the session, when the plugin used to stop it only at unconfigure)."""
    stack_watch.SEEN.clear()
    done = pixelproof_inprocess("run", "--rules", "size.gpt-image-2.1:1", "--fuzz", "off",
                                "--report-dir", str(tmp_path), "--run-id", "t", "--", "-p", "stack_watch")  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert stack_watch.SEEN == {"stack": "Z"}  # ended, reaped only at unconfigure
    assert (tmp_path / "t" / "run.json").is_file()
