"""The worker's side of `pixelproof run -n N` (lanes.py has the command's, and the design): what a
forked worker does from the fork to its ``os._exit``, and the messages both sides exchange (each a
length, then a pickle)."""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import signal
import struct
import sys
import threading
import warnings
from collections import deque
from typing import Any, NoReturn

import pytest

from pixelproof.ahead import case_of, for_worker
from pixelproof.session import close_process, session_of

HEADER = struct.Struct(">I")  # each message: its length, then a pickle
# tests a worker holds while it observes ahead: 8 against 0 (no thread), 4 and 16, interleaved
# on the 2-core machine: 8 fastest (bench/README.md, session 11)
AHEAD = 8
# the command's own reporters (by name; pixelproof's own say so with CONTROLLER_ONLY): a
# worker's reports reach them through the command instead
REPORTERS = ("terminalreporter",)
CONTROLLER_ONLY = "pixelproof_controller_only"


def frame(message: object) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(data)) + data


def read_exactly(fd: int, size: int) -> bytes | None:
    chunks, got = [], 0
    while got < size:
        chunk = os.read(fd, size - got)
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class _Forward:
    """A worker's plugin: what the command's reporters would have seen, sent to the command in
    three writes a test: as it begins (a worker that dies in it is known to have died in it,
    not between tests), once its verdict is made (the setup's and call's reports: a worker that
    dies in the teardown has sent it), and at its end (the teardown's)."""

    def __init__(self, config: pytest.Config, writes: int, name: str) -> None:
        self.config, self.writes, self.name = config, writes, name
        self.index = -1  # the test being run
        self.out: list[bytes] = []

    def send(self, *message: Any, now: bool = True) -> None:
        with _SENDING:
            self.out.append(frame(message))
            if now:
                data, self.out = b"".join(self.out), []
                _send_whole(self.writes, data)

    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        self.send("start", self.index)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = self.config.hook.pytest_report_to_serializable(config=self.config, report=report)
        # as xdist's: junit.xml tells a worker's reports of a test from the command's (a crash)
        data["item_index"], data["worker_id"] = self.index, self.name
        self.send("report", data, now=report.when == "call")

    def pytest_runtest_logfinish(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        self.send("finish", self.index)

    def pytest_warning_recorded(
        self, warning_message: warnings.WarningMessage, when: str, nodeid: str, location: Any
    ) -> None:
        category = warning_message.category
        where = (warning_message.filename, warning_message.lineno)
        kind = (category.__module__, category.__qualname__)
        self.send("warning", kind, str(warning_message.message), where, when, nodeid, location,
                  now=False)  # fmt: skip


_SENDING = threading.Lock()  # a worker's threads (its tests', its ahead thread) send in turn


class CtrlCHeld:
    """A Ctrl-C held back over a stretch of code and delivered at its end (``release``).
    Python runs signal handlers in the main thread whichever thread the system gives the signal
    to, so it is the handler that is swapped for one that notes the signal (a signal mask is
    per thread: another thread would still take it). Outside the main thread it does nothing:
    no handler can be set there, and no KeyboardInterrupt is raised there either."""

    def __init__(self) -> None:
        self.got = False
        self.previous: Any = None
        self.held = False

    def __enter__(self) -> CtrlCHeld:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._note)
            self.held = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _note(self, signum: int, frame: Any) -> None:
        self.got = True

    def release(self) -> None:
        """The handler before, back; a Ctrl-C that came meanwhile goes to it now."""
        if not self.held:
            return
        self.held = False
        signal.signal(signal.SIGINT, self.previous)
        if self.got:
            self.got = False
            if callable(self.previous):
                self.previous(signal.SIGINT, None)
            elif self.previous != signal.SIG_IGN:
                raise KeyboardInterrupt


def _send_whole(fd: int, data: bytes) -> None:
    """``data`` written whole: a Ctrl-C waits until it is (half a message would end the
    worker's stream, and the run would take the Ctrl-C for a crash)."""
    with CtrlCHeld():
        write_all(fd, data)


