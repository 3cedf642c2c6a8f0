"""The Jimeng official format (the gateway's ``/jm``, and the Volcengine visual API behind it):
``{"code": 10000, "data": {"task_id", "status", "binary_data_base64": [...], "image_urls": [...]}}``."""

from __future__ import annotations

from typing import Any

from pixelproof.surfaces.base import ImageRef, dig, text_or_none

SUCCESS = 10000


class Jimeng:
    name = "jimeng"

    def images(self, body: Any) -> list[ImageRef]:
        data = dig(body, "data")
        data = data if isinstance(data, dict) else {}
        out = [ImageRef("binary_data_base64", b64=x) for x in _listed(data, "binary_data_base64")]
        return out + [ImageRef("image_urls", url=u) for u in _listed(data, "image_urls")]

    def task_id(self, body: Any) -> str | None:
        return text_or_none(dig(body, "data", "task_id")) if dig(body, "code") == SUCCESS else None

    def task_status(self, body: Any) -> str | None:
        status = dig(body, "data", "status")
        return status if isinstance(status, str) else None


def _listed(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    return value if isinstance(value, list) else []
