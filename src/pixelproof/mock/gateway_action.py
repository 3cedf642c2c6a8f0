"""The reference gateway's action-style async task API (seed 002): one request with an `action`,
answered with a task id (polled through the shared task route of ``Surfaces``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from pixelproof.geometry import Size
from pixelproof.mock import faults
from pixelproof.mock.errors import ApiError
from pixelproof.mock.jsonresp import JSONResponse

if TYPE_CHECKING:
    from pixelproof.mock.gateway_surfaces import Surfaces
    from pixelproof.mock.http import Incoming

ACTIONS = ("generate", "image2image", "edit", "reference", "inpaint")


def _upscaled(size: Size, edge: int = 4096) -> Size:
    """A "true 4K" upscale some gateways do: the long side stretched to 4096, ratio kept."""
    scale = edge / max(size.width, size.height)
    return Size(round(size.width * scale), round(size.height * scale))


class ActionApi:
    def __init__(self, surfaces: Surfaces) -> None:
        self.s = surfaces

    async def submit(self, inc: Incoming) -> Response:
        body = inc.json_object()
        model, action, tier = self.checked(body)
        size = self.size(model, body.get("aspect_ratio"), tier)
        refs = self.s.references(body.get("image_urls"), limit=16)
        if action == "image2image" and not refs and faults.active("image2image-without-images"):
            action = "generate"  # served from the prompt alone
        late = ("image2image-fails-late", "image2image-upstream-checks")
        if action == "image2image" and not refs and any(faults.active(f) for f in late):
            return self.refused_late(inc, body)
        if action != "generate" and not refs:
            raise ApiError(400, f"action {action} requires image_urls", param="image_urls")
        up = self.upstream_body(body, model, tier, size)
        if action == "inpaint":
            mask = body.get("mask_url")
            if (not isinstance(mask, str) or not mask) and not faults.active(
                "inpaint-mask-optional"
            ):
                raise ApiError(400, "action inpaint requires mask_url", param="mask_url")
            if mask:
                up["mask"] = mask
        resize = _upscaled(size) if tier == "4k" and faults.active("action-4k-upscaled") else None
        task = self.s.submit(inc, up, refs, resize=resize, surface="action")
        task_id: Any = int(task.id.split("_")[1], 16) if faults.active("schema-drift") else task.id
        created = int(self.s.state.clock.epoch + task.created)
        return JSONResponse({"task_id": task_id, "status": "queued", "created": created})

    def checked(self, body: dict[str, Any]) -> tuple[str, str, str]:
        """Model, action and resolution tier of a submission, each refused by name if invalid."""
        models = self.s.catalogue.models_on("tasks-action")
        model = body.get("model")
        if model not in models:
            raise ApiError(400, f"model must be one of {', '.join(models)}", param="model",
                           code="model_not_found")  # fmt: skip
        if not isinstance(body.get("prompt"), str) or not body["prompt"].strip():
            raise ApiError(400, "prompt is required", param="prompt")
        if "action" not in body and faults.active("action-required"):
            raise ApiError(400, "action is required", param="action")
        action = body.get("action", "generate")
        if action not in ACTIONS:
            raise ApiError(400, f"action must be one of {', '.join(ACTIONS)}", param="action")
        tier = body.get("resolution", "1k")
        if tier not in ("1k", "2k", "4k"):  # seed 002 spells them lowercase; so does the contract
            raise ApiError(
                400, f"resolution must be 1k, 2k or 4k (got {tier!r})", param="resolution"
            )
        seed = body.get("seed")
        if isinstance(seed, int) and seed < 0 and faults.active("seed-negative-rejected"):
            raise ApiError(400, "seed must be >= 0", param="seed")
        if (
            model != "gpt-image-2"
            and "resolution" in body
            and faults.active("legacy-resolution-refused")
        ):
            raise ApiError(400, "resolution is only available for gpt-image-2", param="resolution")
        return str(model), str(action), str(tier)

    def upstream_body(
        self, body: dict[str, Any], model: str, tier: str, size: Size
    ) -> dict[str, Any]:
        """What the upstream is asked: model, prompt, size, format and the fields passed along."""
        fmt = body.get("output_format", "png")
        if fmt not in ("png", "jpeg", "webp") or (fmt == "webp" and model != "gpt-image-2"):
            raise ApiError(
                400, f"output_format {fmt!r} is not available for {model}", param="output_format"
            )
        legacy_tiers = faults.active("legacy-resolution-honoured") and tier != "1k"
        up: dict[str, Any] = {
            "model": "gpt-image-2" if model == "gpt-image-2" or legacy_tiers else "gpt-image-1",
            "prompt": body["prompt"], "size": str(size),
            "output_format": "png" if faults.active("output-format-ignored") else fmt,
        }  # fmt: skip
        background = self.background(model, body.get("background"))
        if background is not None:
            up["background"] = background
        for name in ("quality", "moderation"):
            if body.get(name) is not None:
                up[name] = body[name]
        defaults = {"quality": "high", "background": "opaque", "moderation": "low"}
        if faults.active("action-defaults-explicit-auto"):
            defaults = dict.fromkeys(defaults, "auto")
        if faults.active("action-defaults-explicit-auto") or faults.active(
            "action-defaults-not-auto"
        ):
            for name, value in defaults.items():
                up.setdefault(name, value)
        return up

    def refused_late(self, inc: Incoming, body: dict[str, Any]) -> Response:
        """Variants of refusing image2image without image_urls: the task is accepted and then
        fails with the reason, either by the gateway itself or by the upstream it asked."""
        forward = faults.active("image2image-upstream-checks")
        up = {"model": "gpt-image-1", "prompt": body["prompt"], "images": []}

        async def work() -> dict[str, Any]:
            if forward:  # the vendor refuses an edit without images; its refusal fails the task
                await self.s.upstream.post("/v1/images/edits", json=up)
            raise ApiError(400, "action image2image requires image_urls", param="image_urls")

        task = self.s.tasks.submit(work, run_s=self.s.state.config.job_seconds, surface="action")
        created = int(self.s.state.clock.epoch + task.created)
        return JSONResponse({"task_id": task.id, "status": "queued", "created": created})

    @staticmethod
    def background(model: str, background: Any) -> Any:
        """Seed 002: transparency is "not supported on the official channel" (the *-official models)."""
        if background == "transparent" and faults.active("transparency-dropped"):
            return "opaque"
        if background != "transparent" or not model.endswith("-official"):
            return background
        if faults.active("official-transparent-served"):
            return background
        if faults.active("official-transparent-ignored"):
            return None
        raise ApiError(
            400,
            "background: transparent is not supported on the official channel",
            param="background",
        )

    def size(self, model: str, ratio: Any, tier: str) -> Size:
        rules = {
            (r.ratio, r.tier): r
            for r in self.s.catalogue.rules("aspect_ratio", "tasks-action", model)
        }
        if ratio is not None and not isinstance(ratio, str):
            raise ApiError(
                400, f"aspect_ratio must be a string (got {ratio!r})", param="aspect_ratio"
            )
        if ratio is None:  # omitted: auto where the model offers it, else its first ratio
            ratio = "auto" if any(r == "auto" for r, _ in rules) else next(iter(rules))[0]
        key = (ratio, tier.lower()) if (ratio, tier.lower()) in rules else (ratio, None)
        rule = rules.get(key)
        if rule is None:
            if faults.active("bad-ratio-500"):
                raise RuntimeError(f"unhandled aspect ratio {ratio!r} (injected fault)")
            raise ApiError(
                400,
                f"aspect_ratio {ratio!r} at resolution {tier!r} is not available for {model}",
                param="aspect_ratio",
            )
        allowed = faults.active("four-k-any-ratio") or (
            faults.active("legacy-ratios-accepted") and model != "gpt-image-2"
        )
        if rule.rejected and not allowed:
            raise ApiError(
                400, rule.statement, param="aspect_ratio" if rule.tier is None else "resolution"
            )
        if ratio == "auto":
            return Size(1024, 1024)
        # Seed 002 gives no pixels; the reference uses seed 004's OpenAI pixel table for the tier.
        official = self.s.catalogue.rules("size", "tasks-official")
        legacy_tiers = faults.active("legacy-resolution-honoured") and model != "gpt-image-2"
        want = tier.lower() if legacy_tiers else (rule.tier or "1k")
        cell = next(
            (r for r in official if r.ratio == ratio and r.tier == want and not r.rejected),
            None,
        )
        if cell is None:
            cell = next(r for r in official if r.ratio == ratio and r.tier == "2k")
        size = Size.parse(cell.expect["size"])
        if model != "gpt-image-2" and not legacy_tiers:  # gpt-image-1 takes only its official sizes
            native = self.s.catalogue.native_sizes("openai/gpt-image-1")
            if native is not None and not native.accepts(size):
                size = native.closest_official(size)
        return size
