"""The vendor-role mock behaves like the vendors (DOMAIN.md): it rejects what they reject, in their
error dialect, and its async jobs and URLs live on the mock's clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from pixelproof.catalogue import Catalogue, Rule, default_catalogue
from pixelproof.geometry import Size, ratio_matches
from pixelproof.images import DecodedImage, b64decode_strict, decode
from pixelproof.judging.expect import nearest_tier

GENERATIONS = "/v1/images/generations"
ARK = "/api/v3/images/generations"
SEEDREAM = "doubao-seedream-4-0-250828"
JIMENG_SUBMIT = {"Action": "CVSync2AsyncSubmitTask", "Version": "2022-08-31"}
JIMENG_RESULT = {"Action": "CVSync2AsyncGetResult", "Version": "2022-08-31"}
JIMENG_SUCCESS = 10000  # DOMAIN.md § Jimeng: reply {"code": 10000, ...}
JIMENG_RETENTION_S = 24 * 3600  # results are kept a day, then the query answers "expired"
GEMINI_SIZE_RULES = [r.id for r in default_catalogue().rules("gemini_size", "gemini")]


def gemini_path(model: str) -> str:
    return f"/v1beta/models/{model}:generateContent"


def image_of(client: TestClient, item: dict[str, Any]) -> DecodedImage:
    """The image of one answer item, downloaded when it is a URL."""
    if item.get("b64_json"):
        return decode(b64decode_strict(item["b64_json"]))
    response = client.get(item["url"])
    assert response.status_code == 200, response.text
    return decode(response.content)


def advance(client: TestClient, seconds: float) -> None:
    response = client.post("/__pixelproof/clock", json={"seconds": seconds})
    assert response.status_code == 200, response.text


def assert_openai_error(response: httpx.Response, status: int, param: str | None = None) -> None:
    """DOMAIN.md § OpenAI Images: {"error": {"message", "type", "param", "code"}}."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str), error
    assert error["message"], error
    assert error["type"] == "invalid_request_error", error
    if param is not None:
        assert error["param"] == param, error


def rule_size(rule: Rule, key: str = "size") -> Size:
    return Size.parse(rule.expect[key])


# ---------------------------------------------------------------- OpenAI Images: what it rejects


def test_gpt_image_2_takes_its_documented_native_sizes(
    mock_vendor: TestClient, catalogue: Catalogue
) -> None:
    native = [
        r for r in catalogue.rules("size", "unified", "gpt-image-2") if r.expect.get("native", True)
    ]
    assert native, "the catalogue lists native gpt-image-2 presets"
    for rule in native:
        body = {"model": "gpt-image-2", "prompt": "a lighthouse", "size": rule.expect["size"]}
        response = mock_vendor.post(GENERATIONS, json=body)
        assert response.status_code == 200, (rule.id, response.text)
        assert image_of(mock_vendor, response.json()["data"][0]).size == rule_size(rule), rule.id


@pytest.mark.parametrize(
    "rule_id",
    ["fallback.gpt-image-2.16:9", "fallback.gpt-image-2-pro.4:3.4k"],
    ids=["not-divisible-by-16", "over-the-pixel-ceiling"],
)
def test_gpt_image_2_rejects_sizes_it_cannot_take(
    mock_vendor: TestClient, catalogue: Catalogue, rule_id: str
) -> None:
    """The catalogue's fallback cases are exactly the sizes the vendor refuses."""
    rule = catalogue.rule(rule_id)
    body = {"model": "gpt-image-2", "prompt": "a lighthouse", "size": rule.expect["target"]}
    response = mock_vendor.post(GENERATIONS, json=body)
    assert_openai_error(response, 400, param="size")
    assert response.json()["error"]["code"] == "invalid_size"


def test_dall_e_3_takes_one_image_only(mock_vendor: TestClient) -> None:
    body = {"model": "dall-e-3", "prompt": "a lighthouse", "response_format": "b64_json"}
    assert len(mock_vendor.post(GENERATIONS, json=body | {"n": 1}).json()["data"]) == 1
    assert_openai_error(mock_vendor.post(GENERATIONS, json=body | {"n": 2}), 400, param="n")


