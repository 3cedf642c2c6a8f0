"""Producing answers: real images of an exact size, as base64 or as URLs the mock serves."""

from __future__ import annotations

import base64
import functools
from typing import TYPE_CHECKING, Any

from pixelproof.images import (
    MIME,
    ImageError,
    RenderSpec,
    b64decode_strict,
    decode,
    render,
    render_b64,
    shade_for,
)
from pixelproof.mock.errors import ApiError

if TYPE_CHECKING:
    from pixelproof.geometry import Size
    from pixelproof.mock.http import Incoming

FILES_PREFIX = "/__pixelproof/files/"
EXT = {"png": "png", "jpeg": "jpg", "webp": "webp"}


@functools.lru_cache(maxsize=512)
def spec(
    size: Size, fmt: str, model: str, transparent: bool = False, watermark: bool = False
) -> RenderSpec:
    """What to render. The shade follows the model, not the prompt: the same request always gives
    the same image, and every request for one model and size shares one cached encoding. The spec
    is frozen and holds no pixels, so one instance per argument list serves every request (a
    frozen dataclass costs ~1.5 us to build; the render caches keep their own ``cache_clear``)."""
    return RenderSpec(
        size=size, format=fmt, transparent=transparent, watermark=watermark, shade=shade_for(model)
    )


def as_b64(image: RenderSpec) -> str:
    return render_b64(image)


def as_url(inc: Incoming, image: RenderSpec, ttl_s: float) -> str:
    token = inc.state.files.put(render(image), MIME[image.format], ttl_s, EXT[image.format])
    return f"{inc.base_url}{FILES_PREFIX}{token}"


def store_bytes(inc: Incoming, data: bytes, fmt: str, ttl_s: float) -> str:
    token = inc.state.files.put(
        data, MIME.get(fmt, "application/octet-stream"), ttl_s, EXT.get(fmt, "bin")
    )
    return f"{inc.base_url}{FILES_PREFIX}{token}"


def check_image_b64(text: Any, what: str, max_bytes: int = 50 * 1024 * 1024) -> bytes:
    """Decode a base64 (or data URL) image argument fully; a 400 names what was wrong."""
    if not isinstance(text, str) or not text:
        raise ApiError(400, f"{what} must be a non-empty base64 string", param=what)
    if len(text) > max_bytes * 4 // 3 + 1024:
        raise ApiError(413, f"{what} exceeds {max_bytes:,} bytes", param=what)
    try:
        data = b64decode_strict(text)
        decode(data)
    except ImageError as exc:
        raise ApiError(400, f"{what}: {exc}", param=what, code="invalid_image") from None
    return data


def check_image_bytes(data: bytes, what: str) -> None:
    try:
        decode(data)
    except ImageError as exc:
        raise ApiError(400, f"{what}: {exc}", param=what, code="invalid_image") from None


def b64_of(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
