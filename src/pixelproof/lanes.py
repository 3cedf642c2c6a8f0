"""`pixelproof run -n N`: N worker processes forked from the collected session, no xdist.

xdist starts each worker as a new interpreter that configures pytest and collects again, and
sends every report (three a test) through execnet to a controller that does nothing else: on
the 2-core CI machine that cost ~1.1 CPU-s in the controller, ~15 % of the rule worker and
~0.2 CPU-s of start-up a worker, beside a run of ~11 CPU-s, and its rule worker waited on the
embedded stack for about half of its lane (bench/README.md, sessions 8-11). Here the command
collects and plans once; just before the first test it forks N workers from that session
(nothing to import, configure or collect again) and coordinates them itself:

- **Work** is handed out as xdist's ``loadgroup`` units (a request group never splits: each
  distinct request is still sent once per run), in two lanes (schedule.Dispatcher): worker 0
  takes the fuzz targets first, the others the rule cases, each taking from the other lane once
  its own is empty. A worker asks for its next unit before it runs the last test of the one it
  holds, so it always knows the test after the current one (pytest keeps fixtures that the next
  test shares) and never waits on the command between units.
- **Observing ahead**: against the embedded stack a worker observes its rule cases in a thread
  of its own (ahead.py, as the serial run does), AHEAD tests ahead of the one it runs: their
  requests are sent while it judges the case before (and waits less on the stack, whose jobs
  take real time); a fuzz target stops the filling (it runs long enough for the cases before it
  to be observed). ``PIXELPROOF_OBSERVE_AHEAD=0`` turns it off, as for a serial run.
- **Reports**: a worker runs each test with pytest's own protocol (the suites' fixtures,
  makereport hooks, Allure's result files are written there, as on an xdist worker) and sends
  the test's reports, serialized by pytest's own hooks, in three writes a test; the command
  replays them through ``pytest_runtest_logreport``, so the terminal, junit.xml, run.json and
  the live progress line see what a serial run's would. The command's reporters are removed
  from each worker (lane_worker.py, the worker's side: ``REPORTERS``, ``CONTROLLER_ONLY``); a
  worker has ``config.workerinput`` as an xdist worker does, so plugins that tell the two apart
  still can.
- **A worker that dies** (killed, out of memory, ``os._exit`` in a library) is as under xdist
  (crashed.py): the case it was running is an error naming it, and so is each case whose
  requests its ahead thread had begun to send; none of them is run again (their requests would
  be sent twice). The tests it held and had not begun go back to the lanes; a new worker is
  forked in its place, at most ``RESTARTS_PER_WORKER`` times per worker (or xdist's
  ``--max-worker-restart``), after which the cases never run are errors too.
- **Ctrl-C** reaches the workers (one process group; the command passes it on too, and a worker
  that gets it alone tells the command): each ends after the phase in flight, the command
  replays what they sent, stops them (SIGKILL after STOP_GRACE_S), and the run is reported as
  interrupted (exit 130), never as kept.

A worker is a copy of the command's process: the command runs no thread of its own when it
forks its first workers (the live progress line starts ticking at the first test); a worker
forked in place of a dead one may be forked while the line ticks and the Allure writer writes:
the line holds its redraw across the fork (report/progress.py) and the writer starts afresh in
the child (report/allure.py). A worker that exits while a process it started keeps its pipe
open is reaped all the same (``_reap_quiet``). A program that calls
``pixelproof.cli.main`` in process with threads of its own running gets workers forked beside
them: a worker touches none of those threads' objects (it runs pytest's protocol for its tests
and ends with ``os._exit``). The exit handlers a worker inherits are the command's and are
dropped; those registered while it runs (a plugin's, a library's) run at its end, as they would
at an interpreter's. Without ``os.fork`` the run says so on stderr and runs in one process.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import selectors
import signal
import sys
import time
import warnings
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from pixelproof.lane_worker import HEADER, CtrlCHeld, frame, worker_main, write_all
from pixelproof.schedule import Dispatcher
from pixelproof.session import session_of
from pixelproof.workers import worker_count

if TYPE_CHECKING:
    from pixelproof.crashed import WorkerCrashes

RESTARTS_PER_WORKER = 4  # as xdist's default --max-worker-restart (4 per worker)
STOP_GRACE_S = 2.0  # after a Ctrl-C, how long workers get to send what they finished


@dataclass
class Worker:
    """The command's view of one forked worker."""

    number: int  # its xdist-style id is gw<number>
    pid: int
    reads: int  # the worker's messages
    writes: int  # the units sent to it
    held: deque[int] = field(default_factory=deque)  # tests handed to it and not finished
    current: int | None = None  # the test it began (logstart) and has not finished
    observing: set[int] = field(default_factory=set)  # held tests whose requests it began
    buffer: bytearray = field(default_factory=bytearray)
    done: bool = False
    status: int | None = None  # its exit status, once reaped

    @property
    def name(self) -> str:
        return f"gw{self.number}"


