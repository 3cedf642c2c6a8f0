"""Jobs the reference gateway runs against its upstream: produced images, Jimeng's submit-and-poll."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pixelproof.geometry import Size
from pixelproof.mock.errors import ApiError

if TYPE_CHECKING:
    from pixelproof.mock.upstream import Upstream


@dataclass
class Produced:
    data: bytes
    revised_prompt: str | None = None


def ratio_text(size: Size) -> str:
    g = math.gcd(size.width, size.height)
    return f"{size.width // g}:{size.height // g}"


async def jimeng_run(
    upstream: Upstream, body: dict[str, Any], deadline_s: float = 120.0
) -> list[Produced]:
    """Submit to the Jimeng visual API and poll its result query until done."""
    submitted = await upstream.post("/", json=body, params=_jimeng_params("CVSync2AsyncSubmitTask"))
    task_id = (submitted.get("data") or {}).get("task_id")
    if submitted.get("code") != 10000 or not task_id:
        raise ApiError(
            502, f"Jimeng submit failed: {submitted.get('message')}", type="upstream_error"
        )
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    query = {"req_key": body["req_key"], "task_id": task_id}
    while loop.time() < end:
        result = await upstream.post(
            "/", json=query, params=_jimeng_params("CVSync2AsyncGetResult")
        )
        data = result.get("data") or {}
        if result.get("code") != 10000:
            raise ApiError(
                502, f"Jimeng task failed: {result.get('message')}", type="upstream_error"
            )
        if data.get("status") == "done":
            return [Produced(_b64(x)) for x in data.get("binary_data_base64") or []]
        if data.get("status") in ("not_found", "expired"):
            raise ApiError(502, f"Jimeng task {data.get('status')}", type="upstream_error")
        await asyncio.sleep(0.01)
    raise ApiError(504, "Jimeng task did not finish in time", type="upstream_timeout")


def _jimeng_params(action: str) -> dict[str, str]:
    return {"Action": action, "Version": "2022-08-31"}


def _b64(text: str) -> bytes:
    from pixelproof.images import b64decode_strict

    return b64decode_strict(text)


def exact_ratio_size(ratio: str, side: int, multiple: int = 1, max_edge: int | None = None) -> Size:
    """A size of exactly ``ratio`` (a:b scaled by k) with about side x side pixels.

    Sides are multiples of ``multiple`` and, with ``max_edge``, the long side never exceeds it (a 4k
    16:9 is 4096x2304, not the 5456x3072 a square-area rule gives and a 4096-edge vendor refuses).
    """
    a, b = (int(x) for x in ratio.split(":"))
    if a <= 0 or b <= 0:
        raise ValueError(f"not an aspect ratio: {ratio!r}")
    g = math.gcd(a, b)
    a, b = a // g, b // g
    step = multiple // math.gcd(multiple, math.gcd(a, b)) if multiple > 1 else 1
    k = max(step, round(math.sqrt(side * side / (a * b)) / step) * step)
    if max_edge is not None and max(a, b) * k > max_edge:
        k = max(step, (max_edge // max(a, b)) // step * step)
    return Size(a * k, b * k)


def jimeng_dimensions(body: dict[str, Any], max_edge: int | None) -> Size | None:
    """Seed 000: `size` as 1024*1024 (or WxH), or `ratio` with `resolution` 1k / 2k / 4k."""
    from pixelproof.geometry import is_size
    from pixelproof.mock import faults
    from pixelproof.mock.vendors.common import ratio_size

    size, ratio = body.get("size"), body.get("ratio")
    parsed: Size | None = None
    if isinstance(size, str) and size:
        star = "*" in size and faults.active("jimeng-star-size-rejected")
        if star or not is_size(size):
            raise ApiError(400, f"invalid size {size!r}: expected W*H", param="size")
        parsed = Size.parse(size)
    if not ratio:
        return parsed
    # "The size field sets the resolution ...; or use ratio to set the aspect ratio": with both,
    # the size gives the pixel count and the ratio the shape.
    tier = str(body.get("resolution", "2k")).lower()
    side = round(math.sqrt(parsed.pixels)) if parsed else JIMENG_SIDE.get(tier, 2048)
    try:
        if faults.active("jimeng-4k-overflow"):  # the reference gateway's old square-area rule
            return ratio_size(str(ratio), side)
        return exact_ratio_size(str(ratio), side, max_edge=max_edge)
    except ValueError:
        raise ApiError(400, f"invalid ratio {ratio!r}: expected W:H", param="ratio") from None


JIMENG_SIDE = {"1k": 1024, "2k": 2048, "4k": 4096}
