"""The Gemini dialect (gateway entry and vendor): ``candidates[].content.parts[].inlineData``."""

from __future__ import annotations

from typing import Any

from pixelproof.surfaces.base import ImageRef, dict_items, dig


class Gemini:
    name = "gemini"

    def images(self, body: Any) -> list[ImageRef]:
        out: list[ImageRef] = []
        for cand in dict_items(dig(body, "candidates")):
            for part in dict_items(dig(cand, "content", "parts")):
                inline = part.get("inlineData")
                if isinstance(inline, dict):
                    out.append(
                        ImageRef("inlineData", b64=inline.get("data"), mime=inline.get("mimeType"))
                    )
        return out

    def task_id(self, body: Any) -> str | None:
        return None

    def task_status(self, body: Any) -> str | None:
        return None
