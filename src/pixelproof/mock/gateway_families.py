"""The reference gateway's side facing its upstreams: one unified request, put in each family's
dialect (OpenAI, Ark, xAI, Jimeng), and the images of each family's answer collected.

Split from gateway.py (the routes and the unified layer's own steps stay there); every mapping
still comes from the catalogue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pixelproof.geometry import Size, is_size
from pixelproof.mock import faults
from pixelproof.mock.errors import ApiError
from pixelproof.mock.gateway_faults import dropped, wrong_defaults
from pixelproof.mock.jobs import (
    Produced,
    exact_ratio_size,
    jimeng_dimensions,
    jimeng_run,
    ratio_text,
)
from pixelproof.mock.produce import check_image_b64
from pixelproof.mock.upstream import Upstream, image_bytes

if TYPE_CHECKING:
    from pixelproof.catalogue import Catalogue

PASSTHROUGH = (
    "quality",
    "style",
    "background",
    "output_format",
    "output_compression",
    "moderation",
)


class Families:
    """The unified layer's upstream families: what each is sent, and the images it answers."""

    def __init__(self, catalogue: Catalogue, upstream: Upstream) -> None:
        self.catalogue = catalogue
        self.upstream = upstream

    def openai_size(self, model: str, body: dict[str, Any]) -> tuple[str | None, str]:
        """(size to forward, prompt suffix): the documented fallback for non-native sizes."""
        value = body.get("size")
        if value is None and isinstance(body.get("ratio"), str):
            value = self.openai_ratio(model, body["ratio"])
        if value is None or value == "auto" or faults.active("size-ignored"):
            return None, ""
        if not is_size(value):
            raise ApiError(
                400,
                f"invalid size {value!r}: expected WxH or auto",
                param="size",
                code="invalid_size",
            )
        entry = self.catalogue.model("unified", model)
        native = self.catalogue.native_sizes(entry.upstream) if entry and entry.upstream else None
        target = Size.parse(value)
        if target.pixels == 0:
            raise ApiError(
                400,
                f"invalid size {value!r}: sides must be positive",
                param="size",
                code="invalid_size",
            )
        if native is None or native.accepts(target) or faults.active("no-fallback"):
            return str(target), ""
        if not native.free_form:
            # dall-e: the vendor's list is the contract, and its 400 passes through
            return ("1024x1024" if faults.active("size-coerced") else str(target)), ""
        closest = native.closest_official(target)
        documented = [
            r
            for r in self.catalogue.rules("size", "unified", model)
            if r.expect.get("size") == value
        ]
        ratio = documented[0].ratio if documented and documented[0].ratio else ratio_text(target)
        intent = (
            ""
            if faults.active("no-ratio-intent")
            else self.catalogue.defaults.fallback.intent_template.format(ratio=ratio)
        )
        return str(closest), intent

    def openai_ratio(self, model: str, ratio: str) -> str | None:
        """Seed 000 lists ratios for gpt-image-2: the size row of that ratio, else an exact /16 size."""
        if faults.active("ratio-ignored-openai"):
            return None
        rows = [r for r in self.catalogue.rules("size", "unified", model) if r.ratio == ratio]
        try:
            return str(rows[0].expect["size"]) if rows else str(exact_ratio_size(ratio, 1024, 16))
        except ValueError:
            raise ApiError(400, f"invalid ratio {ratio!r}: expected W:H", param="ratio") from None

    @staticmethod
    def references(body: dict[str, Any]) -> list[str]:
        raw = body.get("image")
        refs = raw if isinstance(raw, list) else [] if raw is None else [raw]
        for i, ref in enumerate(refs):
            if not (isinstance(ref, str) and ref.startswith(("http://", "https://"))):
                check_image_b64(ref, f"image[{i}]")
        return refs[:1] if faults.active("refs-dropped") else refs

    # ------------------------------------------------------------------ families
    async def via_openai(self, model: str, body: dict[str, Any], n: int) -> list[Produced]:
        entry = self.catalogue.model("unified", model)
        assert entry is not None
        assert entry.upstream is not None
        size, intent = self.openai_size(model, body)
        up: dict[str, Any] = {
            "model": entry.upstream.split("/", 1)[1],
            "prompt": f"{body['prompt']}{intent}",
            "n": n,
        }
        if size:
            up["size"] = size
        for name in PASSTHROUGH:
            if body.get(name) is not None and not dropped(name):
                up[name] = body[name]
        up.update(wrong_defaults(entry.upstream, up))
        if "url" in (self.catalogue.vendors[entry.upstream].outputs):
            up["response_format"] = "b64_json"
        refs = self.references(body)
        if refs:
            up["images"] = [{"image_url": r} for r in refs]
            if body.get("mask") is not None and not faults.active("mask-dropped"):
                up["mask"] = body["mask"]  # a JSON edit's mask (inpainting) goes along too
            answer = await self.upstream.post("/v1/images/edits", json=up)
        else:
            answer = await self.upstream.post("/v1/images/generations", json=up)
        return await self.collect(answer.get("data"))

    async def via_ark(self, model: str, body: dict[str, Any], n: int) -> list[Produced]:
        up: dict[str, Any] = {
            "model": model,
            "prompt": body["prompt"],
            "response_format": "b64_json",
        }
        size = self.ratio_or_size(model, body)
        if size and not faults.active("size-ignored"):
            up["size"] = size
        present, watermark = body.get("watermark") is not None, body.get("watermark")
        if watermark is False and faults.active("watermark-false-dropped"):
            present = False
        if not present and faults.active("watermark-omitted-as-false"):
            present, watermark = True, False
        if not present and faults.active("watermark-omitted-as-true"):
            present, watermark = True, True
        if present:
            up["watermark"] = watermark
        refs = self.references(body)
        if refs:
            up["image"] = refs
        out: list[Produced] = []
        for _ in range(n):
            out += await self.collect(
                (await self.upstream.post("/api/v3/images/generations", json=up)).get("data")
            )
        return out

    async def via_xai(self, model: str, body: dict[str, Any], n: int) -> list[Produced]:
        up: dict[str, Any] = {
            "model": model,
            "prompt": body["prompt"],
            "n": n,
            "response_format": "b64_json",
        }
        ratio = body.get("ratio")
        if ratio is None and is_size(body.get("size")) and Size.parse(body["size"]).pixels:
            ratio = ratio_text(Size.parse(body["size"]))
        if (
            ratio is not None
            and faults.active("ratio-subset")
            and ratio not in ("16:9", "9:16", "1:1")
        ):
            raise ApiError(400, f"ratio {ratio!r} is not supported", param="ratio")
        if ratio is not None and not faults.active("size-ignored"):
            up["aspect_ratio"] = ratio
        return await self.collect(
            (await self.upstream.post("/v1/images/generations", json=up)).get("data")
        )

    async def via_jimeng(
        self, model: str, body: dict[str, Any], n: int, uploads: list[str] | None = None
    ) -> list[Produced]:
        entry = self.catalogue.model("unified", model)
        assert entry is not None
        assert entry.upstream is not None
        up: dict[str, Any] = {"req_key": entry.upstream.split("/", 1)[1], "prompt": body["prompt"]}
        vendor = self.catalogue.vendors[entry.upstream]
        parsed = jimeng_dimensions(body, vendor.sizes.max_edge if vendor.sizes else None)
        if parsed is not None:
            up.update(width=parsed.width, height=parsed.height)
        refs = [r for r in self.references(body) if r.startswith(("http://", "https://"))]
        refs += uploads or []
        if refs:
            up["image_urls"] = refs
        out: list[Produced] = []
        for _ in range(n):
            out += await jimeng_run(self.upstream, up)
        return out

    def ratio_or_size(self, model: str, body: dict[str, Any]) -> str | None:
        ratio, size = body.get("ratio"), body.get("size")
        if isinstance(ratio, str):
            rows = [r for r in self.catalogue.rules("size", "unified", model) if r.ratio == ratio]
            if rows:
                return str(rows[0].expect["size"])
            if faults.active("ratio-subset"):
                raise ApiError(400, f"ratio {ratio!r} is not supported", param="ratio")
            try:
                return str(exact_ratio_size(ratio, 2048))
            except ValueError:
                raise ApiError(
                    400, f"invalid ratio {ratio!r}: expected W:H", param="ratio"
                ) from None
        if size is None:
            return None
        if not (is_size(size) or size in ("1K", "2K", "4K")):
            raise ApiError(400, f"invalid size {size!r}", param="size", code="invalid_size")
        return str(size)

    async def collect(self, data: Any) -> list[Produced]:
        if not isinstance(data, list) or not data:
            raise ApiError(502, "upstream answered without images", type="upstream_error")
        out = []
        for item in data:
            if not isinstance(item, dict):
                raise ApiError(502, "upstream answer item is not an object", type="upstream_error")
            got = image_bytes(item)
            payload = await self.upstream.fetch(got) if isinstance(got, str) else got
            out.append(Produced(payload, item.get("revised_prompt")))
        return out
