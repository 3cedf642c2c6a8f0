"""The Gemini dialect (gateway entry and vendor): ``candidates[].content.parts[].inlineData``; at
the gateway entry, also a URL in a ``fileData`` part.

Seed 000, the gateway's document, gives the Gemini models' typical output as "inlineData or URL"
without a shape for the URL; Gemini's own ``Part`` carries one as ``fileData {mimeType,
fileUri}``, so a gateway answering URLs is read there (the image is fetched as a ``url`` output's
is). Google's API itself answers inlineData (DOMAIN.md): the vendor surface reads no URL."""

from __future__ import annotations

from typing import Any

from pixelproof.surfaces.base import ImageRef, dict_items, dig


class Gemini:
    name = "gemini"

    def __init__(self, urls: bool) -> None:
        self.urls = urls  # fileData parts are images (the gateway entry)

    def images(self, body: Any) -> list[ImageRef]:
        out: list[ImageRef] = []
        for cand in dict_items(dig(body, "candidates")):
            for part in dict_items(dig(cand, "content", "parts")):
                inline, file = part.get("inlineData"), part.get("fileData")
                if isinstance(inline, dict):
                    out.append(
                        ImageRef("inlineData", b64=inline.get("data"), mime=inline.get("mimeType"))
                    )
                elif self.urls and isinstance(file, dict):
                    uri = file.get("fileUri")
                    out.append(ImageRef("fileData", url=uri) if uri is not None
                               else ImageRef("fileData", problem="a fileData part without fileUri"))  # fmt: skip
        return out

    def task_id(self, body: Any) -> str | None:
        return None

    def task_status(self, body: Any) -> str | None:
        return None
