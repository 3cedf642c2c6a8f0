"""A fuzz finding as pixelproof prints every failure: which check (a rule id where one applies,
else ``fuzz.<check>``), expected, observed, and the request that reproduces it (credentials
redacted, long base64 shortened, files shown as ``@file`` parts)."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

from pixelproof.images import sniff
from pixelproof.redact import REDACTED, SECRET_HEADERS

SHOWN_HEADERS = ("content-type", "x-pixelproof-fault")
EXT = {"png": "png", "jpeg": "jpg", "webp": "webp", "gif": "gif"}


@dataclass(frozen=True)
class Finding:
    operation: str  # "tasks-action POST /v1/images/generations"
    check: str
    expected: str
    observed: str
    request: str  # a curl command line
    case: str = ""  # what the case was (a targeted mutation's description, or the generation mode)

    def render(self, count: int = 1) -> str:
        seen = f" (seen {count} times)" if count > 1 else ""
        lines = [f"{self.check} on {self.operation}{seen}", f"    expected: {self.expected}",
                 f"    observed: {self.observed}"]  # fmt: skip
        if self.case:
            lines.append(f"    case: {self.case}")
        lines.append(f"    request: {self.request}")
        return "\n".join(lines)


def _shorten(value: Any) -> Any:
    if isinstance(value, str) and len(value) > 120:
        return value[:48] + f"...({len(value)} chars)"
    if isinstance(value, list):
        return [_shorten(v) for v in value]
    if isinstance(value, dict):
        return {k: _shorten(v) for k, v in value.items()}
    return value


def _parts(body: dict[str, Any]) -> list[str]:
    out = []
    for name, value in body.items():
        values = value if isinstance(value, list) else [value]
        for item in values:
            item = getattr(item, "data", item)
            if isinstance(item, bytes | bytearray):
                ext = EXT.get(sniff(bytes(item)) or "", "bin")
                out += ["-F", shlex.quote(f"{name}=@{name.strip('[]')}.{ext}")]
            else:
                out += ["-F", shlex.quote(f"{name}={item}")]
    return out


def curl_of(method: str, url: str, headers: dict[str, str], body: Any, media_type: str | None,
            secret: tuple[str, ...] = (), shown: tuple[str, ...] = ()) -> str:  # fmt: skip
    """A curl command line for one request, safe to paste into a report. ``shown``: the profile's
    own headers (a gateway may route by them, so a reproduction needs them; never secrets)."""
    words = ["curl", "-X", method.upper(), shlex.quote(url)]
    for name, value in headers.items():
        low = name.lower()
        if low in SECRET_HEADERS or low in secret:
            scheme = value.split(" ", 1)[0] + " " if " " in value else ""
            words += ["-H", shlex.quote(f"{name}: {scheme}{REDACTED}")]
        elif low in SHOWN_HEADERS or low in shown:
            words += ["-H", shlex.quote(f"{name}: {value}")]
    if media_type == "multipart/form-data" and isinstance(body, dict):
        return " ".join(words + _parts(body))
    if body is None:
        return " ".join(words)
    if isinstance(body, bytes | bytearray):
        text = bytes(body)[:200].decode("utf-8", "backslashreplace")
    else:
        text = json.dumps(_shorten(body), ensure_ascii=False, default=str)
    if media_type and not any(h.lower() == "content-type" for h in headers):
        words += ["-H", shlex.quote(f"Content-Type: {media_type}")]
    return " ".join([*words, "--data-raw", shlex.quote(text)])
