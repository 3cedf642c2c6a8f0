"""The two async task APIs of the seeds: the action-style one (seed 002: the task object at the top
level) and the official channel (seed 004: wrapped in ``data``, submitted as ``data[0].task_id``).
Both finish with ``result.images[]`` of ``{url}`` or ``{b64_json}``."""

from __future__ import annotations

from typing import Any

from pixelproof.surfaces.base import ImageRef, dict_items, dig, text_or_none


class TaskApi:
    def __init__(self, name: str, wrapped: bool) -> None:
        self.name = name
        self.wrapped = wrapped  # official channel: the task object sits under "data"

    def _task(self, body: Any) -> Any:
        return dig(body, "data") if self.wrapped else body

    def images(self, body: Any) -> list[ImageRef]:
        result = dig(self._task(body), "result")
        out: list[ImageRef] = []
        for item in dict_items(dig(result, "images")) if isinstance(result, dict) else []:
            if item.get("url"):
                out.append(ImageRef("url", url=item["url"]))
            else:
                out.append(ImageRef("b64_json", b64=item.get("b64_json")))
        return out

    def task_id(self, body: Any) -> str | None:
        return text_or_none(
            dig(body, "data", 0, "task_id") if self.wrapped else dig(body, "task_id")
        )

    def task_status(self, body: Any) -> str | None:
        status = dig(self._task(body), "status")
        return status if isinstance(status, str) else None


ACTION = TaskApi("tasks-action", wrapped=False)
OFFICIAL = TaskApi("tasks-official", wrapped=True)
