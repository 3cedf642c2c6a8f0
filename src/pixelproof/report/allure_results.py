"""`pixelproof run`'s Allure results: one ``<uuid>-result.json`` per test (and its failure's
attachments), built once from the test's own reports.

allure-pytest's listener did the same through ~10 hooks a test (each phase, each fixture setup and
finalizer, the dynamic labels one pluggy call each) and wrote a fixture container file per case:
1.3-2 of the controller's ~7 CPU-s in a default serial run (`--fuzz off`, 728 tests). The result
files carry the fields allure-pytest writes, computed with its own helpers (names, suites, tags,
history and test case ids, statuses, XFAIL/XPASS messages, captured output), so an Allure report
reads them as before (tests/test_allure_results.py compares the two writers on the same tests).
Differences, on purpose:
- no ``-container.json`` files: they held the ``case`` fixture's setup, whose time is now the
  result's own (``start`` is when the case's setup began, ``stop`` when its teardown ended: the
  observation is part of a case), and whose error is the result's status and details already;
- a rule case carries its labels, parameters, description and link whether or not its fixture ran
  (allure-pytest had none for a case skipped as not claimed, and replaced the rule's description
  with the test function's docstring, which the suites do not have).
"""

from __future__ import annotations

import doctest
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from allure_commons.utils import host_tag, md5, platform_label, represent, thread_tag
from allure_pytest.utils import (
    allure_description,
    allure_full_name,
    allure_labels,
    allure_links,
    allure_name,
    allure_package,
    allure_suite_labels,
    allure_title_path,
    get_history_id,
    pytest_markers,
)

from pixelproof.plan import Case
from pixelproof.report.allure import FACTS, RESULT_WRITERS, WRITER, CaseFacts, case_facts

BATCH = 64  # files handed to the writer thread at once
PLUGIN_NAME = "pixelproof-allure"
_NOT_BROKEN = (AssertionError, pytest.fail.Exception, doctest.DocTestFailure)


class _Param:
    """What allure's ``get_history_id`` reads of a parameter."""

    __slots__ = ("excluded", "name", "value")

    def __init__(self, name: str, value: str) -> None:
        self.name, self.value, self.excluded = name, value, None


