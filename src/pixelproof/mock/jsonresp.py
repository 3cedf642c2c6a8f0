"""The mock's JSON answers, encoded by orjson when it is installed.

A generation answer is mostly one long base64 string; the standard encoder scans and copies it
character by character (about 0.1-0.6 ms for a 22 KB answer here), orjson in a few microseconds,
which bench/bench_mock.py --raw shows in the mock's CPU per request. The bytes are the same
compact JSON starlette writes (no spaces, UTF-8, no NaN); anything orjson refuses (integer keys,
integers beyond 64 bits) falls back to the standard encoder.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.background import BackgroundTask
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
    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        """Starlette's fields, set directly for the mock's usual answer (no extra headers, media
        type or background task, a status with a body): the same two headers in the same order,
        without ``init_headers``' general path. Anything else takes Starlette's own."""
        if headers is None and media_type is None and background is None and status_code >= 200 \
                and status_code not in (204, 304) and type(self).render is JSONResponse.render:  # fmt: skip
            self.status_code, self.background = status_code, None
            self.body = body = dumps(content)
            self.raw_headers = [(b"content-length", b"%d" % len(body)), _CONTENT_TYPE]
            return
        super().__init__(content, status_code, headers, media_type, background)

    def render(self, content: Any) -> bytes:
        return dumps(content)


_CONTENT_TYPE = (b"content-type", JSONResponse.media_type.encode("latin-1"))