def test_dall_e_2_rejects_1792x1024(mock_vendor: TestClient, catalogue: Catalogue) -> None:
    rule = catalogue.rule("size.dall-e-2.rejects-1792x1024")
    assert rule.rejected
    body = {"model": "dall-e-2", "prompt": "a lighthouse", **rule.request}
    response = mock_vendor.post(GENERATIONS, json=body)
    assert_openai_error(response, 400, param="size")
    assert response.json()["error"]["code"] == "invalid_size"


def test_unknown_model_is_an_openai_error(mock_vendor: TestClient) -> None:
    response = mock_vendor.post(GENERATIONS, json={"model": "gpt-image-99", "prompt": "x"})
    assert 400 <= response.status_code < 500
    assert_openai_error(response, response.status_code, param="model")


def test_unknown_parameter_is_rejected_by_name(mock_vendor: TestClient) -> None:
    body = {"model": "gpt-image-2", "prompt": "a lighthouse", "ratio": "16:9"}
    response = mock_vendor.post(GENERATIONS, json=body)
    assert_openai_error(response, 400, param="ratio")
    assert response.json()["error"]["code"] == "unknown_parameter"


def test_dall_e_3_answers_a_revised_prompt(mock_vendor: TestClient) -> None:
    body = {"model": "dall-e-3", "prompt": "a lighthouse", "response_format": "b64_json"}
    item = mock_vendor.post(GENERATIONS, json=body).json()["data"][0]
    assert isinstance(item.get("revised_prompt"), str)
    assert item["revised_prompt"]


def test_edit_mask_must_be_a_png_with_alpha(
    mock_vendor: TestClient, make_png: Callable[..., bytes]
) -> None:
    """DOMAIN.md: a mask is a PNG with alpha, the same size as the (first) image."""
    fields = {"model": "gpt-image-2", "prompt": "a lighthouse"}

    def edit(mask: bytes) -> httpx.Response:
        files = [("image", ("in.png", make_png(64, 64), "image/png"))]
        return mock_vendor.post(
            "/v1/images/edits", data=fields, files=[*files, ("mask", ("m.png", mask, "image/png"))]
        )

    assert edit(make_png(64, 64, alpha=True)).status_code == 200
    assert_openai_error(edit(make_png(64, 64)), 400, param="mask")
    assert_openai_error(edit(make_png(32, 32, alpha=True)), 400, param="mask")
    assert_openai_error(edit(b"not an image at all"), 400, param="mask")


# ---------------------------------------------------------------- URLs live on the mock's clock


def test_dall_e_urls_expire_after_their_documented_lifetime(
    mock_vendor: TestClient, catalogue: Catalogue
) -> None:
    ttl = catalogue.defaults.limits.url_ttl_s["openai"]
    body = {"model": "dall-e-2", "prompt": "a lighthouse", "size": "256x256"}
    url = mock_vendor.post(GENERATIONS, json=body).json()["data"][0]["url"]
    assert mock_vendor.get(url).status_code == 200
    advance(mock_vendor, ttl - 60)
    assert decode(mock_vendor.get(url).content).size == Size(256, 256)
    advance(mock_vendor, 61)
    expired = mock_vendor.get(url)
    assert expired.status_code == 404
    assert "error" in expired.json()


# ---------------------------------------------------------------- xAI, Ark, Gemini


def test_grok_answers_jpeg_at_the_documented_ratio_size(
    mock_vendor: TestClient, catalogue: Catalogue
) -> None:
    rule = catalogue.rule("size.grok-4-2-image.16:9")
    body = {"model": "grok-4-2-image", "prompt": "a lighthouse", "aspect_ratio": rule.ratio}
    item = mock_vendor.post(GENERATIONS, json=body).json()["data"][0]
    image = image_of(mock_vendor, item)
    assert (image.format, image.size) == ("jpeg", rule_size(rule))


