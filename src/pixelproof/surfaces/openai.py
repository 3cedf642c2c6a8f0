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
            b64, url = item.get("b64_json"), item.get("url")
            # the other output field may come along empty or null (a struct serialized without
            # omitting empty fields): the image is in the field that holds one
            if b64 not in (None, ""):
                out.append(ImageRef("b64_json", b64=b64))
            elif url not in (None, ""):
                out.append(ImageRef("url", url=url))
            elif b64 is not None:  # "" and no URL beside it: judged as the empty image it is
                out.append(ImageRef("b64_json", b64=b64))
            elif "url" in item:
                out.append(ImageRef("url", url=url))
            else:
                out.append(
                    ImageRef("data[]", problem=f"item without b64_json or url: {sorted(item)}")
                )
        return out

    def task_id(self, body: Any) -> str | None:
        return None

    def task_status(self, body: Any) -> str | None:
        return None
