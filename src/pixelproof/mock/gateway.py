"""The reference gateway: the documented unified layer, read from the catalogue, over an upstream.

Every mapping (presets, tiers, fallbacks, limits) comes from the rule catalogue; nothing here
restates a table. Faults are checked at the one place each documented behaviour lives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
from starlette.responses import Response
from starlette.routing import Route

from pixelproof.images import ImageError, decode, sniff
from pixelproof.mock import faults
from pixelproof.mock.errors import ApiError
from pixelproof.mock.gateway_families import PASSTHROUGH, Families
from pixelproof.mock.gateway_faults import (
    forward_promptless,
    forward_unknown_model,
    lenient_model,
)
from pixelproof.mock.http import Incoming, endpoint
from pixelproof.mock.jsonresp import JSONResponse
from pixelproof.mock.produce import b64_of, store_bytes
from pixelproof.mock.upstream import Upstream

if TYPE_CHECKING:
    from pixelproof.catalogue import Catalogue
    from pixelproof.mock.jobs import (
        Produced,
    )
    from pixelproof.mock.state import MockState

URL_TTL_S = 86400.0


class Unified(Families):
    """POST /v1/images/generations, /v1/images/edits, /v1/edits, /v1/images/variations."""

    # ------------------------------------------------------------------ shared steps
    def model(self, body: dict[str, Any]) -> str:
        name = body.get("model")
        if faults.active("model-unvalidated") and (
            not isinstance(name, str) or self.catalogue.model("unified", name) is None
        ):
            return "gpt-image-2"
        if name is None or name == "":
            raise ApiError(400, "model is required", param="model", code="missing_model")
        name = lenient_model(self.catalogue.models_on("unified"), name)
        if not isinstance(name, str) or self.catalogue.model("unified", name) is None:
            raise ApiError(
                404,
                f"model {name!r} does not exist on this gateway",
                param="model",
                code="model_not_found",
            )
        return name

    @staticmethod
    def count(body: dict[str, Any]) -> int:
        n = body.get("n")
        if n is None:
            return 2 if faults.active("n-default-two") else 1
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 10:
            raise ApiError(
                400, "n must be an integer from 0 to 10 (0 or omitted means 1)", param="n"
            )
        if n == 0:
            return 0 if faults.active("n-zero-forwarded") else 1
        return n

    @staticmethod
    def output_kind(body: dict[str, Any]) -> str:
        kind = body.get("response_format")
        kind = "url" if kind is None else kind  # JSON null means omitted (the OpenAI SDK sends it)
        if kind not in ("url", "b64_json", "base64") or (
            kind == "base64" and faults.active("base64-alias-rejected")
        ):
            raise ApiError(
                400,
                f"response_format must be url or b64_json (got {kind!r})",
                param="response_format",
            )
        if faults.active("response-format-ignored"):
            return "b64_json"
        return "b64_json" if kind == "base64" else str(kind)

    # ------------------------------------------------------------------ routes
    async def generations(self, inc: Incoming) -> Response:
        body = inc.json_object()
        if await forward_unknown_model(self.upstream, self.catalogue.models_on("unified"), body):
            raise ApiError(502, "upstream answered an unknown model", type="upstream_error")
        model = self.model(body)
        if await forward_promptless(self.upstream, body) is not None:
            raise ApiError(502, "upstream answered a request without prompt", type="upstream_error")
        if faults.active("prompt-unvalidated") and body.get("prompt") is None:
            body["prompt"] = "an image"  # a default prompt instead of the documented rejection
        elif not isinstance(body.get("prompt"), str) or not body["prompt"].strip():
            raise ApiError(400, "prompt is required", param="prompt")
        n, kind = self.count(body), self.output_kind(body)
        entry = self.catalogue.model("unified", model)
        assert entry is not None
        assert entry.upstream is not None
        family = entry.upstream.split("/", 1)[0]
        via = {
            "openai": self.via_openai,
            "ark": self.via_ark,
            "xai": self.via_xai,
            "jimeng-visual": self.via_jimeng,
        }
        produced = await via[family](model, body, n)
        if family == "ark" and faults.active("seedream-url-alone"):
            kind = "url"  # allowed: "url may also be returned alone" (seed 000)
        return self.answer(inc, produced, kind)

    def answer(self, inc: Incoming, produced: list[Produced], kind: str) -> Response:
        data = []
        for item in produced:
            if kind == "url":
                fmt = sniff(item.data) or "png"
                url = store_bytes(inc, item.data, fmt, URL_TTL_S)
                out: dict[str, Any] = {"url": url + ("-gone" if faults.active("url-dead") else "")}
            else:
                out = {
                    "b64_json": "!!not-base64!!"
                    if faults.active("b64-corrupt")
                    else b64_of(item.data)
                }
            if item.revised_prompt is not None or faults.active("revised-prompt-empty"):
                out["revised_prompt"] = (
                    "" if faults.active("revised-prompt-empty") else item.revised_prompt
                )
            data.append(out)
        return JSONResponse({"created": inc.state.clock.wall(), "data": data})

    async def edits(self, inc: Incoming) -> Response:
        if inc.json is not None:
            if faults.active("edits-json-unsupported"):
                raise ApiError(400, "JSON edits are not supported; send multipart/form-data")
            body = inc.json_object()
            if not body.get("image"):
                raise ApiError(400, "image is required for edits", param="image")
            return await self.generations(inc)
        body = dict(inc.form)
        model = self.model(body)
        if not str(body.get("prompt") or "").strip():  # an edit is image(s) "together with prompt"
            raise ApiError(400, "prompt is required", param="prompt")
        entry = self.catalogue.model("unified", model)
        assert entry is not None
        assert entry.upstream is not None
        jimeng = entry.upstream.startswith("jimeng-visual/")  # seed 000: "Edit: image file upload"
        if not entry.upstream.startswith("openai/") and (
            not jimeng or faults.active("jimeng-edits-refused")
        ):
            raise ApiError(
                400, f"{model} does not support multipart edits on this gateway", param="model"
            )
        images = inc.files_named("image", "image[]")
        if not images:
            raise ApiError(400, "image is required for edits", param="image")
        for f in images:
            try:
                decode(f.data)
            except ImageError as exc:
                raise ApiError(
                    400, f"{f.field}: {exc}", param="image", code="invalid_image"
                ) from None
        n = self.count({"n": _int_or_none(body.get("n"))})
        if faults.active("edits-n-zero-forwarded") and _int_or_none(body.get("n")) == 0:
            n = 0
        kind = self.output_kind(body)
        if jimeng:  # the uploads become URLs the visual API's image_urls can name
            urls = [store_bytes(inc, f.data, sniff(f.data) or "png", URL_TTL_S) for f in images]
            return self.answer(inc, await self.via_jimeng(model, body, n, urls), kind)
        size, intent = self.openai_size(model, body)
        fields: dict[str, Any] = {
            "model": entry.upstream.split("/", 1)[1],
            "prompt": f"{body.get('prompt', '')}{intent}",
            "n": str(n),
        }
        if size:
            fields["size"] = size
        for name in PASSTHROUGH:
            if body.get(name):
                fields[name] = body[name]
        files = [
            (
                "image[]" if len(images) > 1 else "image",
                (f.filename or "image.png", f.data, f.content_type or "image/png"),
            )
            for f in images
        ]
        masks = inc.files_named("mask")
        if masks and not faults.active("mask-dropped"):
            files.append(("mask", (masks[0].filename or "mask.png", masks[0].data, "image/png")))
        answer = await self.upstream.post("/v1/images/edits", data=fields, files=files)
        return self.answer(inc, await self.collect(answer.get("data")), kind)

    async def edits_alias(self, inc: Incoming) -> Response:
        if faults.active("edits-alias-missing"):
            raise ApiError(404, "Not Found", type="not_found")
        return await self.edits(inc)

    async def variations(self, inc: Incoming) -> Response:
        if faults.active("variations-500"):
            raise RuntimeError("variations crashed (injected fault)")
        raise ApiError(
            501,
            "image variations are not implemented on this gateway",
            type="not_implemented",
            code="not_implemented",
        )


def _int_or_none(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, "n must be an integer", param="n") from None


def gateway_routes(
    state: MockState, catalogue: Catalogue, transport: httpx.AsyncBaseTransport | None
) -> list[Route]:
    from pixelproof.mock.gateway_surfaces import Surfaces

    if not state.config.upstream_url and transport is None:
        raise ValueError("the gateway role needs --upstream URL")
    upstream = Upstream(
        state.config.upstream_url or "http://upstream", state.config.upstream_key, transport
    )
    unified = Unified(catalogue, upstream)
    surfaces = Surfaces(catalogue, upstream, state)
    return [
        Route("/v1/images/generations", endpoint(state, unified.generations), methods=["POST"]),
        Route("/v1/images/edits", endpoint(state, unified.edits), methods=["POST"]),
        Route("/v1/edits", endpoint(state, unified.edits_alias), methods=["POST"]),
        Route("/v1/images/variations", endpoint(state, unified.variations), methods=["POST"]),
        *surfaces.routes(),
    ]
