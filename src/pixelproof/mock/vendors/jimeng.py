"""The vendor role for the Jimeng visual API (Volcengine): submit, then query results, async."""

from __future__ import annotations

import json
import math
import secrets
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from pixelproof.geometry import Size
from pixelproof.mock import faults
from pixelproof.mock.errors import ApiError
from pixelproof.mock.jsonresp import JSONResponse
from pixelproof.mock.produce import as_b64, as_url, spec
from pixelproof.mock.vendors.common import required_prompt

if TYPE_CHECKING:
    from pixelproof.catalogue import Catalogue
    from pixelproof.mock.http import Incoming
    from pixelproof.mock.tasks import TaskStore

JIMENG_ACTIONS = ("CVSync2AsyncSubmitTask", "CVSync2AsyncGetResult")
JIMENG_VERSION = "2022-08-31"
TTL_24H = 86400.0


class JimengVendor:
    """The Volcengine visual API: submit, then query results, on the mock's clock."""

    def __init__(self, catalogue: Catalogue, tasks: TaskStore, job_seconds: float) -> None:
        self.catalogue = catalogue
        self.tasks = tasks
        self.job_seconds = job_seconds

    async def dispatch(self, inc: Incoming) -> Response:
        action, version = inc.query.get("Action"), inc.query.get("Version")
        if action is None and faults.active("jimeng-visual-action-ignored"):
            action, version = JIMENG_ACTIONS[0], JIMENG_VERSION
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
        prompt = required_prompt(body)
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
        if task is None and faults.active("jimeng-visual-unknown-done"):
            data = {"status": "done", "binary_data_base64": [], "image_urls": None}
            return JSONResponse(
                {"code": 10000, "message": "Success", "request_id": request_id, "data": data}
            )
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
            if faults.active("jimeng-visual-done-empty"):
                pass  # done, code 10000, and no image at all
            elif options.get("return_url"):
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
