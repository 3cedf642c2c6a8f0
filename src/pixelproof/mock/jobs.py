"""Jobs the reference gateway runs against its upstream: produced images, Jimeng's submit-and-poll."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Any

from pixelproof.geometry import Size
from pixelproof.mock.errors import ApiError
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
