"""The Gemini dialect (gateway entry and vendor): ``candidates[].content.parts[].inlineData``, or a
URL in a ``fileData`` part.

Seed 000's summary table gives the Gemini models' typical output as "inlineData or URL" without a
shape for the URL; Gemini's own ``Part`` carries one as ``fileData {mimeType, fileUri}``, so a
gateway answering URLs is read there (the image is fetched as a ``url`` output's is)."""

from __future__ import annotations

from typing import Any

from pixelproof.surfaces.base import ImageRef, dict_items, dig


class Gemini:
    name = "gemini"

    def images(self, body: Any) -> list[ImageRef]:
        out: list[ImageRef] = []
        for cand in dict_items(dig(body, "candidates")):
            for part in dict_items(dig(cand, "content", "parts")):
                inline, file = part.get("inlineData"), part.get("fileData")
                if isinstance(inline, dict):
                    out.append(
                        ImageRef("inlineData", b64=inline.get("data"), mime=inline.get("mimeType"))
                    )
                elif isinstance(file, dict):
                    out.append(ImageRef("fileData", url=file.get("fileUri")))
        return out

    def task_id(self, body: Any) -> str | None:
        return None

    def task_status(self, body: Any) -> str | None:
        return None
