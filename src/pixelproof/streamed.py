"""JSON request bodies whose long strings are written in pieces, never held whole.

A 31 MB reference image is 41 MB of base64. Built as a string, dumped as JSON and encoded, it
held three copies at once (~150 MB of the controller's peak, the largest of a whole run). A
``StreamedText`` stands in for such a string: the body is serialized around it and its text is
produced a few MB at a time while the request is written, with an exact Content-Length.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

_MARK = "\x00pixelproof-streamed-"
_MARKED = re.compile(r'"\\u0000pixelproof-streamed-(\d+)"')


@dataclass(frozen=True)
class StreamedText:
    """A JSON string of ``length`` characters, produced by ``pieces()`` as ASCII bytes that need
    no JSON escaping (base64 does not), each call starting afresh (a request can be resent)."""

    length: int
    pieces: Callable[[], Iterator[bytes]]

    def __len__(self) -> int:
        return self.length

    def head(self, n: int) -> str:
        """The first ``n`` characters (for reports, which never keep the whole text)."""
        out = b""
        for piece in self.pieces():
            out += piece[: n - len(out)]
            if len(out) >= n:
                break
        return out.decode("ascii")

    def text(self) -> str:
        """The whole text (tests compare it; requests never need it whole)."""
        return b"".join(self.pieces()).decode("ascii")


def has_streamed(value: Any) -> bool:
    if isinstance(value, StreamedText):
        return True
    if isinstance(value, list):
        return any(has_streamed(v) for v in value)
    if isinstance(value, dict):
        return any(has_streamed(v) for v in value.values())
    return False


def json_stream(body: Any) -> tuple[int, Callable[[], Iterator[bytes]]]:
    """(Content-Length, a factory of the body's bytes): the JSON httpx would send for ``body``
    (compact, UTF-8), with every ``StreamedText`` written in place from its pieces."""
    found: list[StreamedText] = []

    def mark(value: Any) -> str:
        if not isinstance(value, StreamedText):
            raise TypeError(f"{type(value).__name__} is not JSON serializable")
        found.append(value)
        return f"{_MARK}{len(found) - 1}"

    text = json.dumps(
        body, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=mark
    )
    parts = _MARKED.split(text)  # literal, index, literal, index, ..., literal
    literals = [p.encode("utf-8") for p in parts[0::2]]
    streams = [found[int(i)] for i in parts[1::2]]
    length = sum(map(len, literals)) + sum(s.length + 2 for s in streams)

    def chunks() -> Iterator[bytes]:
        for literal, streamed in zip(literals, [*streams, None], strict=True):
            if literal:
                yield literal
            if streamed is not None:
                yield b'"'
                yield from streamed.pieces()
                yield b'"'

    return length, chunks
