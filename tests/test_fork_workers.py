"""`pixelproof run -n N` forks its xdist workers from a server holding the command's imports
(pixelproof/forkworkers.py): the server's own promises (a child's exit status, its kill, the
environment and directory of the moment it was asked for, no descriptor of the command's kept
open), and a real command whose forked worker dies in a case: the run still says so everywhere.

The server is forked in a child process here (``SERVER``): forking this test process, which
holds xdist's threads, is what the module refuses to do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import served_profile

KEY_ENV, KEY = "PP_FORK_WORKERS_KEY", "pp-fork-workers-key-0123456789"
KILLED = "size.gpt-image-2.1:1"  # one of the six size.gpt-image-2.* cases (test_worker_crash)
SERVER = r"""
import json, os, select, sys, threading, weakref
from pixelproof import forkworkers

def bootstrap(popen, source):
    # what execnet sends first: one line, the repr of the code to run (exec(eval(line)))
    popen.stdin.write((repr(source) + "\n").encode())
    popen.stdin.flush()

out = {}
forkworkers.allow()
held_r, held_w = os.pipe()  # like the embedded stack's stdin: the command's alone
sys.setprofile(lambda *args: None)  # as under cProfile: the command's, not its workers'
threading.setprofile(lambda *args: None)  # ... and for the threads it starts
held = type("Held", (), {})()  # the command's, finalized at its exit, never at a worker's
weakref.finalize(held, lambda: open(os.path.join(sys.argv[1], "command-finalized"), "a").write("x"))
server = forkworkers.start(warm=lambda: setattr(forkworkers, "WARMED", os.getpid()))
sys.setprofile(None)
threading.setprofile(None)
out["started"] = server is not None
os.close(held_w)
out["held_pipe_eof"] = bool(select.select([held_r], [], [], 10)[0]) and os.read(held_r, 1) == b""
os.environ["PP_FORK_TEST"] = "set after the fork"
os.chdir(sys.argv[1])
codes = {}
for name, source in [("exit", "import sys; sys.exit(5)"), ("os_exit", "import os; os._exit(3)"),
                     ("raises", "raise ValueError('boom')")]:
    child = server.spawn()
    bootstrap(child, source)
    codes[name] = child.wait(30)
child = server.spawn()
bootstrap(child, "import json, os, sys, time; from pixelproof import forkworkers as f; sys.stdout.write(json.dumps("
                 "[os.environ.get('PP_FORK_TEST'), os.getcwd(), os.getppid(), getattr(f, 'WARMED', None), "
                 "sys.getprofile() is None]) "
                 "+ chr(10)); sys.stdout.flush(); time.sleep(60)")
out["seen"] = json.loads(child.stdout.readline())
out["running"] = child.poll()
child.kill()
codes["killed"] = child.wait(30)
child = server.spawn()  # exits as Python does: logging flushed, its own finalizers run
bootstrap(child, "import logging.handlers, sys, threading, weakref; "
                 "h = logging.handlers.MemoryHandler(99, target=logging.FileHandler('worker-log')); "
                 "logging.getLogger('pp').addHandler(h); logging.getLogger('pp').warning('at exit'); "
                 "mine = type('Mine', (), {})(); "
                 "weakref.finalize(mine, lambda: open('worker-finalized', 'w').write('x')); "
                 "sys.exit(0 if threading.getprofile() is None else 7)")
codes["at_exit"] = child.wait(30)
out["worker_exit"] = [os.path.exists(name) and open(name).read()
                      for name in ("worker-log", "worker-finalized", "command-finalized")]
out["codes"] = codes
out["server_pid"] = server.pid
forkworkers.stop()
out["server_gone"] = not os.path.exists(f"/proc/{server.pid}")
real_fork = os.fork
def no_fork():
    raise BlockingIOError(11, "Resource temporarily unavailable")
