"""What reached the mock: every request, redacted, in a bounded buffer readable over HTTP.

This is how a suite sees what a gateway *forwarded*. Credentials never enter the buffer.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any


def summarize_file(filename: str | None, content_type: str | None, data: bytes) -> dict[str, Any]:
    return {
        "filename": filename,
        "content_type": content_type,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


@dataclass
class Recorded:
    seq: int
    time: float
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any = None
    form: dict[str, Any] = field(default_factory=dict)
    files: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    body_size: int = 0
    status: int | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def searchable(self) -> str:
        """Body text to match a request by (suites put a nonce in every prompt)."""
        return json.dumps([self.json, self.form], default=str, ensure_ascii=False)


class Recorder:
    """A thread-safe ring buffer of ``Recorded`` requests."""

    def __init__(self, capacity: int = 5000) -> None:
        self._items: deque[Recorded] = deque(maxlen=capacity)
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, item_fields: dict[str, Any]) -> Recorded:
        with self._lock:
            item = Recorded(seq=next(self._seq), **item_fields)
            self._items.append(item)
            return item

    def query(
        self,
        path: str | None = None,
        method: str | None = None,
        since: int = 0,
        tag: str | None = None,
        contains: str | None = None,
        limit: int = 1000,
    ) -> list[Recorded]:
        with self._lock:
            items = list(self._items)
        out = [
            i
            for i in items
            if i.seq > since
            and (
                path is None
                or i.path == path
                or (path.endswith("*") and i.path.startswith(path[:-1]))
            )
            and (method is None or i.method == method.upper())
            and (tag is None or i.headers.get("x-pixelproof-tag") == tag)
            and (contains is None or contains in i.searchable())
        ]
        return out[-limit:]

    def clear(self) -> int:
        with self._lock:
            n = len(self._items)
            self._items.clear()
            return n

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self._items[-1].seq if self._items else 0
