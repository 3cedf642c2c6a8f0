"""The vendor role, OpenAI dialect: OpenAI Images (generations, edits, variations) and xAI images.

Validation follows the vendors' documented behaviour (DOMAIN.md, and OpenAI's published OpenAPI
document for what DOMAIN.md leaves out): GPT image sizes divisible by 16 within the pixel ceiling,
dall-e size lists, dall-e-3 n = 1, unknown parameters rejected, null read as omitted, `model`
optional with the published defaults, `stream` answered as events.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from pixelproof.geometry import Size, is_size, parse_ratio, ratio_distance
from pixelproof.mock import faults
from pixelproof.mock.errors import ApiError
from pixelproof.mock.jsonresp import JSONResponse
from pixelproof.mock.produce import as_b64, as_url, check_image_b64, check_image_bytes, spec
from pixelproof.mock.vendors.openai_stream import event_stream, wants_stream

if TYPE_CHECKING:
    from pixelproof.catalogue import Catalogue
    from pixelproof.mock.http import Incoming

OPENAI_FIELDS = {
    "model", "prompt", "n", "size", "quality", "output_format", "output_compression", "background",
    "moderation", "style", "response_format", "user", "partial_images", "stream", "input_fidelity",
}  # fmt: skip
EDIT_FIELDS = OPENAI_FIELDS | {"image", "images", "mask", "image[]"}
VARIATION_FIELDS = {"image", "model", "n", "response_format", "size", "user"}
# Published defaults (openai/openai-openapi): generations dall-e-2 unless a parameter only the GPT
# image models take is sent (which GPT model then is not said: the mock takes the edits default).
GENERATION_DEFAULT, EDIT_DEFAULT = "dall-e-2", "gpt-image-1.5"
GPT_ONLY = ("output_format", "output_compression", "background", "moderation", "stream",
            "partial_images", "input_fidelity")  # fmt: skip
# What an answer reports as the quality used (the published enum: low | medium | high).
QUALITY_USED = {"auto": "medium", "standard": "medium", "hd": "high"}
XAI_FIELDS = {"model", "prompt", "n", "response_format", "user", "aspect_ratio"}
URL_TTL_S = 3600.0
DEFAULT_SIZE = Size(1024, 1024)  # frozen: one instance (a frozen dataclass is slow to build)


def _int(body: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON's 2.0 is an integer to JSON Schema, and to the real API
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value))
        except ValueError:
            raise ApiError(400, f"{name} must be an integer", param=name) from None
    if not low <= value <= high:
        raise ApiError(
            400,
            f"{name} must be between {low} and {high} (got {value})",
            param=name,
            code="integer_out_of_range",
        )
    return value


def _choice(
    body: dict[str, Any], name: str, allowed: tuple[str, ...], default: str | None
) -> str | None:
    value = body.get(name, default)
    if value is None:
        return default
    if value not in allowed:
        raise ApiError(
            400,
            f"invalid {name} {value!r}; expected one of {', '.join(allowed)}",
            param=name,
            code=f"invalid_{name}",
        )
    return str(value)


def _prompt(body: dict[str, Any]) -> str:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ApiError(400, "prompt is required and must be a non-empty string", param="prompt")
    if len(prompt) > 32000:
        raise ApiError(400, "prompt is longer than 32000 characters", param="prompt")
    return prompt


def _reject_unknown(body: dict[str, Any], allowed: set[str], message: str, code: str) -> None:
    """Vendors refuse parameters they do not know; each words it its own way."""
    if allowed.issuperset(body):  # the usual request: no set built, nothing sorted
        return
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(400, message.format(unknown[0]), param=unknown[0], code=code)


def default_model(body: dict[str, Any], edit: bool) -> str:
    """The model a request without one (or with null) is served by."""
    model = body.get("model")
    if model is not None:
        return str(model)
    if edit:
        return EDIT_DEFAULT
    gpt_only = any(body.get(k) is not None for k in GPT_ONLY)
    return (
        EDIT_DEFAULT
        if gpt_only or body.get("quality") in ("low", "medium", "high")
        else GENERATION_DEFAULT
    )


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


class OpenAIVendor:
    """OpenAI Images as the vendor speaks it, plus xAI on the same path (dispatch by model)."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        # per model the catalogue knows (bounded by it), and per vendor object: found once
        self._found: dict[str, tuple[str, Any]] = {}
        self._native: dict[int, tuple[Any, Any]] = {}

    def _vendor(self, model: Any) -> tuple[str, Any]:
        if type(model) is str and (found := self._found.get(model)) is not None:
            return found
        for prefix in ("openai/", "xai/"):
            key = f"{prefix}{model}"
            if isinstance(model, str) and key in self.catalogue.vendors:
                found = prefix[:-1], self.catalogue.vendors[key]
                if type(model) is str:
                    self._found[model] = found
                return found
        raise ApiError(
            404,
            f"The model '{model}' does not exist or you do not have access to it.",
            code="model_not_found",
            param="model",
        )

    def _size(self, model: str, vendor: Any, value: Any) -> Size:
        if value in (None, "auto"):
            return DEFAULT_SIZE
        if not is_size(value):
            raise ApiError(
                400, f"Invalid size {value!r}: expected WxH", param="size", code="invalid_size"
            )
        size = Size.parse(value)
        if size.pixels == 0:  # 0xN: no aspect ratio to check, and no vendor takes it
            raise ApiError(
                400,
                f"Invalid size {value!r}: sides must be positive",
                param="size",
                code="invalid_size",
            )
        native = self._native_sizes(vendor)
        if (
            native is not None
            and not native.accepts(size)
            and not faults.active("vendor-size-unchecked")
        ):
            raise ApiError(
                400,
                f"Invalid size '{value}' for {model}: {native.why_not(size)}",
                param="size",
                code="invalid_size",
            )
        return size

    def _native_sizes(self, vendor: Any) -> Any:
        """``vendor.native_sizes()``, looked up by the vendor object's identity (its own cache
        hashes the pydantic size table, field by field, on every call)."""
        hit = self._native.get(id(vendor))
        if hit is None or hit[0] is not vendor:
            hit = self._native[id(vendor)] = (vendor, vendor.native_sizes())
        return hit[1]

    def _answer(self, inc: Incoming, body: dict[str, Any], model: str, vendor: Any, size: Size,
                n: int, prefix: str = "image_generation") -> Response:  # fmt: skip
        partials = wants_stream(body, model)
        if _choice(body, "input_fidelity", ("high", "low"), None) and not model.startswith(
            "gpt-image"
        ):
            raise ApiError(
                400, f"input_fidelity is not supported for {model}", param="input_fidelity"
            )
        fmt = _choice(body, "output_format", vendor.formats, vendor.formats[0]) or "png"
        background = _choice(body, "background", ("transparent", "opaque", "auto"), "auto")
        if background == "transparent" and fmt == "jpeg":
            raise ApiError(
                400, "transparent background requires png or webp output", param="background"
            )
        _choice(body, "quality", ("auto", "high", "medium", "low", "hd", "standard"), None)
        _choice(body, "moderation", ("auto", "low"), None)
        if body.get("style") is not None and model != "dall-e-3":
            raise ApiError(
                400, "style is only supported for dall-e-3", param="style", code="unknown_parameter"
            )
        _choice(body, "style", ("vivid", "natural"), None)
        wants = _choice(body, "response_format", ("url", "b64_json"), None)
        kind = "b64_json" if "url" not in vendor.outputs else (wants or "url")
        if faults.active("vendor-url-ignored"):
            kind = "b64_json"
        if faults.active("vendor-gpt-url"):
            kind = "url"
        n = 1 if faults.active("vendor-n-ignored") else n
        prompt = _prompt(body)
        transparent = background == "transparent" and not faults.active("vendor-opaque")
        image = spec(size, fmt, model, transparent=transparent)
        data = []
        for _ in range(n):
            item: dict[str, Any] = (
                {"b64_json": as_b64(image)}
                if kind == "b64_json"
                else {"url": as_url(inc, image, URL_TTL_S)}
            )
            if model == "dall-e-3":
                item["revised_prompt"] = f"{prompt} (revised by the pixelproof mock)"
                if faults.active("vendor-revised-prompt-empty"):
                    item["revised_prompt"] = ""
            data.append(item)
        answer: dict[str, Any] = {"created": inc.state.clock.wall(), "data": data}
        if faults.active("vendor-created-missing"):
            del answer["created"]
        if model.startswith("gpt-image"):
            answer.update(background=background if background != "auto" else "opaque", output_format=fmt,
                          quality=QUALITY_USED.get(body.get("quality") or "auto", body.get("quality")), size=str(size),
                          usage={"input_tokens": len(prompt) // 4 + 1, "output_tokens": 1056 * n,
                                 "total_tokens": len(prompt) // 4 + 1 + 1056 * n,
                                 # OpenAI always sends it; clients that validate usage need it
                                 "input_tokens_details": {"text_tokens": len(prompt) // 4 + 1, "image_tokens": 0}})  # fmt: skip
        if partials is not None:
            return event_stream(prefix, answer, partials)
        return JSONResponse(answer)

    async def generations(self, inc: Incoming) -> Response:
        body = inc.json_object()
        model = default_model(body, edit=False)
        family, vendor = self._vendor(model)
        if family == "xai":
            return self._xai(inc, body, model, vendor)
        _reject_unknown(body, OPENAI_FIELDS, "Unknown parameter: '{}'.", "unknown_parameter")
        n_max = 100 if faults.active("vendor-n-unchecked") else vendor.n_max
        n = _int(body, "n", 1, 1, n_max)
        size = self._size(model, vendor, body.get("size"))
        return self._answer(inc, body, model, vendor, size, n)

    async def edits(self, inc: Incoming) -> Response:
        if faults.active("vendor-edits-refused"):
            raise ApiError(400, "image is required for edits", param="image")
        if inc.files or inc.form:
            body: dict[str, Any] = dict(inc.form)
            images = inc.files_named("image", "image[]")
            for f in images:
                check_image_bytes(f.data, f.field)
            masks = inc.files_named("mask")
            mask_bytes = masks[0].data if masks else None
            first = images[0].data if images else None
        else:
            body = inc.json_object()
            raw = body.get("images", body.get("image"))
            raw_list = raw if isinstance(raw, list) else [raw] if raw is not None else []
            refs = [r.get("image_url") if isinstance(r, dict) else r for r in raw_list]
            datas = [r if _is_url(r) else check_image_b64(r, "image") for r in refs]
            first = datas[0] if datas and isinstance(datas[0], bytes) else None
            images = datas  # type: ignore[assignment]
            mask_bytes = check_image_b64(body["mask"], "mask") if body.get("mask") else None
        model = default_model(body, edit=True)
        family, vendor = self._vendor(model)
        if family != "openai" or model == "dall-e-3":
            raise ApiError(400, f"{model} does not support image edits", param="model")
        if not images:
            raise ApiError(400, "image is required for edits", param="image")
        if len(images) > 16:
            raise ApiError(400, "at most 16 images may be edited at once", param="image")
        _reject_unknown(body, EDIT_FIELDS, "Unknown parameter: '{}'.", "unknown_parameter")
        if mask_bytes is not None:
            self._check_mask(mask_bytes, first)
        inc.notes["images"] = len(images)
        inc.notes["mask"] = mask_bytes is not None
        n = _int(body, "n", 1, 1, vendor.n_max)
        size = self._size(model, vendor, body.get("size"))
        return self._answer(inc, body, model, vendor, size, n, prefix="image_edit")

    async def variations(self, inc: Incoming) -> Response:
        """dall-e-2 variations of one square PNG under 4 MB (OpenAI's published document)."""
        body: dict[str, Any] = dict(inc.form)
        _reject_unknown(body, VARIATION_FIELDS, "Unknown parameter: '{}'.", "unknown_parameter")
        images = inc.files_named("image")
        if len(images) != 1:
            raise ApiError(400, "one image (a square PNG under 4 MB) is required", param="image")
        self._check_variation_image(images[0].data)
        model = body.get("model") or "dall-e-2"
        if model != "dall-e-2":
            raise ApiError(
                400, f"{model} does not support variations (dall-e-2 only)", param="model"
            )
        n = _int(body, "n", 1, 1, 10)
        size = _choice(body, "size", ("256x256", "512x512", "1024x1024"), "1024x1024")
        kind = _choice(body, "response_format", ("url", "b64_json"), "url")
        image = spec(Size.parse(str(size)), "png", model)
        data = [{"url": as_url(inc, image, URL_TTL_S)} if kind == "url" else {"b64_json": as_b64(image)}
                for _ in range(n)]  # fmt: skip
        return JSONResponse({"created": inc.state.clock.wall(), "data": data})

    @staticmethod
    def _check_variation_image(data: bytes) -> None:
        from pixelproof.images import decode

        if len(data) >= 4 * 1024 * 1024:
            raise ApiError(
                400, "image must be less than 4 MB", param="image", code="image_too_large"
            )
        check_image_bytes(data, "image")
        decoded = decode(data)
        if decoded.format != "png" or decoded.size.width != decoded.size.height:
            raise ApiError(400, f"image must be a square PNG (got {decoded.format} {decoded.size})",
                           param="image", code="invalid_image")  # fmt: skip

    @staticmethod
    def _check_mask(mask: bytes, first: bytes | None) -> None:
        from pixelproof.images import decode

        check_image_bytes(mask, "mask")  # not an image at all: a 400, not a 500
        decoded = decode(mask)
        if decoded.format != "png" or not decoded.has_alpha:
            raise ApiError(
                400, "mask must be a PNG with an alpha channel", param="mask", code="invalid_mask"
            )
        if first is not None and decode(first).size != decoded.size:
            raise ApiError(
                400, "mask must have the same size as the image", param="mask", code="invalid_mask"
            )

    def _xai(self, inc: Incoming, body: dict[str, Any], model: str, vendor: Any) -> Response:
        _reject_unknown(body, XAI_FIELDS, "Argument not supported: {}", "invalid_argument")
        n = 1 if faults.active("vendor-n-ignored") else _int(body, "n", 1, 1, vendor.n_max)
        prompt = _prompt(body)
        wants = _choice(body, "response_format", ("url", "b64_json"), "url")
        wants = "b64_json" if faults.active("vendor-url-ignored") else wants
        sizes = vendor.native_sizes().official
        ratio = body.get("aspect_ratio")
        size = sizes[0]
        if ratio is not None:
            try:
                want = parse_ratio(str(ratio))
                math.log(want)  # "0:5" parses to 0, which has no log distance to any size
            except ValueError:
                raise ApiError(
                    400, f"invalid aspect_ratio {ratio!r}", param="aspect_ratio"
                ) from None
            size = min(sizes, key=lambda s: ratio_distance(s.ratio, want))
        image = spec(size, "png" if faults.active("xai-png") else "jpeg", model)
        data = [
            {"url": as_url(inc, image, URL_TTL_S)}
            if wants == "url"
            else {"b64_json": as_b64(image)}
            for _ in range(n)
        ]
        for item in data:
            item["revised_prompt"] = prompt
        return JSONResponse({"data": data})
