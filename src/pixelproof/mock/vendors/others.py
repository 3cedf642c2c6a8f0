"""The vendor role for Volcengine Ark (Seedream), Google Gemini and the Jimeng visual API."""

from __future__ import annotations

import json
import math
import secrets
from typing import Any

from starlette.responses import JSONResponse, Response

from pixelproof.catalogue import Catalogue
from pixelproof.geometry import Size, is_size, parse_ratio
from pixelproof.images import MIME
from pixelproof.mock.errors import ApiError
from pixelproof.mock.http import Incoming
from pixelproof.mock.produce import as_b64, as_url, check_image_b64, spec
from pixelproof.mock.tasks import TaskStore

ARK_TIERS = {"1K": 1024, "2K": 2048, "4K": 4096}
JIMENG_ACTIONS = ("CVSync2AsyncSubmitTask", "CVSync2AsyncGetResult")
JIMENG_VERSION = "2022-08-31"
TTL_24H = 86400.0


def _prompt(body: dict[str, Any]) -> str:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ApiError(400, "prompt is required", param="prompt", code="MissingParameter")
    return prompt


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
        _prompt(body)
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
        return JSONResponse(
            {"model": body["model"], "created": inc.state.clock.wall(), "data": [item],
             "usage": {"generated_images": 1, "output_tokens": size.pixels // 256, "total_tokens": size.pixels // 256}}
        )  # fmt: skip

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
        base = Size.parse(self.catalogue.gemini_pixels_1k[ratio])
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


class JimengVendor:
    """The Volcengine visual API: submit, then query results, on the mock's clock."""

    def __init__(self, catalogue: Catalogue, tasks: TaskStore, job_seconds: float) -> None:
        self.catalogue = catalogue
        self.tasks = tasks
        self.job_seconds = job_seconds

    async def dispatch(self, inc: Incoming) -> Response:
        action, version = inc.query.get("Action"), inc.query.get("Version")
        if action not in JIMENG_ACTIONS or version != JIMENG_VERSION:
            raise ApiError(
                400,
                f"Action must be one of {', '.join(JIMENG_ACTIONS)} and Version {JIMENG_VERSION}",
            )
        body = inc.json_object()
        if action == "CVSync2AsyncGetResult":
            return self.result(inc, body)
        return self.submit(inc, body)

    def submit(self, inc: Incoming, body: dict[str, Any]) -> Response:
        req_key = body.get("req_key")
        vendor = self.catalogue.vendors.get(f"jimeng-visual/{req_key}")
        if vendor is None:
            raise ApiError(400, f"unknown req_key {req_key!r}")
        prompt = _prompt(body)
        urls = body.get("image_urls") or []
        if not isinstance(urls, list) or len(urls) > (vendor.max_reference_images or 0):
            raise ApiError(
                400, f"image_urls must be a list of at most {vendor.max_reference_images}"
            )
        size = self._size(body, vendor)
        request_id = secrets.token_hex(8)
        image = spec(size, "png", str(req_key))
        risky = any(t in prompt.lower() for t in self.catalogue.defaults.safety.blocked_terms)

        async def work() -> dict[str, Any]:
            if risky:  # reviewed after generation: the job ends done with a failure code
                raise ApiError(400, "Post Text Risk Not Pass", code="risk_not_pass")
            return {"image": image}

        task = self.tasks.submit(work, run_s=self.job_seconds, queue_s=2.0, prompt=prompt)
        inc.notes["task_id"] = task.id
        return JSONResponse(
            {
                "code": 10000,
                "data": {"task_id": task.id},
                "message": "Success",
                "request_id": request_id,
                "status": 10000,
                "time_elapsed": "0.01s",
            }
        )

    @staticmethod
    def _size(body: dict[str, Any], vendor: Any) -> Size:
        width, height = body.get("width"), body.get("height")
        if isinstance(width, int) and isinstance(height, int):
            size = Size(width, height)
        else:
            area = body.get("size", 2048 * 2048)
            if (
                isinstance(area, bool)
                or not isinstance(area, int)
                or not 1024 * 1024 <= area <= 4096 * 4096
            ):
                raise ApiError(400, "size must be an area between 1024*1024 and 4096*4096")
            side = int(math.sqrt(area))
            size = Size(side, side)
        if min(size.width, size.height) < 256 or not vendor.native_sizes().accepts(size):
            raise ApiError(400, f"width x height {size} is out of range")
        return size

    def result(self, inc: Incoming, body: dict[str, Any]) -> Response:
        task_id = body.get("task_id")
        request_id = secrets.token_hex(8)
        task = self.tasks.get(task_id) if isinstance(task_id, str) else None
        if task is None:
            return JSONResponse(
                {
                    "code": 10000,
                    "message": "Success",
                    "request_id": request_id,
                    "data": {"status": "not_found"},
                }
            )
        now = self.tasks.now()
        if task is not None and now > task.created + TTL_24H:
            return JSONResponse(
                {
                    "code": 10000,
                    "message": "Success",
                    "request_id": request_id,
                    "data": {"status": "expired"},
                }
            )
        state = {"queued": "in_queue", "processing": "generating"}.get(task.state(now), "done")
        data: dict[str, Any] = {"status": state, "binary_data_base64": None, "image_urls": None}
        if state == "done":
            error = task.error()
            if error:
                return JSONResponse(
                    {
                        "code": 50413,
                        "message": error["message"],
                        "request_id": request_id,
                        "data": {"status": "done"},
                    }
                )
            image = task.result()["image"]  # type: ignore[index]
            options = self._req_json(body.get("req_json"))
            if options.get("return_url"):
                data["image_urls"] = [as_url(inc, image, TTL_24H)]
            else:
                data["binary_data_base64"] = [as_b64(image)]
        return JSONResponse(
            {"code": 10000, "message": "Success", "request_id": request_id, "data": data}
        )

    @staticmethod
    def _req_json(raw: Any) -> dict[str, Any]:
        if raw in (None, ""):
            return {}
        if not isinstance(raw, str):
            raise ApiError(400, "req_json must be a JSON string")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ApiError(400, f"req_json is not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise ApiError(400, "req_json must encode an object")
        return value


def ratio_size(ratio: str, side: int, multiple: int = 16) -> Size:
    """A size of ``ratio`` with about side x side pixels, sides rounded to ``multiple``."""
    value = parse_ratio(ratio)
    if value <= 0:
        raise ValueError(f"not an aspect ratio: {ratio!r}")
    width = math.sqrt(side * side * value)
    height = width / value
    return Size(round(width / multiple) * multiple, round(height / multiple) * multiple)
