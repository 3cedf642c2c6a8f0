"""The end of a run: what it no longer needs stops before the reports are written, and a worker
that skips its interpreter's teardown still ends as Python would. That a real `run -n 2`'s workers
still run the exit handlers registered before pixelproof's is asserted on test_xdist_requests'
run (atexit_probe), which needs its two workers anyway."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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


EXITS = {
    "ends": ("", 0),
    "raises": ("raise RuntimeError('boom')", 1),
    "stdout unflushable": ("import sys; sys.stdout = open('/dev/full', 'w'); print('lost')", 120),
}


@pytest.mark.parametrize("ending", EXITS)
def test_the_quick_exit_keeps_pythons_exit_status(ending: str, tmp_path: Path) -> None:
    """A process ending through the quick exit still runs the handler registered before it and
    exits with the status Python would have used (not 0 whatever happened)."""
    code, status = EXITS[ending]
    mark = tmp_path / "mark"
    program = (
        "import atexit, pathlib\n"
        f"atexit.register(pathlib.Path({str(mark)!r}).write_text, 'ran')\n"
        "from pixelproof.quick_exit import end_worker_at_once\n"
        f"end_worker_at_once()\n{code}\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert (done.returncode, mark.exists()) == (status, True), done.stderr
