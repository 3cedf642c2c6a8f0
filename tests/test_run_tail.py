"""The end of a run: a worker that skips its interpreter's teardown still ends as Python would,
and so does the command. Two claims about a run's tail are asserted on runs other files make
anyway: a real `run -n 2`'s workers still run the exit handlers registered before pixelproof's
(test_xdist_requests' run, atexit_probe), and the embedded stack's process is stopped once the
tests have run, before the reports (test_reports' faulty run, stack_watch)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import served_profile

KEY_ENV, KEY = "PP_RUN_TAIL_KEY", "pp-run-tail-key-0123456789"
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
    # the timeout only turns a hang into a failure: a right ending takes well under a second
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120
    )
    assert (done.returncode, mark.exists()) == (status, True), done.stderr


COMMAND_ENDS = {
    "ok": ("", 0, 0),
    "broken promise": ("", 1, 1),
    "stdout unflushable": (
        "import sys; sys.stdout = open('/dev/full', 'w'); print('lost')",
        0,
        120,
    ),
}


@pytest.mark.parametrize("ending", COMMAND_ENDS)
def test_the_command_ends_without_teardown_as_python_would(ending: str, tmp_path: Path) -> None:
    """The `pixelproof` command's end (quick_exit.end_command): a thread still writing is waited
    for, an idle executor's workers are stopped (threading's exit hooks, before the join, as
    Python does: joined first, they wait forever), the exit handlers run, and the status is the
    command's, or Python's 120 when stdout cannot be flushed.

    The writer starts only when threading's exit hooks run (so it is surely still at work when
    the command ends, however the machine schedules it) and sleeps a while first: an end that
    did not join it has long exited by then (it was a busy loop: ~0.3 CPU-s a test)."""
    code, returned, status = COMMAND_ENDS[ending]
    program = (
        "import atexit, concurrent.futures, pathlib, threading, time\n"
        "from pixelproof.quick_exit import end_command\n"
        f"atexit.register(pathlib.Path({str(tmp_path / 'handler')!r}).write_text, 'ran')\n"
        "go = threading.Event()\n"
        f"out = pathlib.Path({str(tmp_path / 'thread')!r})\n"
        "def writer():\n"
        "    go.wait()\n"
        "    time.sleep(0.3)\n"
        "    out.write_text('x')\n"
        "threading.Thread(target=writer).start()\n"
        "pool = concurrent.futures.ThreadPoolExecutor(2)  # kept, and left idle\n"
        "pool.submit(int).result()\n"
        "threading._register_atexit(go.set)  # run by the exit, as Python runs them\n"
        f"{code}\n"
        f"end_command({returned})\n"
    )
    # the timeout only turns a hang into a failure: a right ending takes well under a second
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == status, done.stderr
    assert (tmp_path / "handler").read_text() == "ran"
    assert (tmp_path / "thread").read_text() == "x"


def test_the_console_command_writes_whole_reports_and_its_exit_code(tmp_path: Path) -> None:
    """Held to a stack served here, with the fault (the command's end is the point; the default
    stack's process is test_early_stack's and test_reports')."""
    with served_profile(tmp_path, KEY_ENV, KEY, frozenset({"size-ignored"})) as profile:
        done = subprocess.run(
            [sys.executable, "-m", "pixelproof.cli", "run", "--target", str(profile), "--rules",
             "size.gpt-image-2.4:3", "--fuzz", "off", "--report-dir", str(tmp_path), "--run-id", "t"],
            capture_output=True, text=True, env={**os.environ, KEY_ENV: KEY},
        )  # fmt: skip
    assert done.returncode == 1, done.stderr[-2000:]
    run = json.loads((tmp_path / "t" / "run.json").read_text())
    assert run["counts"]["failed"] >= 1
    assert ET.parse(tmp_path / "t" / "junit.xml").getroot().find(".//failure") is not None
    assert (tmp_path / "t" / "report.html").read_text().rstrip().endswith("</html>")
    assert "report written" in done.stderr