@pytest.mark.parametrize(
    ("watermark", "marked"),
    [(None, "vendor default"), (True, True), (False, False)],
    ids=["omitted", "true", "false"],
)
def test_ark_watermark_tri_state(
    mock_vendor: TestClient, catalogue: Catalogue, watermark: bool | None, marked: Any
) -> None:
    if marked == "vendor default":
        marked = catalogue.vendors[f"ark/{SEEDREAM}"].watermark_default
        assert marked is True  # DOMAIN.md: the vendor adds a watermark when it is omitted
    body: dict[str, Any] = {
        "model": SEEDREAM,
        "prompt": "a lighthouse",
        "response_format": "b64_json",
    }
    if watermark is not None:
        body["watermark"] = watermark
    response = mock_vendor.post(ARK, json=body)
    assert response.status_code == 200, response.text
    assert image_of(mock_vendor, response.json()["data"][0]).watermarked is marked


def test_ark_errors_speak_the_ark_dialect(mock_vendor: TestClient) -> None:
    response = mock_vendor.post(ARK, json={"model": "no-such-seedream", "prompt": "x"})
    assert 400 <= response.status_code < 500
    error = response.json()["error"]
    assert set(error) == {"code", "message"}
    assert error["message"]


@pytest.mark.parametrize("rule_id", GEMINI_SIZE_RULES)
def test_gemini_image_size_follows_the_pixel_table(
    mock_vendor: TestClient, catalogue: Catalogue, rule_id: str
) -> None:
    """The flash previews asked for 2K answer a 1K image; the pro model answers 2K."""
    rule = catalogue.rule(rule_id)
    assert rule.models is not None
    body = {
        "contents": [{"parts": [{"text": "a lighthouse"}]}],
        "generationConfig": {"responseModalities": ["IMAGE"], "imageConfig": rule.request},
    }
    response = mock_vendor.post(gemini_path(rule.models[0]), json=body)
    assert response.status_code == 200, response.text
    parts = response.json()["candidates"][0]["content"]["parts"]
    inline = [p["inlineData"] for p in parts if "inlineData" in p]
    assert len(inline) == 1
    assert inline[0]["mimeType"] == "image/png"
    got = decode(b64decode_strict(inline[0]["data"])).size
    assert nearest_tier(got) == rule.expect["tier"], (rule.id, got)
    assert ratio_matches(got, rule.expect["ratio"], rule.expect["ratio_tolerance"]), (rule.id, got)


def test_gemini_errors_speak_the_google_dialect(mock_vendor: TestClient) -> None:
    response = mock_vendor.post(gemini_path("gemini-0-nothing"), json={"contents": []})
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == 404
    assert error["status"] == "NOT_FOUND"
    assert error["message"]


# ---------------------------------------------------------------- Jimeng jobs on the clock