class AllureResults:
    """A pytest plugin object (registered by the pixelproof plugin when ``--pixelproof-allure``
    names a directory)."""

    def __init__(self, directory: Path, config: pytest.Config) -> None:
        self.dir = directory.absolute()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.host, self.thread, self.language = host_tag(), thread_tag(), platform_label()
        self.test: dict[str, Any] = {}
        self.pending: list[tuple[Path, bytes]] = []
        RESULT_WRITERS.append(self)

    def attach(self, name: str, body: bytes, mime: str, ext: str) -> None:
        """A file attached to the test now running (report/allure.py's attach_failure)."""
        source = f"{uuid.uuid4()}-attachment.{ext}"
        self.test.setdefault("attachments", []).append(
            {"name": name, "source": source, "type": mime}
        )
        self._queue(self.dir / source, body)

    def _queue(self, path: Path, data: bytes) -> None:
        self.pending.append((path, data))
        if len(self.pending) >= BATCH:
            self.hand_over()

    def hand_over(self) -> None:
        if self.pending:
            WRITER.put_many(self.pending)
            self.pending = []

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.test = {"status": None}

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        """Outermost: it reads the report as every other plugin left it (the pixelproof plugin
        replaces a rule failure's traceback with its message)."""
        report = yield
        self._phase(report, call)
        if call.when == "teardown":
            self._close(item, report)
        return report

    def _phase(self, report: pytest.TestReport, call: pytest.CallInfo[None]) -> None:
        """The status rules of allure-pytest's listener (``pytest_runtest_makereport``)."""
        test = self.test
        if call.when == "setup":
            test["start"] = _ms(call.start)
        test["stop"] = _ms(call.stop)
        status = "failed" if report.failed else "passed" if report.passed else "skipped"
        details = None
        wasxfail = getattr(report, "wasxfail", None)
        if call.excinfo:
            message = call.excinfo.exconly()
            if wasxfail is not None:
                message = (f"XFAIL {wasxfail}" if wasxfail else "XFAIL") + "\n\n" + message
            details = {"message": message, "trace": report.longreprtext}
            if status != "skipped" and not isinstance(call.excinfo.value, _NOT_BROKEN):
                status = "broken"
        if status == "passed" and wasxfail is not None:
            details = {"message": f"XPASS {wasxfail}" if wasxfail else "XPASS"}
        current = test["status"]
        if (
            call.when == "setup"
            or (call.when == "call" and current == "passed")
            or (call.when == "teardown" and status in ("failed", "broken") and current == "passed")
        ):
            test["status"], test["details"] = status, details

    def _close(self, item: pytest.Item, report: pytest.TestReport) -> None:
        if getattr(self.config.option, "attach_capture", True):
            for name, text in (("log", report.caplog), ("stdout", report.capstdout),
                               ("stderr", report.capstderr)):  # fmt: skip
                if text:
                    self.attach(name, text.encode("utf-8"), "text/plain", "txt")
        test, self.test = self.test, {"status": None}
        self._queue_result(self._result(item, test))
        if hasattr(self.config, "workerinput"):  # a worker that dies loses no finished result
            files, self.pending = self.pending, []
            WRITER.write_now(files)  # here: it would wait for the writer thread anyway
            WRITER.wait()  # and for anything handed to that thread before (a no-op without)

    def _queue_result(self, result: dict[str, Any]) -> None:
        result = _pruned(result)
        name = f"{result['uuid']}-result.json"
        self._queue(self.dir / name, json.dumps(result, ensure_ascii=False).encode("utf-8"))

    def unobserved(
        self, report: pytest.TestReport, status: str, facts: CaseFacts | None,
        original: dict[str, Any],
    ) -> None:  # fmt: skip
        """A test no worker reported on (its worker crashed in it, or xdist stopped handing out
        work): the controller, which has no item, writes its result from the report crashed.py
        made, so Allure shows what run.json and junit.xml show. Names, ids and labels are worked
        out from the node id and the case's facts as a worker does from its item; markers and
        captured output, which only a run of the test has, are left out."""
        path, _, test = report.nodeid.partition("::")
        test = test.split("@")[0]  # xdist's loadgroup suffix
        full_name = f"{path.removesuffix('.py').replace('/', '.')}#{test.split('[')[0]}"
        labels = list(facts.labels) if facts else []
        params = [(n, represent(v)) for n, v in facts.parameters] if facts else []
        params += [(n, represent(v)) for n, v in original.items() if n not in dict(params)]
        message = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        self._queue_result({
            "name": test, "status": status,
            "statusDetails": {"message": str(message)},
            "description": facts.description if facts else None,
            "parameters": [{"name": n, "value": v} for n, v in params],
            "uuid": str(uuid.uuid4()), "testCaseId": md5(full_name), "fullName": full_name,
            "historyId": get_history_id(full_name, [_Param(n, v) for n, v in params], original),
            "labels": [{"name": n, "value": v} for n, v in labels],
            "titlePath": path.removesuffix(".py").split("/"),
        })  # fmt: skip
        self.hand_over()

    def close(self) -> None:
        """The session ends: every file goes to the writer thread (report/allure.py flushes it)."""
        self.hand_over()
        if self in RESULT_WRITERS:
            RESULT_WRITERS.remove(self)

    def _result(self, item: pytest.Item, test: dict[str, Any]) -> dict[str, Any]:
        callspec = getattr(item, "callspec", None)
        original = callspec.params if callspec is not None else {}
        case = original.get("case")
        labels: list[tuple[str, str]] = []
        params: list[tuple[str, str]] = []
        description, links = allure_description(item), []
        facts = item.stash.get(FACTS, None)
        if facts is None and isinstance(case, Case):  # a case skipped before its fixture ran
            facts = case_facts(case)
        if facts is not None:
            labels += facts.labels
            params += [(n, represent(v)) for n, v in facts.parameters]
            description = facts.description or description
            if facts.link is not None:
                url, name = facts.link
                links.append({"type": "link", "url": self._link(url), "name": name})
        params += [(n, represent(v)) for n, v in original.items() if n not in dict(params)]
        full_name = allure_full_name(item)
        labels += sorted(allure_labels(item))
        labels += [("tag", mark) for mark in pytest_markers(item)]
        labels += allure_suite_labels(item)
        labels += [("host", self.host), ("thread", self.thread), ("framework", "pytest"),
                   ("language", self.language), ("package", allure_package(item))]  # fmt: skip
        links += [{"type": t, "url": u, "name": n} for t, u, n in allure_links(item)]
        history = get_history_id(full_name, [_Param(n, v) for n, v in params], original)
        result = {
            "name": allure_name(item, original, callspec.id if callspec is not None else None),
            "status": test["status"] or "skipped",
            "statusDetails": test.get("details"),
            "description": description,
            "attachments": test.get("attachments"),
            "parameters": [{"name": n, "value": v} for n, v in params],
            "start": test.get("start"), "stop": test.get("stop"), "uuid": str(uuid.uuid4()),
            "historyId": history, "testCaseId": md5(full_name), "fullName": full_name,
            "labels": [{"name": n, "value": v} for n, v in labels], "links": links,
            "titlePath": allure_title_path(item),
        }  # fmt: skip
        return result

    def _link(self, url: str) -> str:
        patterns = dict(getattr(self.config.option, "allure_link_pattern", None) or [])
        return str(patterns.get("link", "{}").format(url))


def _pruned(value: Any) -> Any:
    """What allure's file logger keeps of a value (``attr.asdict`` with ``v or v is False``):
    empty and None fields go, at every level."""
    if isinstance(value, dict):
        return {k: _pruned(v) for k, v in value.items() if v or v is False}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def _ms(seconds: float) -> int:
    return round(1000 * seconds)


def start(config: pytest.Config) -> None:
    """Registers the writer when ``--pixelproof-allure DIR`` was given (on xdist workers too:
    each writes the results of the tests it runs)."""
    directory = config.getoption("pixelproof_allure", None)
    if directory and not config.pluginmanager.has_plugin(PLUGIN_NAME):
        config.pluginmanager.register(AllureResults(Path(directory), config), PLUGIN_NAME)


def unobserved(
    config: pytest.Config, report: pytest.TestReport, status: str, facts: CaseFacts | None,
    original: dict[str, Any],
) -> None:  # fmt: skip
    """The controller's result for a test no worker reported on (crashed.py), when Allure
    results are asked for: ``original`` is the test's parameter, as in the worker's history id."""
    writer = config.pluginmanager.get_plugin(PLUGIN_NAME)
    if isinstance(writer, AllureResults):
        writer.unobserved(report, status, facts, original)


def stop(config: pytest.Config) -> None:
    writer = config.pluginmanager.get_plugin(PLUGIN_NAME)
    if isinstance(writer, AllureResults):
        writer.close()