class Lanes:
    """The command's side: forks the workers, hands out units, replays reports, reaps."""

    def __init__(self, session: pytest.Session, count: int, crashes: WorkerCrashes | None) -> None:
        self.session, self.config = session, session.config
        self.items = session.items
        self.count = count
        self.dispatcher = Dispatcher(self.items, count)
        self.crashes = crashes
        self.workers: dict[int, Worker] = {}  # by the fd its messages arrive on
        self.selector = selectors.DefaultSelector()
        self.next_number = 0
        restarts = session.config.getoption("maxworkerrestart", None)  # xdist's option, if given
        self.restarts_left = RESTARTS_PER_WORKER * count if restarts is None else int(restarts)
        self.testrunuid = os.urandom(8).hex()
        self.interrupted = False

    # ---- the command's loop
    def run(self) -> bool:
        """False: no worker could be forked (nothing was run)."""
        if self.crashes is not None:
            self.crashes.planned = [item.nodeid for item in self.items]
        try:
            for _ in range(min(self.count, len(self.dispatcher.units))):
                if not self._fork():
                    break
            if not self.workers:
                return False
            while self.workers:
                events = self.selector.select(timeout=1.0)
                for key, _events in events:
                    if key.fd in self.workers:  # (not one that ended in this round)
                        self._receive(self.workers[key.fd])
                if not events:
                    self._reap_quiet()
                if self.session.shouldfail or self.session.shouldstop:
                    self.dispatcher.stopped = True
        except BaseException:
            self.interrupted = True
            self._stop_all()
            raise
        finally:
            self.selector.close()
        return True

    def _reap_quiet(self) -> None:
        """A worker that exited while its pipe stays open (a process it started holds it) is
        ended here, not waited for: checked whenever a second passes with no message."""
        for worker in list(self.workers.values()):
            pid, status = os.waitpid(worker.pid, os.WNOHANG)
            if pid:
                worker.status = os.waitstatus_to_exitcode(status)
                self._receive(worker)  # what it sent before it ended (perhaps its end)
                if self.workers.get(worker.reads) is worker:  # (not a new one on its fd)
                    self._ended(worker)

    def _alive(self) -> set[int]:
        return {w.number for w in self.workers.values() if not w.done}

    def _fork(self) -> bool:
        """A new worker; False (and a line on stderr) where the system would not fork one.
        A Ctrl-C is held back across the fork: the command knows its worker before it can
        stop the run, and the worker cannot run the command's code on it."""
        to_worker_r, to_worker_w = os.pipe()
        from_worker_r, from_worker_w = os.pipe()
        number = self.next_number
        ours = [fd for w in self.workers.values() for fd in (w.reads, w.writes)]
        sys.stdout.flush()
        sys.stderr.flush()
        with CtrlCHeld() as held:
            try:
                pid = os.fork()
            except OSError as exc:
                for fd in (to_worker_r, to_worker_w, from_worker_r, from_worker_w):
                    os.close(fd)
                print(f"pixelproof: worker gw{number} not started: {exc}", file=sys.stderr)
                return False
            if pid == 0:  # the worker: it never returns into the command's code
                try:
                    for fd in (*ours, to_worker_w, from_worker_r):
                        os.close(fd)
                    self.selector.close()
                    worker_main(
                        self.session, number, self.count, self.testrunuid, to_worker_r,
                        from_worker_w, held,
                    )  # fmt: skip
                finally:
                    os._exit(70)
            self.next_number += 1
            os.close(to_worker_r)
            os.close(from_worker_w)
            os.set_blocking(from_worker_r, False)  # (a stale readiness never blocks the command)
            worker = Worker(number, pid, from_worker_r, to_worker_w)
            self.workers[from_worker_r] = worker
            self.selector.register(from_worker_r, selectors.EVENT_READ)
        return True

    def _receive(self, worker: Worker, answer: bool = True) -> None:
        """Handle what the worker sent (``answer``: its requests for work too); at its end,
        ``_ended``."""
        try:
            chunk = os.read(worker.reads, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._ended(worker) if answer else self._forget(worker)
            return
        worker.buffer += chunk
        while len(worker.buffer) >= HEADER.size:
            (size,) = HEADER.unpack_from(worker.buffer)
            if len(worker.buffer) < HEADER.size + size:
                break
            try:
                message = pickle.loads(bytes(worker.buffer[HEADER.size : HEADER.size + size]))
            except Exception:  # a worker that wrote half a message as it died: no more of it
                worker.buffer.clear()
                with contextlib.suppress(OSError):
                    os.kill(worker.pid, signal.SIGKILL)
                return
            del worker.buffer[: HEADER.size + size]
            if answer or message[0] not in ("next", "interrupted"):
                self._handle(worker, message)

    def _handle(self, worker: Worker, message: tuple[Any, ...]) -> None:
        kind = message[0]
        hook = self.config.hook
        if kind == "next":
            unit = self.dispatcher.take(worker.number, self._alive())
            worker.held.extend(unit)
            with contextlib.suppress(OSError):  # (a dead worker: its end is read next)
                write_all(worker.writes, frame(unit))
        elif kind == "start":
            item = self.items[message[1]]
            worker.current = message[1]
            hook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        elif kind == "report":
            report = hook.pytest_report_from_serializable(config=self.config, data=message[1])
            hook.pytest_runtest_logreport(report=report)
        elif kind == "finish":
            item = self.items[message[1]]
            worker.current = None
            with contextlib.suppress(ValueError):
                worker.held.remove(message[1])
            hook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        elif kind == "warning":
            (module, name), text, (filename, lineno), when, nodeid, location = message[1:]
            warned = replayed_warning(module, name, text)
            record = warnings.WarningMessage(warned, type(warned), filename, lineno)
            hook.pytest_warning_recorded.call_historic(
                kwargs={
                    "warning_message": record,
                    "when": when,
                    "nodeid": nodeid,
                    "location": location,
                }
            )
        elif kind == "observing":  # its ahead thread began sending this test's requests
            worker.observing.add(message[1])
        elif kind == "done":
            worker.done = True
        elif kind == "interrupted":  # a Ctrl-C reached the worker: the run is interrupted
            raise KeyboardInterrupt

    def _ended(self, worker: Worker) -> None:
        """A worker's messages ended: it finished, or it died (then as crashed.py says)."""
        self.selector.unregister(worker.reads)
        os.close(worker.reads)
        os.close(worker.writes)
        del self.workers[worker.reads]
        status = worker.status if worker.status is not None else _reap(worker.pid)
        if worker.done and status == 0:
            return
        if status in (130, -signal.SIGINT) and not self.interrupted:
            raise KeyboardInterrupt  # a Ctrl-C that reached the worker alone: the run stops
        why = _why(status)
        if self.crashes is not None:
            self.crashes.down[worker.name] = why
        # not run again: the test it was in, and those whose requests its ahead thread sent
        lost = [i for i in worker.held if i == worker.current or i in worker.observing]
        for index in lost:
            self._crashed_in(worker, index, why, started=index == worker.current)
        left = [index for index in worker.held if index not in lost]
        if left:
            self.dispatcher.returned.append(left)
        replaced = False
        if self.dispatcher.left() and self.restarts_left > 0 and not self.interrupted:
            self.restarts_left -= 1
            replaced = self._fork()
        if not replaced and self.dispatcher.left() and not self._alive():
            self.dispatcher.stopped = True  # crashed.py reports the cases never run as errors

    def _crashed_in(self, worker: Worker, index: int, why: str, started: bool = True) -> None:
        item = self.items[index]
        if not started:  # observed ahead, never begun
            self.config.hook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        seen = self.crashes.seen.get(item.nodeid, {}) if self.crashes is not None else {}
        if "teardown" not in seen:  # else reported whole: it died after the test, not in it
            report = pytest.TestReport(item.nodeid, item.location, {}, "failed", None, "setup")
            if self.crashes is not None:
                self.crashes.report_crash(report, worker.name, self.config)
            else:
                report.longrepr = f"worker {worker.name} crashed while running this case ({why})"
            self.config.hook.pytest_runtest_logreport(report=report)
        self.config.hook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)

    def _stop_all(self) -> None:
        """After a Ctrl-C (or an error of the command's own): each worker gets the Ctrl-C too,
        has STOP_GRACE_S to send what it finished (replayed, so the report has it), then is
        killed. A second Ctrl-C is held back until every worker is gone."""
        with CtrlCHeld():
            self._stop_workers()

    def _stop_workers(self) -> None:
        for worker in self.workers.values():
            with contextlib.suppress(OSError):
                os.kill(worker.pid, signal.SIGINT)
        deadline = time.monotonic() + STOP_GRACE_S
        with contextlib.suppress(BaseException):
            while self.workers and time.monotonic() < deadline:
                for key, _events in self.selector.select(timeout=0.1):
                    if key.fd in self.workers:
                        self._receive(self.workers[key.fd], answer=False)
        for worker in self.workers.values():
            with contextlib.suppress(OSError):
                os.kill(worker.pid, signal.SIGKILL)
        for worker in list(self.workers.values()):
            self._forget(worker)

    def _forget(self, worker: Worker) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(worker.reads)
        for fd in (worker.reads, worker.writes):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.workers.pop(worker.reads, None)
        _reap(worker.pid)


