"""The mock's JSON answers, encoded by orjson when it is installed.

A generation answer is mostly one long base64 string; the standard encoder scans and copies it
character by character (about 0.1-0.6 ms for a 22 KB answer here), orjson in a few microseconds,
which bench/bench_mock.py --raw shows in the mock's CPU per request. The bytes are the same
compact JSON starlette writes (no spaces, UTF-8, no NaN); anything orjson refuses (integer keys,
integers beyond 64 bits) falls back to the standard encoder.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse as _StarletteJSON

try:
    import orjson
except ImportError:  # optional: the mock works the same without it, only slower
    orjson = None  # type: ignore[assignment]


def dumps(content: Any) -> bytes:
    if orjson is not None:
        try:
            return orjson.dumps(content)
        except (TypeError, orjson.JSONEncodeError):
            pass
    return json.dumps(
        content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


class JSONResponse(_StarletteJSON):
    def render(self, content: Any) -> bytes:
        return dumps(content)
