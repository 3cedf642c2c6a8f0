"""What reached the mock: every request, redacted, in a bounded buffer readable over HTTP.

This is how a suite sees what a gateway *forwarded*. Credentials never enter the buffer. The
buffer is bounded by records *and* bytes: a long string (a base64 image) is kept as its size,
hash and a prefix, a body still too large is kept only as that summary, and the oldest records
go when the total passes the byte cap. Whatever is kept can be served back as JSON.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from pixelproof.mock.jsonresp import orjson


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
        """Body text to match a request by (suites put a nonce in every prompt). Written once:
        the body never changes once recorded, and the harness asks of every record many times."""
        text = self.__dict__.get("_searchable")
        if text is None:
            text = json.dumps([self.json, self.form], default=str, ensure_ascii=False)
            self.__dict__["_searchable"] = text
        return text


LONG_STRING = 4096  # characters: longer strings are kept as size, hash and prefix
KEPT_BODY = 256 * 1024  # bytes of JSON per record; beyond it only the summary is kept
PREFIX = 256


_HASH_STEP = 1 << 20  # characters hashed at a time: a 41 MB string is never copied whole


def _escaped(text: str) -> str:
    """Lone surrogates as backslash escapes: what JSON can carry back."""
    return text if text.isascii() else text.encode("utf-8", "backslashreplace").decode("utf-8")


def summary(text: str) -> str:
    """A long string as the recorder keeps it: still a string (counts and types hold), with its
    start and end (a probe's nonce ends its prompt). Length and hash are of the escaped text,
    computed a slice at a time (a base64 reference can be 41 MB)."""
    digest, length = hashlib.sha256(), 0
    for start in range(0, len(text), _HASH_STEP):
        piece = _escaped(text[start : start + _HASH_STEP])
        digest.update(piece.encode("utf-8"))
        length += len(piece)
    head, tail = _escaped(text[:PREFIX])[:PREFIX], _escaped(text[-PREFIX:])[-PREFIX:]
    return f"[{length} chars, sha256 {digest.hexdigest()[:16]}] {head} ... {tail}"


def _flat(value: dict[Any, Any]) -> dict[str, Any] | None:
    """``servable(value)`` for the usual record field (headers, a query, a form, a small JSON
    object): a copy of a dict whose keys are strings and values strings, integers, booleans or
    None, each string ASCII and short (then servable changes nothing); None for anything else."""
    for key, item in value.items():
        if type(key) is not str or len(key) > LONG_STRING or not key.isascii():
            return None
        kind = type(item)
        if kind is str:
            if len(item) > LONG_STRING or not item.isascii():
                return None
        elif kind is not int and kind is not bool and item is not None:
            return None
    return dict(value)


def servable(value: Any) -> Any:
    """``value`` in a form JSON can carry back: long strings summarized, lone surrogates
    escaped, non-finite numbers as strings (they would make every later read a 500)."""
    if type(value) is dict and (copied := _flat(value)) is not None:
        return copied
    return walked(value)


def walked(value: Any) -> Any:
    """``servable``'s value, walked (the reference ``_flat`` is held to)."""
    if isinstance(value, str):
        value = _escaped(value)  # a no-op (no copy) for ASCII, such as a 41 MB base64 reference
        return summary(value) if len(value) > LONG_STRING else value
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list):
        return [walked(v) for v in value]
    if isinstance(value, dict):
        return {walked(str(k)): walked(v) for k, v in value.items()}
    return value


def _weight(item: Recorded) -> int:
    """Bytes of the record as JSON. Its fields are already JSON-like, so they are dumped as they
    are: ``asdict``'s deep copy cost a fifth of the mock's CPU per request; orjson writes them in
    a tenth of the standard encoder's time (compact: a little fewer bytes than it counted)."""
    fields = vars(item)  # before any query: no cached search text in it yet
    if orjson is not None:
        try:
            return len(orjson.dumps(fields, default=str))
        except TypeError:  # keys that are not strings, integers past 64 bits
            pass
    return len(json.dumps(fields, default=str))


SERVED = ("json", "form", "query", "headers")  # the fields ``servable`` makes JSON-safe


class Recorder:
    """A thread-safe ring buffer of ``Recorded`` requests, capped by count and by bytes."""

    def __init__(self, capacity: int = 5000, max_bytes: int = 64 * 1024 * 1024) -> None:
        self._items: deque[tuple[Recorded, int]] = deque()
        self.capacity, self.max_bytes = capacity, max_bytes
        self._bytes = 0
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, item_fields: dict[str, Any]) -> Recorded:
        fields = dict(item_fields)
        for name in SERVED:  # copied or walked: the record never shares the caller's objects
            if name in fields:
                fields[name] = servable(fields[name])
        with self._lock:
            item = Recorded(seq=next(self._seq), **fields)
            weight = _weight(item)
            if weight > KEPT_BODY and item.json is not None:
                text = json.dumps(item.json)
                item.json = {"pixelproof_summary": summary(text), "bytes": len(text)}
                weight = _weight(item)
            self._items.append((item, weight))
            self._bytes += weight
            while self._items and (
                len(self._items) > self.capacity or self._bytes > self.max_bytes
            ):
                self._bytes -= self._items.popleft()[1]
            return item

    def query(
        self,
        path: str | None = None,
        method: str | None = None,
        since: int = 0,
        tag: str | None = None,
        contains: str | None = None,
        limit: int = 1000,
        before: int | None = None,
    ) -> list[Recorded]:
        with self._lock:
            items = [item for item, _ in self._items]
        out = [
            i
            for i in items
            if i.seq > since
            and (before is None or i.seq < before)
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
            self._bytes = 0
            return n

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self._items[-1][0].seq if self._items else 0
