"""Async jobs on the mock's clock: queued -> processing -> completed | failed.

The work itself (rendering, or calls to the upstream) starts at submission; the reported state
follows the clock, so a documented 15 s job takes 15 ms at ``--time-scale 1000``.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pixelproof.mock.errors import ApiError

if TYPE_CHECKING:
    from pixelproof.mock.clock import Clock

Work = Callable[[], Awaitable[dict[str, Any]]]


@dataclass
class Task:
    id: str
    created: float
    queue_s: float
    run_s: float
    job: asyncio.Task[dict[str, Any]] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    stuck: bool = False

    def state(self, now: float) -> str:
        if now < self.created + self.queue_s:
            return "queued"
        if (
            self.stuck
            or now < self.created + self.queue_s + self.run_s
            or not self.job
            or not self.job.done()
        ):
            return "processing"
        return "failed" if self.error() else "completed"

    def result(self) -> dict[str, Any] | None:
        if (
            self.job
            and self.job.done()
            and not self.job.cancelled()
            and self.job.exception() is None
        ):
            return self.job.result()
        return None

    def error(self) -> dict[str, str] | None:
        if not self.job or not self.job.done():
            return None
        if self.job.cancelled():
            return {"code": "cancelled", "message": "the job was cancelled"}
        exc = self.job.exception()
        if exc is None:
            return None
        if isinstance(exc, ApiError):
            return {"code": exc.code or exc.type, "message": exc.message}
        return {"code": "internal_error", "message": f"{type(exc).__name__}: {exc}"}


class TaskStore:
    """Bounded store of tasks (oldest evicted) keyed by id."""

    def __init__(self, clock: Clock, capacity: int = 10000) -> None:
        self._clock = clock
        self._tasks: OrderedDict[str, Task] = OrderedDict()
        self._capacity = capacity

    def submit(
        self,
        work: Work,
        run_s: float,
        queue_s: float = 2.0,
        task_id: str | None = None,
        **meta: Any,
    ) -> Task:
        task = Task(
            id=task_id or f"task_{secrets.token_hex(8)}",
            created=self._clock.now(),
            queue_s=queue_s,
            run_s=run_s,
            job=asyncio.get_running_loop().create_task(work()),
            meta=dict(meta),
        )
        assert task.job is not None
        task.job.add_done_callback(
            _retrieve
        )  # a failure nobody polls is still not an "unretrieved" error
        self._tasks[task.id] = task
        while len(self._tasks) > self._capacity:
            _, old = self._tasks.popitem(last=False)
            if old.job and not old.job.done():
                old.job.cancel()
        return task

    def running(self) -> list[asyncio.Task[dict[str, Any]]]:
        return [t.job for t in list(self._tasks.values()) if t.job and not t.job.done()]

    def get(self, task_id: str) -> Task | None:
        return self._tasks.get(task_id)

    def forget(self, task_id: str) -> None:
        self._tasks.pop(task_id, None)

    def now(self) -> float:
        return self._clock.now()


def _retrieve(job: asyncio.Task[dict[str, Any]]) -> None:
    if not job.cancelled():
        job.exception()