os.fork = no_fork
out["fork_fails"] = forkworkers.start() is None
os.fork = real_fork
threading.Thread(target=lambda: select.select([], [], [], 5), daemon=True).start()
out["with_a_thread"] = forkworkers.start() is None
print(json.dumps(out))
"""


def test_the_server_reports_exits_kills_and_gives_each_child_the_moment_s_environment(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SERVER, str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["started"]
    assert out["held_pipe_eof"], "the server kept a descriptor of the command's open"
    assert out["codes"] == {"exit": 5, "os_exit": 3, "raises": 1, "killed": -9, "at_exit": 0}
    # 7: new threads ran under the command's profiler; then logging's flush at exit, the
    # worker's own finalizer, and none of the command's
    assert out["worker_exit"] == ["at exit\n", "x", False]
    assert "ValueError: boom" in done.stderr  # printed as Python prints an uncaught exception
    env, cwd, parent, warmed, unprofiled = out["seen"]
    assert unprofiled, "a worker ran under the command's profiler"
    assert (env, cwd, parent) == ("set after the fork", str(tmp_path), out["server_pid"])
    assert warmed == out["server_pid"]  # ``warm`` ran once, in the server, before the fork
    assert out["running"] is None
    assert out["server_gone"]
    assert out["fork_fails"], "no fallback when the fork itself fails"
    assert out["with_a_thread"], "forked while another thread ran"


def test_a_forked_worker_dying_in_a_case_is_still_an_error_everywhere(tmp_path: Path) -> None:
    """The command itself (a child process: only the command forks), one worker, killed in a
    case by kill_worker.py; its replacement comes from the server too. Held to a stack served
    here (the workers are the point; the default stack's process is test_early_stack's)."""
    with served_profile(tmp_path, KEY_ENV, KEY) as profile:
        _run_killing_a_forked_worker(tmp_path, profile)


def _run_killing_a_forked_worker(tmp_path: Path, profile: Path) -> None:
    probe = tmp_path / "probe.jsonl"
    tests = str(Path(__file__).parent)
    marks = tmp_path / "marks"
    marks.mkdir()
    env = {**os.environ, "PP_FORK_PROBE": str(probe), "PP_KILL_WORKER_MARKS": str(marks),
           "PP_KILL_WORKER_AT": json.dumps([["call", f"[{KILLED}]"]]),
           "PYTHONPATH": os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")]),
           "PIXELPROOF_FORK_WORKERS": "1", KEY_ENV: KEY}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "pixelproof.cli", "run", "--target", str(profile), "-n", "1",
         "--rules", "size.gpt-image-2.*", "--fuzz", "off", "--report-dir", str(tmp_path),
         "--run-id", "fork", "--", "-p", "kill_worker", "-p", "fork_probe"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert (marks / "0").exists(), "the worker was not killed: the test proves nothing"
    run = json.loads((tmp_path / "fork" / "run.json").read_text())
    assert (done.returncode, run["exit_code"]) == (3, 3), done.stderr[-3000:]
    outcomes = {o["case"]: o for o in run["outcomes"]}
    assert "worker gw0 crashed while running this case" in outcomes[KILLED]["message"]
    assert {o["outcome"] for c, o in outcomes.items() if c != KILLED} == {"passed"}
    assert len(outcomes) == 6
    workers = [json.loads(line) for line in probe.read_text().splitlines()]
    assert len(workers) == 2  # the one killed and its replacement
    assert all(w["preloaded"] for w in workers), workers  # forked: the imports came with them
    assert all(w["parent"] != os.getpid() for w in workers)


def test_a_ctrl_c_while_the_server_forks_is_an_interrupted_run_everywhere(tmp_path: Path) -> None:
    """SIGINT arrives in the fork of the server (tests/interrupt_at_fork/sitecustomize.py).
    Raised inside the fork's hooks, the KeyboardInterrupt was discarded and the run went on
    (pytest then ended on its own terms: exit 0 or 2, run.json not "interrupted"). Held to a
    stack served here: no stack process to start and stop around it."""
    here = Path(__file__).parent
    env = {**os.environ, "PP_INTERRUPT_AT_FORK": "1", "PIXELPROOF_FORK_WORKERS": "1", KEY_ENV: KEY,
           "PYTHONPATH": os.pathsep.join([str(here / "interrupt_at_fork"),
                                          os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    with served_profile(tmp_path, KEY_ENV, KEY) as profile:
        done = subprocess.run(
            [sys.executable, "-m", "pixelproof.cli", "run", "--target", str(profile), "-n", "1",
             "--rules", KILLED, "--fuzz", "off", "--report-dir", str(tmp_path), "--run-id", "int"],
            capture_output=True, text=True, env=env, timeout=300,
        )  # fmt: skip
    run = json.loads((tmp_path / "int" / "run.json").read_text())
    assert (done.returncode, run["exit_code"]) == (130, 130), done.stderr[-3000:]
    assert run["interrupted"], run
    headline = (tmp_path / "int" / "summary.md").read_text().splitlines()[0]
    assert "interrupted" in headline, headline  # (pytest never started: no junit.xml)
