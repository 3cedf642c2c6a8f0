"""Allure labels and attachments for suite tests (no-ops when allure-pytest is not active).

epic = surface, feature = rule kind, story = rule id; the model and the case are parameters so
each rule x model keeps its own history; the source is a link; failures attach the request and
response excerpt and, for image rules, the returned image.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import allure
import allure_commons
import pytest
from allure_commons.logger import AllureFileLogger
from attr import asdict

if TYPE_CHECKING:
    from pixelproof.fuzz.targets import FuzzTarget
    from pixelproof.judging.failures import RuleFailure
    from pixelproof.plan import Case

SEVERITY = {"MUST": allure.severity_level.CRITICAL, "SHOULD": allure.severity_level.NORMAL}
MAX_ATTACHED_IMAGE = 4 * 1024 * 1024


@dataclass(frozen=True)
class CaseFacts:
    """What Allure shows of a case (a rule x model, or a fuzz target): given to allure-pytest's
    dynamic API when its listener runs (``pytest suites --alluredir``) and to the run's own result
    writer (report/allure_results.py), which reads it from the test's stash."""

    labels: tuple[tuple[str, str], ...]
    parameters: tuple[tuple[str, str], ...]
    description: str | None = None
    link: tuple[str, str] | None = None  # url, name


FACTS = pytest.StashKey[CaseFacts]()


def case_facts(case: Case) -> CaseFacts:
    rule = case.rule
    return CaseFacts(
        labels=(("epic", case.surface), ("feature", rule.kind), ("story", rule.id),
                ("severity", SEVERITY[rule.severity].value)),
        parameters=(("model", case.model or "*"), ("case", case.id)),
        description=f'{rule.statement}\n\nSource: {rule.cite()}: "{rule.source.quote}"',
        link=(f"contracts/sources/{rule.source.doc}", rule.cite()),
    )  # fmt: skip


def fuzz_facts(target: FuzzTarget) -> CaseFacts:
    """The operation and the mode are parameters, so each target keeps its own history."""
    labels = (("epic", target.surface), ("feature", "fuzz"), ("story", target.rule_id))
    return CaseFacts(labels, (("operation", target.label), ("mode", target.mode)))


def label(node: pytest.Item, facts: CaseFacts, title: str) -> None:
    """The case's labels, parameters, description and link, for whichever writer runs."""
    node.stash[FACTS] = facts
    for name, value in facts.labels:
        if name == "severity":
            allure.dynamic.severity(allure.severity_level(value))
        else:
            getattr(allure.dynamic, name)(value)
        if name == "story":
            allure.dynamic.title(title)
    for name, value in facts.parameters:
        allure.dynamic.parameter(name, value)
    if facts.description is not None:
        allure.dynamic.description(facts.description)
    if facts.link is not None:
        allure.dynamic.link(facts.link[0], name=facts.link[1])


def failure_attachments(failure: RuleFailure) -> list[tuple[str, bytes, str, str]]:
    """(name, body, mime type, extension) of what a failure attaches: the request and response
    text, and up to three returned images of at most 4 MiB each."""
    text = f"expected: {failure.expected}\nobserved: {failure.observed}\n\n{failure.request}\n\n{failure.response}"
    out = [("request and response", text.encode("utf-8"), "text/plain", "txt")]
    for i, data in enumerate(failure.images[:3]):
        if len(data) <= MAX_ATTACHED_IMAGE:
            from pixelproof.images import sniff

            fmt = sniff(data) or "png"
            mime = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}.get(
                fmt, "image/png"
            )
            out.append((f"returned image {i + 1}", data, mime, fmt))
    return out


# the run's own result writers (report/allure_results.py) take a failure's attachments too
RESULT_WRITERS: list[Any] = []


def attach(name: str, body: bytes, mime: str, ext: str) -> None:
    """A file for the test now running, in whichever writer runs."""
    if mime == "text/plain":
        allure.attach(body.decode("utf-8"), name=name, attachment_type=allure.attachment_type.TEXT)
    else:
        allure.attach(body, name=name, attachment_type=mime, extension=ext)
    for writer in RESULT_WRITERS:
        writer.attach(name, body, mime, ext)


