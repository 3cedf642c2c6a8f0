"""Configuration and shared state of one mock server (either role)."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Literal

from pixelproof.mock.clock import Clock
from pixelproof.mock.recorder import Recorder
from pixelproof.mock.tasks import TaskStore

Role = Literal["upstream", "gateway"]


@dataclass
class MockConfig:
    role: Role = "upstream"
    api_key: str | None = None
    faults: frozenset[str] = frozenset()
    time_scale: float = 1.0
    upstream_url: str | None = None  # gateway role: where the vendor mock (or a vendor) lives
    upstream_key: str | None = None
    public_url: str | None = None  # base for url answers; default: the request's own base URL
    max_body_bytes: int = 64 * 1024 * 1024
    record_capacity: int = 5000
    record_max_bytes: int = 64 * 1024 * 1024  # the recorder's byte cap (oldest records go first)
    job_seconds: float = 15.0  # documented-scale duration of an async job (before time scaling)


@dataclass
class StoredFile:
    data: bytes
    media_type: str
    expires_at: float
    ttl_s: float


class FileStore:
    """Images served by URL, expiring on the mock's clock; bounded (oldest evicted)."""

    def __init__(self, clock: Clock, capacity: int = 4000) -> None:
        self._clock = clock
        self._files: OrderedDict[str, StoredFile] = OrderedDict()
        self._capacity = capacity

    def put(self, data: bytes, media_type: str, ttl_s: float, ext: str) -> str:
        token = f"{secrets.token_urlsafe(12)}.{ext}"
        self._files[token] = StoredFile(data, media_type, self._clock.now() + ttl_s, ttl_s)
        while len(self._files) > self._capacity:
            self._files.popitem(last=False)
        return token

    def get(self, token: str, age_s: float | None = None) -> StoredFile | None:
        """The file if it is still valid now, or (``age_s``) at that age: a lifetime is judged
        without waiting for it, and without moving the clock other requests share."""
        item = self._files.get(token)
        if item is None or item.expires_at < self._clock.now():
            return None
        if age_s is not None and age_s > item.ttl_s:
            return None
        return item


@dataclass
class MockState:
    config: MockConfig
    clock: Clock = field(init=False)
    recorder: Recorder = field(init=False)
    files: FileStore = field(init=False)
    started: float = field(default_factory=time.time)
    task_stores: list[TaskStore] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.clock = Clock(self.config.time_scale)
        self.recorder = Recorder(self.config.record_capacity, self.config.record_max_bytes)
        self.files = FileStore(self.clock)

    def task_store(self) -> TaskStore:
        """A task store on this mock's clock, known to ``busy`` (so a test can wait for its jobs)."""
        store = TaskStore(self.clock)
        self.task_stores.append(store)
        return store

    def busy(self) -> list[asyncio.Task[Any]]:
        """The jobs this mock has started and not finished (rendering, calls to its upstream)."""
        return [job for store in self.task_stores for job in store.running()]
