"""The two async task APIs of the seeds: the action-style one (seed 002: the task object at the top
level) and the official channel (seed 004: wrapped in ``data``, submitted as ``data[0].task_id``).
Both finish with ``result.images[]`` of ``{url}`` or ``{b64_json}``; an entry that is a bare URL
string (a shape neither seed gives, the body shape being inferred) is read as that URL, so its
image is judged rather than the answer being counted as holding none."""

from __future__ import annotations

from typing import Any

from pixelproof.surfaces.base import ImageRef, dig, is_http_url, text_or_none


class TaskApi:
    def __init__(self, name: str, wrapped: bool) -> None:
        self.name = name
        self.wrapped = wrapped  # official channel: the task object sits under "data"

    def _task(self, body: Any) -> Any:
        return dig(body, "data") if self.wrapped else body

    def images(self, body: Any) -> list[ImageRef]:
        result = dig(self._task(body), "result")
        out: list[ImageRef] = []
        images = dig(result, "images") if isinstance(result, dict) else None
        for item in images if isinstance(images, list) else []:
            if is_http_url(item):
                out.append(ImageRef("url", url=item))
            elif not isinstance(item, dict):
                out.append(ImageRef("images[]", problem=f"an entry that is no image: {item!r:.80}"))
            elif item.get("url"):
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