def _jimeng(client: TestClient, params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/", params=params, json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _submit(client: TestClient, prompt: str = "a lighthouse") -> str:
    body = {"req_key": "jimeng_t2i_v40", "prompt": prompt, "width": 1024, "height": 1024}
    answer = _jimeng(client, JIMENG_SUBMIT, body)
    assert answer["code"] == JIMENG_SUCCESS, answer
    return str(answer["data"]["task_id"])


def _result(client: TestClient, task_id: str) -> dict[str, Any]:
    return _jimeng(client, JIMENG_RESULT, {"req_key": "jimeng_t2i_v40", "task_id": task_id})


@pytest.fixture
def jimeng_vendor(mock_vendor_factory: Callable[..., TestClient]) -> TestClient:
    """Jobs of 100 mock seconds on a clock that only moves when advanced."""
    return mock_vendor_factory(time_scale=1e-6, job_seconds=100.0)


def test_jimeng_job_goes_in_queue_generating_done(jimeng_vendor: TestClient) -> None:
    task_id = _submit(jimeng_vendor)
    seen = [_result(jimeng_vendor, task_id)["data"]["status"]]
    advance(jimeng_vendor, 50)
    seen.append(_result(jimeng_vendor, task_id)["data"]["status"])
    advance(jimeng_vendor, 100)
    done = _result(jimeng_vendor, task_id)
    seen.append(done["data"]["status"])
    assert seen == ["in_queue", "generating", "done"]
    assert done["code"] == JIMENG_SUCCESS
    [image] = done["data"]["binary_data_base64"]
    assert decode(b64decode_strict(image)).size == Size(1024, 1024)


def test_jimeng_return_url_answers_image_urls(jimeng_vendor: TestClient) -> None:
    task_id = _submit(jimeng_vendor)
    advance(jimeng_vendor, 200)
    body = {"req_key": "jimeng_t2i_v40", "task_id": task_id, "req_json": '{"return_url": true}'}
    data = _jimeng(jimeng_vendor, JIMENG_RESULT, body)["data"]
    [url] = data["image_urls"]
    assert decode(jimeng_vendor.get(url).content).size == Size(1024, 1024)


def test_jimeng_unknown_task_is_not_found(jimeng_vendor: TestClient) -> None:
    assert _result(jimeng_vendor, "never-issued")["data"]["status"] == "not_found"


def test_jimeng_results_expire_after_a_day(jimeng_vendor: TestClient) -> None:
    task_id = _submit(jimeng_vendor)
    advance(jimeng_vendor, JIMENG_RETENTION_S - 60)
    assert _result(jimeng_vendor, task_id)["data"]["status"] == "done"
    advance(jimeng_vendor, 61)
    assert _result(jimeng_vendor, task_id)["data"]["status"] == "expired"


def test_jimeng_failed_job_is_done_with_a_failure_code(
    jimeng_vendor: TestClient, catalogue: Catalogue
) -> None:
    """DOMAIN.md: `done` can still be a failure (check the outer code). The mock's review fails
    prompts with the catalogue's blocked terms after generation."""
    task_id = _submit(jimeng_vendor, catalogue.defaults.safety.prompt)
    advance(jimeng_vendor, 200)
    answer = _result(jimeng_vendor, task_id)
    assert answer["data"]["status"] == "done"
    assert answer["code"] != JIMENG_SUCCESS
    assert answer["message"]
    assert not answer["data"].get("binary_data_base64")


def test_jimeng_needs_action_and_version(jimeng_vendor: TestClient) -> None:
    body = {"req_key": "jimeng_t2i_v40", "prompt": "a lighthouse"}
    response = jimeng_vendor.post("/", json=body)
    assert 400 <= response.status_code < 500
    assert response.json()["code"] != JIMENG_SUCCESS
    wrong_version = jimeng_vendor.post(
        "/", params=JIMENG_SUBMIT | {"Version": "2020-01-01"}, json=body
    )
    assert 400 <= wrong_version.status_code < 500


# ---------------------------------------------------------------- credentials


@pytest.mark.parametrize(
    ("path", "credentials"),
    [
        (GENERATIONS, {"headers": {"Authorization": "Bearer k-123"}}),
        (gemini_path("gemini-3-pro-image-preview"), {"headers": {"x-goog-api-key": "k-123"}}),
        (gemini_path("gemini-3-pro-image-preview"), {"params": {"key": "k-123"}}),
    ],
    ids=["bearer", "x-goog-api-key", "query-key"],
)
def test_vendor_checks_the_key_where_each_vendor_sends_it(
    mock_vendor_factory: Callable[..., TestClient], path: str, credentials: dict[str, Any]
) -> None:
    client = mock_vendor_factory(api_key="k-123")
    body = (
        {"model": "gpt-image-2", "prompt": "a lighthouse"}
        if path == GENERATIONS
        else {"contents": [{"parts": [{"text": "a lighthouse"}]}]}
    )
    assert client.post(path, json=body).status_code == 401
    assert (
        client.post(path, json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    )
    assert client.post(path, json=body, **credentials).status_code == 200
