"""What every API dialect answers to: where its images are, its task id and its task status.

A dialect reads bodies; it never sends anything. Judging decodes and downloads what it points at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class ImageRef:
    """One image an answer carries: base64 data, a URL, or why the item is no image at all."""

    source: str  # the field it came from, for messages: "b64_json", "inlineData", "image_urls"
    b64: Any = None
    url: Any = None
    mime: str | None = None  # the type the answer declares, where the dialect has one
    problem: str | None = None


class Dialect(Protocol):
    name: str

    def images(self, body: Any) -> list[ImageRef]: ...

    def task_id(self, body: Any) -> str | None: ...

    def task_status(self, body: Any) -> str | None: ...


def dig(body: Any, *path: str | int) -> Any:
    """``body[p0][p1]...`` or None where any step is missing or of the wrong type."""
    for step in path:
        try:
            body = body[step]
        except (KeyError, IndexError, TypeError):
            return None
    return body


def text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def is_http_url(value: Any) -> bool:
    """An http(s) URL, its scheme in any case (RFC 3986 §3.1: ``HTTP://`` is one too)."""
    return isinstance(value, str) and value[:8].lower().startswith(("http://", "https://"))


def dict_items(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
