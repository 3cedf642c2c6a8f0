"""The reference gateway's other surfaces: Gemini native, Jimeng official format, and the two
async task APIs (action-style, seed 002; official channel, seed 004)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.routing import Route

from pixelproof.geometry import Size
from pixelproof.images import ImageError, b64_measure, measure, render, sniff
from pixelproof.mock import faults
from pixelproof.mock.errors import ApiError
from pixelproof.mock.gateway_action import ActionApi
from pixelproof.mock.http import Incoming, endpoint
from pixelproof.mock.jsonresp import JSONResponse
from pixelproof.mock.produce import spec, store_bytes
from pixelproof.mock.upstream import Upstream, image_bytes

if TYPE_CHECKING:
    from pixelproof.catalogue import Catalogue
    from pixelproof.mock.state import MockState
    from pixelproof.mock.tasks import Task

ACTION_PREFIX, OFFICIAL_PREFIX = "/action", "/official"
REF_FORMATS = ("png", "jpeg", "webp")
URL_TTL_S = 86400.0


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


def _url_ttl_s() -> float:
    if faults.active("result-url-1h"):
        return 3600.0
    return 7 * 86400.0 if faults.active("result-url-7d") else URL_TTL_S


class Surfaces:
    def __init__(self, catalogue: Catalogue, upstream: Upstream, state: MockState) -> None:
        self.catalogue = catalogue
        self.upstream = upstream
        self.state = state
        self.tasks = state.task_store()
        self.action = ActionApi(self)

    # ------------------------------------------------------------------ Gemini
    async def gemini(self, inc: Incoming) -> Response:
        model = inc.request.path_params["model"]
        if self.catalogue.model("gemini", model) is None:
            raise ApiError(404, f"models/{model} is not found on this gateway")
        body = inc.json_object()
        config = body.get("generationConfig")
        if faults.active("gemini-imagesize-dropped") and isinstance(config, dict):
            (config.get("imageConfig") or {}).pop("imageSize", None)
        if faults.active("gemini-reference-dropped"):
            for content in body.get("contents") or []:
                if isinstance(content, dict) and isinstance(content.get("parts"), list):
                    content["parts"] = [
                        p
                        for p in content["parts"]
                        if not (isinstance(p, dict) and "inlineData" in p)
                    ]
        answer = await self.upstream.post(f"/v1beta/models/{model}:generateContent", json=body)
        return JSONResponse(answer)

    # ------------------------------------------------------------------ Jimeng official format
    async def jimeng(self, inc: Incoming) -> Response:
        action, version = inc.query.get("Action"), inc.query.get("Version")
        if faults.active("jimeng-action-ignored") and action is None:
            action, version = "CVSync2AsyncSubmitTask", "2022-08-31"
        if (
            action not in ("CVSync2AsyncSubmitTask", "CVSync2AsyncGetResult")
            or version != "2022-08-31"
        ):
            raise ApiError(
                400,
                "query parameters Action=CVSync2AsyncSubmitTask|CVSync2AsyncGetResult and Version=2022-08-31 are required",
            )
        body = inc.json_object()
        answer = await self.upstream.post(
            "/", json=body, params={"Action": action, "Version": version}
        )
        data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
        if action == "CVSync2AsyncGetResult":
            if data.get("status") == "not_found" and faults.active("jimeng-unknown-404"):
                raise ApiError(
                    404, f"task {body.get('task_id')!r} not found", code="task_not_found"
                )
            if data.get("status") == "not_found" and faults.active("jimeng-unknown-done"):
                data.update(status="done", binary_data_base64=[], image_urls=None)
            if data.get("status") == "done" and faults.active("jimeng-done-empty"):
                data.update(binary_data_base64=[], image_urls=None)
        return JSONResponse(answer)

    # ------------------------------------------------------------------ shared task steps
    def references(self, refs: Any, limit: int) -> list[str]:
        if refs is None:
            return []
        if not isinstance(refs, list) or not all(isinstance(r, str) and r for r in refs):
            raise ApiError(
                400, "image_urls must be a list of URL or base64 strings", param="image_urls"
            )
        if len(refs) > limit and not faults.active("refs-unlimited"):
            raise ApiError(
                400,
                f"at most {limit} reference images are allowed (got {len(refs)})",
                param="image_urls",
                code="too_many_images",
            )
        for i, ref in enumerate(refs):
            if not _is_url(ref):
                self.check_reference(ref, f"image_urls[{i}]")
        return list(refs)

    @staticmethod
    def check_reference(ref: str, where: str) -> None:
        try:
            size, head = b64_measure(ref)
        except ImageError as exc:
            raise ApiError(
                400, f"{where}: {exc}", param="image_urls", code="invalid_image"
            ) from None
        if size > 30 * 1024 * 1024 and not faults.active("ref-bytes-unchecked"):
            raise ApiError(
                400,
                f"{where}: {size:,} bytes exceeds the 30 MB limit",
                param="image_urls",
                code="image_too_large",
            )
        fmt = sniff(head)
        if fmt not in REF_FORMATS and not (fmt == "gif" and faults.active("ref-format-unchecked")):
            raise ApiError(
                400,
                f"{where}: {fmt or 'unknown'} images are not supported (JPG/PNG/WEBP)",
                param="image_urls",
                code="invalid_image_format",
            )

    def official_size(self, ratio: str, tier: str) -> Size | None:
        """The official channel's table (seed 004): None when the cell is 'rejected'."""
        rule_id = f"size.gpt_image_2_official.{ratio}.{tier.lower()}"
        if faults.active("official-table-swapped") and tier.lower() == "1k":
            swapped = [
                r
                for r in self.catalogue.rules("size", "unified", "gpt-image-2")
                if r.ratio == ratio
            ]
            if swapped:
                return Size.parse(swapped[0].expect["size"])
        rule = self.catalogue.rule(rule_id)
        return None if rule.rejected else Size.parse(rule.expect["size"])

    async def render(
        self, inc: Incoming, up: dict[str, Any], refs: list[str], resize: Size | None = None
    ) -> dict[str, Any]:
        """Run one job against the upstream; images stored and answered by URL (``resize``: a
        fault's upscaling, the stored image redrawn at that size)."""
        if refs:
            up["images"] = [{"image_url": r} for r in refs]
            answer = await self.upstream.post("/v1/images/edits", json=up)
        else:
            answer = await self.upstream.post("/v1/images/generations", json=up)
        images = []
        for item in answer.get("data") or []:
            got = image_bytes(item)
            data = await self.upstream.fetch(got) if isinstance(got, str) else got
            try:
                fmt, size = measure(data)
            except (OSError, ValueError):
                raise ApiError(
                    502, "upstream answered bytes that are not an image", type="upstream_error"
                ) from None
            if resize is not None:
                data, size = render(spec(resize, fmt or "png", str(up.get("model")))), resize
            url = store_bytes(inc, data, fmt or "png", _url_ttl_s())
            images.append({"url": url, "width": size.width, "height": size.height})
        if not images:
            raise ApiError(502, "upstream answered without images", type="upstream_error")
        return {"images": images}

    def submit(self, inc: Incoming, up: dict[str, Any], refs: list[str],
               resize: Size | None = None, **meta: Any) -> Task:  # fmt: skip
        async def work() -> dict[str, Any]:
            return await self.render(inc, up, refs, resize)

        task = self.tasks.submit(work, run_s=self.state.config.job_seconds, **meta)
        if faults.active("task-vanishes"):
            self.tasks.forget(task.id)
        return task

    def task_view(self, task: Task) -> dict[str, Any]:
        state = task.state(self.tasks.now())
        stuck = {"official": "task-stuck", "action": "action-task-stuck"}.get(
            task.meta.get("surface")
        )
        if stuck and faults.active(stuck) and state == "completed":
            state = "processing"
        view: dict[str, Any] = {
            "task_id": task.id,
            "status": state,
            "created": int(self.state.clock.epoch + task.created),
        }
        if state == "completed":
            view["result"] = task.result()
            view["completed_at"] = self.state.clock.wall()
        if state == "failed":
            if faults.active("task-failure-hidden"):
                view["status"] = "completed"
            else:
                view["error"] = task.error()
        return view

    async def task_get(self, inc: Incoming) -> Response:
        task_id = inc.request.path_params["task_id"]
        task = self.tasks.get(task_id)
        official = inc.path.startswith(OFFICIAL_PREFIX)
        if task is None:
            if faults.active("unknown-task-200"):
                view = {"task_id": task_id, "status": "queued", "created": self.state.clock.wall()}
                return JSONResponse({"code": 200, "data": view} if official else view)
            raise ApiError(
                400 if faults.active("unknown-task-400") else 404,
                f"task {task_id!r} not found",
                type="not_found",
                code="task_not_found",
            )
        view = self.task_view(task)
        return JSONResponse({"code": 200, "message": "success", "data": view} if official else view)

    # ------------------------------------------------------------------ official channel (seed 004)
    async def official_submit(self, inc: Incoming) -> Response:
        body = inc.json_object()
        if body.get("model") != "gpt_image_2_official":
            raise ApiError(
                400, "model must be gpt_image_2_official", param="model", code="model_not_found"
            )
        params = body.get("params")
        if not isinstance(params, dict):
            raise ApiError(400, "params must be an object", param="params")
        caller_id = body.get("task_id")
        if not (isinstance(caller_id, str) and caller_id) and not faults.active(
            "caller-id-optional"
        ):
            raise ApiError(400, "task_id (the caller's task id) is required", param="task_id")
        prompt = params.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise ApiError(400, "params.prompt is required", param="params.prompt")
        blocked = [t for t in self.catalogue.defaults.safety.blocked_terms if t in prompt.lower()]
        if blocked and not faults.active("safety-bypassed"):
            raise ApiError(
                400,
                "the prompt was rejected by the safety review",
                type="content_policy_violation",
                code="content_policy_violation",
            )
        ratio, tier = str(params.get("aspect_ratio", "1:1")), str(params.get("resolution", "1K"))
        if f"size.gpt_image_2_official.{ratio}.{tier.lower()}" not in {
            r.id for r in self.catalogue.rules("size", "tasks-official")
        } or tier not in ("1K", "2K", "4K"):
            raise ApiError(
                400,
                f"aspect_ratio {ratio!r} / resolution {tier!r} is not supported",
                param="params.aspect_ratio",
            )
        size = self.official_size(ratio, tier)
        if size is None:
            if not faults.active("four-k-any-ratio"):
                raise ApiError(
                    400,
                    f"{ratio} at {tier} exceeds the pixel limit and is unavailable",
                    param="params.resolution",
                    code="pixel_limit_exceeded",
                )
            size = self.official_size(ratio, "2K")
        refs = self.references(params.get("image_urls"), limit=9)
        up: dict[str, Any] = {"model": "gpt-image-2", "prompt": prompt, "size": str(size)}
        if params.get("quality") is not None:
            up["quality"] = params["quality"]
        task = self.submit(inc, up, refs, surface="official", caller_id=caller_id)
        return JSONResponse(
            {
                "code": 200,
                "message": "success",
                "data": [{"task_id": task.id, "status": "queued", "initiator_task_id": caller_id}],
            }
        )

    def routes(self) -> list[Route]:
        s = self.state
        return [
            Route(
                "/v1beta/models/{model}:generateContent",
                endpoint(s, self.gemini, "google"),
                methods=["POST"],
            ),
            Route("/jm", endpoint(s, self.jimeng, "jimeng"), methods=["POST"]),
            Route(
                f"{ACTION_PREFIX}/v1/images/generations",
                endpoint(s, self.action.submit),
                methods=["POST"],
            ),
            Route(
                f"{ACTION_PREFIX}/v1/tasks/{{task_id}}", endpoint(s, self.task_get), methods=["GET"]
            ),
            Route(
                f"{OFFICIAL_PREFIX}/v1/images/generations",
                endpoint(s, self.official_submit, "official"),
                methods=["POST"],
            ),
            Route(
                f"{OFFICIAL_PREFIX}/v1/tasks/{{task_id}}",
                endpoint(s, self.task_get, "official"),
                methods=["GET"],
            ),
        ]
