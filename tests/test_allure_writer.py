"""allure's result files, written in one piece (report/allure.py): the same JSON as allure's
own file logger writes, from the logger allure-pytest registered."""

from __future__ import annotations

import json
from pathlib import Path

import allure_commons
from allure_commons import model2
from allure_commons.logger import AllureFileLogger

from pixelproof.report.allure import _Writer, flush_results, write_results_in_one_piece


def _result() -> model2.TestResult:
    return model2.TestResult(name="test_size[size.gpt-image-2.1:1 — 猫]", status="passed", uuid="u-1",
                      labels=[model2.Label(name="epic", value="unified")], start=1, stop=2,
                      parameters=[model2.Parameter(name="model", value="'gpt-image-2'")])  # fmt: skip


def test_the_registered_logger_writes_what_allure_wrote(tmp_path: Path) -> None:
    theirs, ours = tmp_path / "theirs", tmp_path / "ours"
    AllureFileLogger(theirs).report_result(_result())
    logger = AllureFileLogger(ours)
    allure_commons.plugin_manager.register(logger)
    try:
        assert write_results_in_one_piece() == 1
        assert type(logger) is not AllureFileLogger
        allure_commons.plugin_manager.hook.report_result(result=_result())
        assert flush_results() == []
    finally:
        allure_commons.plugin_manager.unregister(logger)
    (their_file,), (our_file,) = list(theirs.iterdir()), list(ours.iterdir())
    assert our_file.name.endswith("-result.json")
    assert our_file.read_text(encoding="utf-8") == their_file.read_text(encoding="utf-8")
    assert json.loads(our_file.read_text(encoding="utf-8"))["name"].endswith("猫]")


def test_a_result_that_cannot_be_written_is_named_when_the_session_flushes(tmp_path: Path) -> None:
    """Written in a thread: a failure there is not lost but named by ``flush_results``."""
    gone = tmp_path / "gone"
    logger = AllureFileLogger(gone)
    allure_commons.plugin_manager.register(logger)
    try:
        write_results_in_one_piece()
        gone.rmdir()
        allure_commons.plugin_manager.hook.report_result(result=_result())
        problems = flush_results()
    finally:
        allure_commons.plugin_manager.unregister(logger)
    assert len(problems) == 1
    assert problems[0].endswith("-result.json: No such file or directory")
    assert flush_results() == []  # reported once


def test_write_now_writes_in_the_calling_thread_and_keeps_failures_for_flush(
    tmp_path: Path,
) -> None:
    """What an xdist worker does after each test (allure_results): no thread started for it,
    the file whole on disk when the call returns, a failure named by ``flush`` as a thread's."""
    writer = _Writer()
    writer.write_now([(tmp_path / "a-result.json", b'{"a": 1}')])
    assert (tmp_path / "a-result.json").read_bytes() == b'{"a": 1}'
    assert not list(tmp_path.glob("*.tmp"))
    assert writer.thread is None
    writer.write_now([(tmp_path / "gone" / "b-result.json", b"{}")])
    assert writer.flush() == ["b-result.json: No such file or directory"]
