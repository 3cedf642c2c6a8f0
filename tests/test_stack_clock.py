"""The jumping clock runs use against the embedded stack (stack_clock.py, the mock's clock route
with ``settle``): the stack's jobs are waited for, and a stack that does not answer means real
sleeps, never a verdict bent by a clock that did not move. That its verdicts are those of the
FastForward clock, stuck tasks included: test_stuck_tasks.py, beside the FastForward judging it
is held to."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from conftest import STACK_KEY
from pixelproof import stack_clock
from pixelproof.mock.app import app_state, create_app
from pixelproof.mock.server import start
from pixelproof.mock.state import MockConfig
from pixelproof.stack_clock import StackClock

KEY = STACK_KEY


def test_settle_waits_for_a_running_job_before_the_clock_moves() -> None:
    """The job is released 0.3 s after the clock request is sent: the answer comes only once it
    is done. (A route that did not wait answers at once, with the job still running.)"""
    app = create_app(MockConfig(role="upstream", time_scale=1000))
    state = app_state(app)
    held: dict[str, Any] = {}

    async def hold(request: Request) -> JSONResponse:
        release = asyncio.Event()

        async def work() -> dict[str, Any]:
            await release.wait()
            return {}

        held["loop"], held["release"] = asyncio.get_running_loop(), release
        held["task"] = state.task_store().submit(work, run_s=1.0)
        return JSONResponse({"held": True})

    app.router.routes.append(Route("/hold", hold, methods=["POST"]))
    running = start(app)
    try:
        assert httpx.post(running.url + "/hold", verify=False).status_code == 200
        before = state.clock.now()
        timer = threading.Timer(0.3, lambda: held["loop"].call_soon_threadsafe(held["release"].set))
        timer.start()
        answer = httpx.post(running.url + "/__pixelproof/clock", json={"seconds": 500, "settle": 30},
                            timeout=60, verify=False)  # fmt: skip
        done_at_answer = held["task"].job.done()  # before the timer's thread is joined
        timer.join()
        assert answer.status_code == 200, answer.text
        assert done_at_answer, "the clock answered while the job was still running"
        assert answer.json()["clock"] >= before + 500
    finally:
        running.stop()


@pytest.mark.parametrize("settle", [-1, 61, True, "1"])
def test_settle_out_of_range_is_refused(settle: Any) -> None:
    running = start(create_app(MockConfig(role="upstream", time_scale=1000)))
    try:
        answer = httpx.post(
            running.url + "/__pixelproof/clock", json={"seconds": 1, "settle": settle}, verify=False
        )
        assert answer.status_code == 400
        assert "settle" in answer.json()["error"]["message"]
    finally:
        running.stop()


def test_a_stack_that_does_not_answer_means_real_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing listens on the port: the wait is slept for real and counted, never skipped."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    clock = StackClock([url], 1000, KEY)
    slept: list[float] = []
    monkeypatch.setattr(stack_clock.time, "sleep", slept.append)
    try:
        clock.sleep(0.25)
    finally:
        clock.close()
    assert clock.jumps == 0
    assert clock.skipped == 0, "nothing skipped: the clock is real time"
    assert len(slept) == 1
    assert 0 <= slept[0] <= 0.25  # what the failed connect left of the 0.25 s


def test_between_sleeps_the_clock_runs_in_real_time() -> None:
    """A poll's own request (a slow answer) counts toward its deadline, as under real time: the
    clock is real time plus what the jumps skipped, not the sum of the sleeps alone. (A clock that
    only moved in ``sleep`` stretched a stuck task behind a slow stack to 120 polls.)"""
    clock = StackClock(["http://127.0.0.1:9"], 1000, KEY)
    try:
        before = clock.monotonic()
        time.sleep(0.05)  # the request in flight
        assert clock.monotonic() - before >= 0.05
    finally:
        clock.close()