def replayed_warning(module: str, name: str, text: str) -> Warning:
    """A worker's warning made again here, of the class it was raised with where the command
    has it (the worker is its fork: modules imported before it are here too); else a
    UserWarning whose text keeps that class's name."""
    found: Any = sys.modules.get(module)
    for part in name.split("."):
        found = getattr(found, part, None)
    if isinstance(found, type) and issubclass(found, Warning):
        with contextlib.suppress(Exception):  # (a class that wants more than a message)
            return found(text)
    return UserWarning(text if name == "UserWarning" else f"{name}: {text}")


def _reap(pid: int) -> int:
    """The worker's exit status, as ``subprocess`` gives it (negative: the signal)."""
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return 0
    return os.waitstatus_to_exitcode(status)


def _why(status: int) -> str:
    if status < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-status).name}"
        return f"killed by signal {-status}"
    return f"exited with status {status} before its work was done"


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    """The tests on ``--pixelproof-workers`` forked workers (this module is registered as a
    plugin for that option); None: pytest's own loop (nothing to run, a collection error, or
    forking unsafe here)."""
    workers = session.config.getoption("pixelproof_workers", None)
    if not workers or session.config.option.collectonly or not session.items:
        return None
    if session.testsfailed and not session.config.option.continue_on_collection_errors:
        return None  # pytest's loop stops the run on collection errors
    return True if run(session, worker_count(workers)) else None


def run(session: pytest.Session, count: int) -> bool:
    """Run the session's tests on ``count`` forked workers; False where that is not safe here
    (the reason printed), and the caller runs them in this process."""
    if not hasattr(os, "fork"):
        print(f"pixelproof: -n {count}: running in one process: no fork() here", file=sys.stderr)
        return False
    crashes = session.config.pluginmanager.get_plugin("pp-crashes")
    pp = session_of(session.config)
    if pp is not None:
        pp.shared_ledger()  # one image budget for the run, not one per worker
    if Lanes(session, count, crashes).run():
        return True
    print(
        f"pixelproof: -n {count}: no worker could be started: running in one process",
        file=sys.stderr,
    )
    return False