def attach_failure(failure: RuleFailure) -> None:
    for name, body, mime, ext in failure_attachments(failure):
        attach(name, body, mime, ext)


class _Writer:
    """Writes the result files in a thread of its own: creating ~1,500 files cost the thread that
    runs the tests 0.2-1.2 s of waiting on the file system per run (more when other processes
    write a lot), time it can spend on the next test. ``flush`` waits until every file queued is
    written (the plugin calls it when the session ends, before any report is read). The queue is
    a SimpleQueue (put in C: queue.Queue's Python-level condition took ~0.7 s of py-spy samples
    of the tests' thread in a serial run, handing the GIL back and forth on each put); the run's
    own writer hands it files in batches (``put_many``), so the thread wakes once a batch."""

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[list[tuple[Path, bytes]] | threading.Event] = (
            queue.SimpleQueue()
        )
        self.errors: list[str] = []
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def forget(self) -> None:
        """A forked child's writer (`run -n N`'s workers, pixelproof.lanes): nothing queued, no
        thread, fresh locks. What the parent queued is the parent's to write, and a lock or
        queue its thread held at the fork would stay held here for ever."""
        self.__init__()  # type: ignore[misc]

    def _running(self) -> None:
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(
                    target=self._work, name="pixelproof-allure", daemon=True
                )
                self.thread.start()

    def put(self, path: Path, data: bytes) -> None:
        self.put_many([(path, data)])

    def put_many(self, files: list[tuple[Path, bytes]]) -> None:
        self._running()
        self.queue.put(files)

    def _work(self) -> None:
        while True:
            job = self.queue.get()
            if isinstance(job, threading.Event):  # flush: everything before it is written
                job.set()
                continue
            self.write_now(job)

    def write_now(self, files: list[tuple[Path, bytes]]) -> None:
        """Writes ``files`` in the calling thread (what failed stays for ``flush`` to say). For
        a caller that would wait for them anyway: an xdist worker after each test, where
        handing each test's file to the thread and waiting cost two thread switches a test
        (0.85 s of the rule worker's wall time over 729 tests in a loaded `-n auto` run)."""
        for path, data in files:
            try:  # written whole, then renamed: a reader never sees half a file
                tmp = path.with_name(path.name + ".tmp")
                tmp.write_bytes(data)
                os.replace(tmp, path)
            except OSError as exc:
                self.errors.append(f"{path.name}: {exc.strerror or exc}")

    def wait(self) -> None:
        """Waits for the files queued so far (what failed stays for ``flush`` to say)."""
        if self.thread is not None:
            self._running()
            done = threading.Event()
            self.queue.put(done)
            done.wait()

    def flush(self) -> list[str]:
        """Waits for the files queued so far; returns (and forgets) the ones that failed."""
        self.wait()
        errors, self.errors = self.errors, []
        return errors


WRITER = _Writer()
os.register_at_fork(after_in_child=WRITER.forget)


def flush_results() -> list[str]:
    return WRITER.flush()


class _OnePieceFileLogger(AllureFileLogger):  # type: ignore[misc]
    """The same JSON files (no indent, as allure's default), each encoded at once and written by
    ``WRITER``'s thread."""

    def _report_item(self, item: Any) -> None:
        data = asdict(item, filter=lambda _, v: v or v is False)
        name = item.file_pattern.format(prefix=uuid.uuid4())
        WRITER.put(self._report_dir / name, json.dumps(data, ensure_ascii=False).encode("utf-8"))


def write_results_in_one_piece() -> int:
    """allure-pytest's file logger writes each result with ``json.dump`` to the file: the pure
    Python encoder, a write per token, ~1,500 files in a default run (0.25 of the controller's
    ~7 CPU-s, py-spy). The logger it registered writes the same JSON encoded at once by the C
    encoder instead (not with ALLURE_INDENT_OUTPUT). Returns how many loggers it changed."""
    changed = 0
    for plugin in allure_commons.plugin_manager.get_plugins():
        if type(plugin) is AllureFileLogger and not os.environ.get("ALLURE_INDENT_OUTPUT"):
            plugin.__class__ = _OnePieceFileLogger
            changed += 1
    return changed