def worker_main(
    session: pytest.Session,
    number: int,
    count: int,
    testrunuid: str,
    reads: int,
    writes: int,
    held: CtrlCHeld,
) -> NoReturn:
    """The worker's whole life: a Ctrl-C at any point of it (the fork held it back until here,
    ``held``) tells the command the run is interrupted."""
    code = 0
    try:
        held.release()
        code = _work(session, number, count, testrunuid, reads, writes)
    except KeyboardInterrupt:
        code = 130
        with contextlib.suppress(OSError), _SENDING:
            _send_whole(writes, frame(("interrupted",)))
    except BaseException as exc:
        with contextlib.suppress(BaseException):
            print(f"pixelproof: worker gw{number} failed: {exc!r}", file=sys.__stderr__)
        code = 1
    finally:
        with contextlib.suppress(BaseException):
            atexit._run_exitfuncs()  # those registered in this worker (lanes.py's docstring)
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
    os._exit(code)


def _work(
    session: pytest.Session, number: int, count: int, testrunuid: str, reads: int, writes: int
) -> int:
    atexit._clear()  # the command's handlers: not this worker's to run
    config = session.config
    name = f"gw{number}"
    config.workerinput = {"workerid": name, "workercount": count, "testrunuid": testrunuid}  # type: ignore[attr-defined]
    os.environ.update(
        PYTEST_XDIST_WORKER=name,
        PYTEST_XDIST_WORKER_COUNT=str(count),
        PYTEST_XDIST_TESTRUNUID=testrunuid,
    )
    _drop_controller_plugins(config)
    forward = _Forward(config, writes, name)
    config.pluginmanager.register(forward, "pixelproof-lanes-forward")

    def ask() -> list[int]:
        forward.send("next")
        header = read_exactly(reads, HEADER.size)
        if header is None:
            return []  # the command is gone: stop
        body = read_exactly(reads, HEADER.unpack(header)[0])
        return [] if body is None else pickle.loads(body)

    items = session.items
    pp = session_of(config)
    ahead = for_worker(session, pp) if pp is not None else None
    index_of: dict[int, int] = {}  # id(case) -> its test's index, for ``ahead``'s cases
    if ahead is not None:
        pp.ahead = ahead  # type: ignore[union-attr]
        # the command learns which held tests' requests were sent: not to be run again
        ahead.on_start = lambda case: forward.send("observing", index_of[id(case)])
    queue: deque[int] = deque()
    more = [True]  # a unit is left

    def fill() -> None:
        """Units until AHEAD tests are queued (one with no ``ahead``: pytest needs the test after
        the one running), their rule cases handed to ``ahead``; a fuzz unit ends the filling (it
        runs long enough for ``ahead`` to observe the rule cases before it)."""
        while more[0] and len(queue) < (AHEAD if ahead is not None else 1):
            unit = ask()
            more[0] = bool(unit)
            queue.extend(unit)
            observed = [(i, c) for i in unit if (c := case_of(items[i])) is not None]
            index_of.update((id(c), i) for i, c in observed)
            if ahead is not None and observed:
                ahead.extend([c for _, c in observed])
            if unit and not observed:
                return

    try:
        fill()
        while queue:
            index = queue.popleft()
            fill()  # pytest needs the test after this one
            forward.index = index
            nextitem = items[queue[0]] if queue else None
            config.hook.pytest_runtest_protocol(item=items[index], nextitem=nextitem)
            if session.shouldfail or session.shouldstop:
                break
    finally:
        if ahead is not None:
            ahead.halt()
    with contextlib.suppress(Exception):
        config.hook.pytest_sessionfinish(session=session, exitstatus=0)
    close_process(config)
    forward.send("done")
    return 0


def _drop_controller_plugins(config: pytest.Config) -> None:
    from _pytest.junitxml import xml_key

    from pixelproof.report.allure_results import PLUGIN_NAME

    manager = config.pluginmanager
    dropped = [manager.get_plugin(name) for name in REPORTERS]
    dropped += [p for p in manager.get_plugins() if getattr(p, CONTROLLER_ONLY, False)]
    dropped.append(config.stash.get(xml_key, None))
    for plugin in dropped:
        if plugin is not None and manager.is_registered(plugin):
            manager.unregister(plugin)
    allure = manager.get_plugin(PLUGIN_NAME)
    if allure is not None:  # Allure's "thread" label names the process that ran the test
        from allure_commons.utils import thread_tag

        allure.thread = thread_tag()
