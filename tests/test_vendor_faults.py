"""Every vendor-role fault changes what a client of the vendor mock sees: one probe per fault, sent
clean and with ``X-Pixelproof-Fault``; the clean answer is the documented one, the faulty differs.
(That the vendor rules catch each of them is tests/test_selfcheck.py's business.)"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from pixelproof.images import decode
from pixelproof.mock.faults import CATALOGUE as FAULTS
from pixelproof.mock.faults import FAULT_HEADER

KEY = "pp-vendor-faults-key"
SUBMIT = {"Action": "CVSync2AsyncSubmitTask", "Version": "2022-08-31"}
RESULT = {**SUBMIT, "Action": "CVSync2AsyncGetResult"}
Observe = Callable[[TestClient, dict[str, str]], Any]
PROBES: dict[str, tuple[Observe, Any]] = {}


def probe(fault: str, clean: Any) -> Callable[[Observe], Observe]:
    def register(observe: Observe) -> Observe:
        PROBES[fault] = (observe, clean)
        return observe

    return register


def _gen(vendor: TestClient, headers: dict[str, str], **body: Any) -> Any:
    body = {"model": "gpt-image-2", "prompt": "a lighthouse", **body}
    return vendor.post("/v1/images/generations", json=body, headers=headers)


def _image(item: dict[str, Any]) -> Any:
    return decode(base64.b64decode(item["b64_json"]))


@probe("vendor-size-unchecked", 400)
def _size(vendor: TestClient, headers: dict[str, str]) -> int:
    return int(_gen(vendor, headers, size="1920x1080").status_code)


@probe("vendor-n-unchecked", 400)
def _n_limits(vendor: TestClient, headers: dict[str, str]) -> int:
    return int(_gen(vendor, headers, model="dall-e-3", n=2).status_code)


@probe("vendor-n-ignored", 2)
def _n_ignored(vendor: TestClient, headers: dict[str, str]) -> int:
    return len(_gen(vendor, headers, n=2).json()["data"])


@probe("vendor-created-missing", True)
def _created(vendor: TestClient, headers: dict[str, str]) -> bool:
    return "created" in _gen(vendor, headers).json()


@probe("vendor-url-ignored", "url")
def _url_ignored(vendor: TestClient, headers: dict[str, str]) -> str:
    return sorted(_gen(vendor, headers, model="dall-e-2", response_format="url").json()["data"][0])[
        -1
    ]


@probe("vendor-gpt-url", "b64_json")
def _gpt_url(vendor: TestClient, headers: dict[str, str]) -> str:
    return sorted(_gen(vendor, headers).json()["data"][0])[0]


@probe("vendor-opaque", True)
def _opaque(vendor: TestClient, headers: dict[str, str]) -> bool:
    item = _gen(vendor, headers, background="transparent", output_format="png").json()["data"][0]
    return bool(_image(item).transparent_pixels)


@probe("vendor-revised-prompt-empty", True)
def _revised(vendor: TestClient, headers: dict[str, str]) -> bool:
    return bool(_gen(vendor, headers, model="dall-e-3").json()["data"][0]["revised_prompt"])


@probe("vendor-edits-refused", 200)
def _edits(vendor: TestClient, headers: dict[str, str]) -> int:
    image = base64.b64decode(
        _gen(vendor, {"Authorization": headers["Authorization"]}).json()["data"][0]["b64_json"]
    )
    files = {"image": ("i.png", image, "image/png")}
    data = {"model": "gpt-image-1", "prompt": "a lighthouse"}
    return int(vendor.post("/v1/images/edits", data=data, files=files, headers=headers).status_code)


@probe("xai-png", "jpeg")
def _xai_png(vendor: TestClient, headers: dict[str, str]) -> str:
    item = _gen(vendor, headers, model="grok-4-2-image", response_format="b64_json").json()["data"][
        0
    ]
    return str(_image(item).format)


@probe("ark-watermark-default-off", True)
def _ark_watermark(vendor: TestClient, headers: dict[str, str]) -> bool:
    body = {
        "model": "doubao-seedream-4-0-250828",
        "prompt": "a lighthouse",
        "response_format": "b64_json",
    }
    item = vendor.post("/api/v3/images/generations", json=body, headers=headers).json()["data"][0]
    return bool(_image(item).watermarked)


@probe("gemini-vendor-imagesize-ignored", "2048x2048")
def _gemini(vendor: TestClient, headers: dict[str, str]) -> str:
    body = {"contents": [{"parts": [{"text": "a lighthouse"}]}],
            "generationConfig": {"imageConfig": {"aspectRatio": "1:1", "imageSize": "2K"}}}  # fmt: skip
    answer = vendor.post(
        "/v1beta/models/gemini-3-pro-image-preview:generateContent", json=body, headers=headers
    )
    part = answer.json()["candidates"][0]["content"]["parts"][-1]["inlineData"]
    return str(decode(base64.b64decode(part["data"])).size)


@probe("jimeng-visual-unknown-done", "not_found")
def _jimeng_unknown(vendor: TestClient, headers: dict[str, str]) -> str:
    body = {"req_key": "jimeng_t2i_v40", "task_id": "never-issued"}
    return str(vendor.post("/", params=RESULT, json=body, headers=headers).json()["data"]["status"])


@probe("jimeng-visual-action-ignored", 400)
def _jimeng_action(vendor: TestClient, headers: dict[str, str]) -> int:
    body = {"req_key": "jimeng_t2i_v40", "prompt": "a lighthouse"}
    return int(vendor.post("/", json=body, headers=headers).status_code)


@probe("jimeng-visual-done-empty", 1)
def _jimeng_empty(vendor: TestClient, headers: dict[str, str]) -> int:
    body = {"req_key": "jimeng_t2i_v40", "prompt": "a lighthouse", "width": 1024, "height": 1024}
    task_id = vendor.post("/", params=SUBMIT, json=body, headers=headers).json()["data"]["task_id"]
    vendor.post(
        "/__pixelproof/clock",
        json={"seconds": 3600},
        headers={"Authorization": headers["Authorization"]},
    )
    query = {"req_key": "jimeng_t2i_v40", "task_id": task_id}
    data = vendor.post("/", params=RESULT, json=query, headers=headers).json()["data"]
    assert data["status"] == "done", data
    return len(data.get("binary_data_base64") or [])


VENDOR_FAULTS = sorted(f.name for f in FAULTS.values() if f.role == "upstream" and f.breaks)


def test_every_vendor_fault_has_a_probe() -> None:
    assert sorted(PROBES) == VENDOR_FAULTS


@pytest.mark.parametrize("fault", VENDOR_FAULTS)
def test_vendor_fault_changes_what_is_observed(
    fault: str, mock_vendor_factory: Callable[..., TestClient]
) -> None:
    vendor = mock_vendor_factory(time_scale=1e-6, api_key=KEY)
    auth = {"Authorization": f"Bearer {KEY}"}
    observe, documented = PROBES[fault]
    clean = observe(vendor, auth)
    assert clean == documented, f"clean vendor: {clean!r}"
    faulty = observe(vendor, auth | {FAULT_HEADER: fault})
    assert faulty != clean, f"{fault}: the faulty answer looks like the clean one ({clean!r})"
