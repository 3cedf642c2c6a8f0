"""The OpenAI Images dialect: the unified entry, and the OpenAI, xAI and Ark vendor APIs.

``{"data": [{"b64_json": ...} | {"url": ...}]}``; no tasks (answers are synchronous).
"""

from __future__ import annotations

from typing import Any

from pixelproof.surfaces.base import ImageRef


def items(body: Any) -> list[dict[str, Any]] | None:
    """``data[]`` when it is a list of objects, else None (the answer is not this shape)."""
    data = body.get("data") if isinstance(body, dict) else None
    return data if isinstance(data, list) and all(isinstance(i, dict) for i in data) else None


class OpenAIImages:
    name = "openai-images"

    def images(self, body: Any) -> list[ImageRef]:
        out: list[ImageRef] = []
        for item in items(body) or []:
            if item.get("b64_json") is not None:
                out.append(ImageRef("b64_json", b64=item["b64_json"]))
            elif "url" in item:
                out.append(ImageRef("url", url=item["url"]))
            else:
                out.append(
                    ImageRef("data[]", problem=f"item without b64_json or url: {sorted(item)}")
                )
        return out

    def task_id(self, body: Any) -> str | None:
        return None

    def task_status(self, body: Any) -> str | None:
        return None
