"""The live progress line: what it says, when it is silent, and that pytest's letters stay out of
its way (run in a sandboxed pytest with a fake clock; no sleeps)."""

from __future__ import annotations

import io
import threading
from types import SimpleNamespace

import pytest

from pixelproof.report.progress import LiveProgress, wanted

pytest_plugins = ["pytester"]


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_only_on_a_terminal_outside_ci() -> None:
    assert wanted(Tty(), env={})
    assert not wanted(io.StringIO(), env={})
    assert not wanted(Tty(), env={"CI": "true"})
    assert not wanted(Tty(), env={}, verbose=1)


def report(nodeid: str, when: str, outcome: str = "passed", **props: int) -> SimpleNamespace:
    return SimpleNamespace(nodeid=nodeid, when=when, failed=outcome == "failed",
                           user_properties=list(props.items()))  # fmt: skip


def test_the_line_counts_cases_requests_images_failures_and_time() -> None:
    clock = FakeClock()
    progress = LiveProgress(clock)
    progress.total = 5
    for phase in ("setup", "call", "teardown"):
        progress.record(
            report("a", phase, requests=3, images=2) if phase != "call" else report("a", phase)
        )
    progress.record(report("b", "setup", requests=1, images=1))
    progress.record(report("b", "call", "failed", requests=1, images=1))
    progress.record(report("b", "teardown", requests=1, images=1))
    clock.now += 75
    assert progress.line() == (
        "pixelproof: 2/5 cases judged · 4 requests · 3 images · 1 failing · 1:15 elapsed"
    )


def test_redraws_at_most_ten_times_a_second() -> None:
    clock = FakeClock()
    progress = LiveProgress(clock)
    drawn: list[str] = []
    progress._write = drawn.append
    progress.draw()
    clock.now += 0.05
    progress.draw()
    clock.now += 0.06
    progress.draw()
    progress.draw(force=True)
    assert len(drawn) == 3


def test_the_line_keeps_ticking_while_a_case_is_pending_and_stops_with_the_session() -> None:
    clock = FakeClock()
    progress = LiveProgress(clock)
    drawn: list[str] = []
    ticked = threading.Event()

    def write(text: str) -> None:
        drawn.append(text)
        ticked.set()

    progress._write = write
    clock.now += 61  # a slow case: no report arrives, the clock moves
    progress.start_ticking(interval_s=0.001)
    assert ticked.wait(10)
    progress.stop_ticking()
    assert progress._ticker is not None
    assert not progress._ticker.is_alive()
    assert "1:01 elapsed" in drawn[0]


def test_in_a_pytest_run_the_line_replaces_the_letters(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("i", range(4))
        def test_case(i, request):
            request.node.user_properties += [("requests", 2), ("images", 1)]
            assert i != 3
        """
    )
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "-o", "console_output_style=classic", plugins=[LiveProgress()]
    )
    out = result.stdout.str()
    assert "pixelproof: 4/4 cases judged · 8 requests · 4 images · 1 failing" in out
    prefix = "test_in_a_pytest_run_the_line_replaces_the_letters.py "  # pytest's per-file line
    assert not any(line.startswith(prefix) for line in result.outlines)
    assert "...F" not in out
    result.assert_outcomes(passed=3, failed=1)
