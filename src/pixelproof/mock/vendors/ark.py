"""The vendor role for Volcengine Ark (Seedream): images/generations with sizes as tiers or WxH."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from pixelproof.geometry import Size, is_size
from pixelproof.mock import faults
from pixelproof.mock.errors import ApiError
from pixelproof.mock.jsonresp import JSONResponse
from pixelproof.mock.produce import as_b64, as_url, check_image_b64, spec
from pixelproof.mock.vendors.common import required_prompt

if TYPE_CHECKING:
    from pixelproof.catalogue import Catalogue
    from pixelproof.mock.http import Incoming

ARK_TIERS = {"1K": 1024, "2K": 2048, "4K": 4096}
TTL_24H = 86400.0


class ArkVendor:
    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue

    async def generations(self, inc: Incoming) -> Response:
        body = inc.json_object()
        vendor = self.catalogue.vendors.get(f"ark/{body.get('model')}")
        if vendor is None:
            raise ApiError(
                404,
                f"The model {body.get('model')!r} does not exist",
                code="InvalidEndpointOrModel.NotFound",
            )
        required_prompt(body)
        refs = body.get("image")
        refs = refs if isinstance(refs, list) else [] if refs is None else [refs]
        limit = vendor.max_reference_images or 0
        if len(refs) > limit:
            raise ApiError(
                400,
                f"at most {limit} reference images are allowed",
                code="InvalidParameter",
                param="image",
            )
        for ref in refs:
            if not (isinstance(ref, str) and ref.startswith(("http://", "https://"))):
                check_image_b64(ref, "image")
        size = self._size(body.get("size"), vendor)
        watermark = body.get("watermark")
        if watermark is not None and not isinstance(watermark, bool):
            raise ApiError(
                400, "watermark must be a boolean", code="InvalidParameter", param="watermark"
            )
        marked = bool(vendor.watermark_default) if watermark is None else watermark
        if watermark is None and faults.active("ark-watermark-default-off"):
            marked = False
        inc.notes.update(
            watermark_applied=marked,
            watermark_field="absent" if watermark is None else watermark,
            references=len(refs),
        )
        fmt = body.get("response_format", "url")
        if fmt not in ("url", "b64_json"):
            raise ApiError(
                400,
                f"invalid response_format {fmt!r}",
                code="InvalidParameter",
                param="response_format",
            )
        image = spec(size, "jpeg", str(body["model"]), watermark=marked)
        item = {"url": as_url(inc, image, TTL_24H)} if fmt == "url" else {"b64_json": as_b64(image)}
        item["size"] = str(size)
        answer = {"model": body["model"], "created": inc.state.clock.wall(), "data": [item],
                  "usage": {"generated_images": 1, "output_tokens": size.pixels // 256, "total_tokens": size.pixels // 256}}  # fmt: skip
        if faults.active("vendor-created-missing"):
            del answer["created"]
        return JSONResponse(answer)

    @staticmethod
    def _size(value: Any, vendor: Any) -> Size:
        if value is None:
            return Size(2048, 2048)
        if isinstance(value, str) and value in ARK_TIERS:  # a list or object is a 400, not a 500
            side = ARK_TIERS[value]
            return Size(side, side)
        if not is_size(value):
            raise ApiError(
                400,
                f"invalid size {value!r}: 1K, 2K, 4K or WxH",
                code="InvalidParameter",
                param="size",
            )
        size = Size.parse(value)
        native = vendor.native_sizes()
        if size.pixels < 1280 * 720 or not native.accepts(size):
            raise ApiError(
                400,
                f"size {value} is out of the supported range",
                code="InvalidParameter",
                param="size",
            )
        return size
