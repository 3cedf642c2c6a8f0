"""The vendor role for Google Gemini: generateContent with inlineData parts and imageConfig."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response

from pixelproof.geometry import Size
from pixelproof.images import MIME
from pixelproof.mock import faults
from pixelproof.mock.errors import ApiError
from pixelproof.mock.jsonresp import JSONResponse
from pixelproof.mock.produce import as_b64, check_image_b64, spec
from pixelproof.mock.vendors.common import ratio_size

if TYPE_CHECKING:
    from pixelproof.catalogue import Catalogue
    from pixelproof.mock.http import Incoming


class GeminiVendor:
    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue

    async def generate(self, inc: Incoming) -> Response:
        model = inc.request.path_params.get("model", "")
        vendor = self.catalogue.vendors.get(f"gemini/{model}")
        if vendor is None:
            raise ApiError(
                404,
                f"models/{model} is not found for API version v1beta, or is not supported for generateContent.",
            )
        body = inc.json_object()
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            raise ApiError(400, "contents is not specified")
        texts, references = [], 0
        for c_index, content in enumerate(contents):
            parts = content.get("parts") if isinstance(content, dict) else None
            if not isinstance(parts, list) or not parts:
                raise ApiError(400, f"contents[{c_index}].parts must be a non-empty list")
            for p_index, part in enumerate(parts):
                where = f"contents[{c_index}].parts[{p_index}]"
                if not isinstance(part, dict):
                    raise ApiError(400, f"{where} must be an object")
                if isinstance(part.get("text"), str):
                    texts.append(part["text"])
                elif isinstance(part.get("inlineData"), dict):
                    check_image_b64(part["inlineData"].get("data"), f"{where}.inlineData.data")
                    references += 1
                else:
                    raise ApiError(400, f"{where} needs text or inlineData")
        config = body.get("generationConfig") or {}
        image_config = config.get("imageConfig") or {} if isinstance(config, dict) else {}
        if not isinstance(image_config, dict):
            raise ApiError(400, "generationConfig.imageConfig must be an object")
        ratio = image_config.get("aspectRatio", "1:1")
        if not isinstance(ratio, str) or ratio not in self.catalogue.gemini_pixels_1k:
            raise ApiError(400, f"Invalid aspect ratio {ratio!r}")
        tier = image_config.get("imageSize", "1K")
        if tier not in ("1K", "2K", "4K"):
            raise ApiError(400, f"Invalid imageSize {tier!r}; expected 1K, 2K or 4K")
        served = tier if tier in vendor.image_sizes else "1K"  # flash previews fall back to 1K
        served = "1K" if faults.active("gemini-vendor-imagesize-ignored") else served
        base = Size.parse(self.catalogue.gemini_pixels_1k[ratio])
        if faults.active("gemini-other-pixels"):  # another model's table: same tiers, other pixels
            base = ratio_size(ratio, 1024, multiple=32)
        factor = {"1K": 1, "2K": 2, "4K": 4}[served]
        size = Size(base.width * factor, base.height * factor)
        inc.notes.update(references=references, image_size=served)
        image = spec(size, "png", model)
        parts_out = [
            {"text": "Here is your image."},
            {"inlineData": {"mimeType": MIME["png"], "data": as_b64(image)}},
        ]
        return JSONResponse(
            {"candidates": [{"content": {"role": "model", "parts": parts_out}, "finishReason": "STOP", "index": 0}],
             "usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": 1290, "totalTokenCount": 1298},
             "modelVersion": model}
        )  # fmt: skip
