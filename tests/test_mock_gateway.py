"""The reference gateway does what the documents promise, judged at both ends: its answers, and
what its upstream (the vendor mock) recorded it forwarding."""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from pixelproof.catalogue import Catalogue, default_catalogue
from pixelproof.geometry import Size, ratio_matches
from pixelproof.images import DecodedImage, b64decode_strict, decode
from pixelproof.judging.expect import nearest_tier

if TYPE_CHECKING:
    from mock_pairs import MockPair

GENERATIONS = "/v1/images/generations"
ACTION = "/action/v1/images/generations"
OFFICIAL = "/official/v1/images/generations"
SEEDREAM = "doubao-seedream-4-0-250828"
TERMINAL = ("completed", "failed")

_CATALOGUE = default_catalogue()
FALLBACK_RULES = [r.id for r in _CATALOGUE.rules("fallback")]
NATIVE_PRESETS = [
    r.id for r in _CATALOGUE.rules("size", "unified", "gpt-image-2") if r.expect.get("native", True)
]
WATERMARK_RULES = [r.id for r in _CATALOGUE.rules("watermark", surface="unified")]


def nonce_prompt(text: str = "a lighthouse") -> str:
    """A prompt no other request shares, to find this request in the upstream recorder."""
    return f"{text} {secrets.token_hex(6)}"


def image_of(pair: MockPair, item: dict[str, Any]) -> DecodedImage:
    if item.get("b64_json"):
        return decode(b64decode_strict(item["b64_json"]))
    response = pair.gateway.get(item["url"])
    assert response.status_code == 200, response.text
    return decode(response.content)


def generate(pair: MockPair, **body: Any) -> httpx.Response:
    return pair.gateway.post(GENERATIONS, json={k: v for k, v in body.items() if v is not None})


def one_forwarded(pair: MockPair, prompt: str) -> dict[str, Any]:
    """The single upstream request whose body carries ``prompt``."""
    seen = pair.forwarded(contains=prompt.split()[-1])
    assert len(seen) == 1, [r["path"] for r in seen]
    return seen[0]


def png_b64(make_png: Callable[..., bytes], width: int = 64, height: int = 64) -> str:
    return base64.b64encode(make_png(width, height)).decode("ascii")


def poll(pair: MockPair, path: str) -> dict[str, Any]:
    """Poll a task until it is terminal (the job runs on the gateway's event loop; some of its
    steps wait in real time, so the bound is a hang guard in seconds, not a number of polls)."""
    hang_guard = time.monotonic() + 60
    while time.monotonic() < hang_guard:
        response = pair.gateway.get(path)
        assert response.status_code == 200, response.text
        body = response.json()
        view = body["data"] if path.startswith("/official") else body
        if view["status"] in TERMINAL:
            return dict(view)
    raise AssertionError(f"{path} not terminal after 60 s of polling: {view}")


def assert_openai_error(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 600, response.text
    error = response.json()["error"]
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["type"], str)


# ---------------------------------------------------------------- n, model, response_format


@pytest.mark.parametrize("rule_id", ["n.default.omitted", "n.default.zero"])
def test_n_omitted_or_zero_gives_one_image_and_forwards_one(
    mock_pair: MockPair, catalogue: Catalogue, rule_id: str
) -> None:
    rule = catalogue.rule(rule_id)
    forwarded_n = catalogue.rule("n.default.zero.forwarded").expect["forwarded_n"]
    prompt = nonce_prompt()
    response = generate(
        mock_pair, model="gpt-image-2", prompt=prompt, response_format="b64_json", **rule.request
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]) == rule.expect["count"]
    assert one_forwarded(mock_pair, prompt)["json"]["n"] == forwarded_n


def test_n_two_gives_two_images(mock_pair: MockPair, catalogue: Catalogue) -> None:
    rule = catalogue.rule("n.explicit.2")
    body = {"model": "gpt-image-2", "prompt": "a lighthouse", "response_format": "b64_json"}
    response = generate(mock_pair, **body, **rule.request)
    assert len(response.json()["data"]) == rule.expect["count"]


def test_model_is_required(mock_pair: MockPair) -> None:
    response = generate(mock_pair, prompt="a lighthouse")
    assert 400 <= response.status_code < 500
    assert_openai_error(response)


def test_unknown_model_is_rejected_before_the_upstream(mock_pair: MockPair) -> None:
    prompt = nonce_prompt()
    response = generate(mock_pair, model="pixelproof-no-such-model", prompt=prompt)
    assert 400 <= response.status_code < 500
    assert_openai_error(response)
    assert mock_pair.forwarded(contains=prompt.split()[-1]) == []


@pytest.mark.parametrize("kind", ["url", "b64_json", "base64"])
def test_response_formats_answer_images_that_decode(mock_pair: MockPair, kind: str) -> None:
    response = generate(
        mock_pair,
        model="gpt-image-2",
        prompt="a lighthouse",
        size="1024x1536",
        response_format=kind,
    )
    assert response.status_code == 200, response.text
    [item] = response.json()["data"]
    assert set(item) == ({"url"} if kind == "url" else {"b64_json"})
    assert image_of(mock_pair, item).size == Size(1024, 1536)


# ---------------------------------------------------------------- sizes and fallback


@pytest.mark.parametrize("rule_id", NATIVE_PRESETS)
def test_native_presets_are_forwarded_unchanged(
    mock_pair: MockPair, catalogue: Catalogue, rule_id: str
) -> None:
    rule = catalogue.rule(rule_id)
    prompt = nonce_prompt()
    response = generate(
        mock_pair, model="gpt-image-2", prompt=prompt, response_format="b64_json", **rule.request
    )
    assert image_of(mock_pair, response.json()["data"][0]).size == Size.parse(rule.expect["size"])
    forwarded = one_forwarded(mock_pair, prompt)["json"]
    assert (forwarded["size"], forwarded["prompt"]) == (rule.expect["size"], prompt)


@pytest.mark.parametrize("rule_id", FALLBACK_RULES)
def test_fallback_forwards_a_native_size_and_the_ratio_intent(
    mock_pair: MockPair, catalogue: Catalogue, rule_id: str
) -> None:
    rule = catalogue.rule(rule_id)
    assert rule.models is not None
    prompt = nonce_prompt()
    response = generate(
        mock_pair,
        model=rule.models[0],
        prompt=prompt,
        response_format="b64_json",
        **rule.request,
    )
    assert response.status_code == 200, response.text
    closest = Size.parse(rule.expect["closest_official"])
    assert image_of(mock_pair, response.json()["data"][0]).size == closest
    forwarded = one_forwarded(mock_pair, prompt)["json"]
    assert forwarded["size"] == str(closest)
    assert forwarded["prompt"].startswith(prompt)
    assert rule.expect["ratio"] in forwarded["prompt"][len(prompt) :]


@pytest.mark.parametrize(
    "rule_id", ["size.dall-e-2.rejects-1792x1024", "size.dall-e-3.rejects-512x512"]
)
def test_dall_e_sizes_outside_the_list_are_rejected(
    mock_pair: MockPair, catalogue: Catalogue, rule_id: str
) -> None:
    rule = catalogue.rule(rule_id)
    assert rule.models is not None
    response = generate(mock_pair, model=rule.models[0], prompt="a lighthouse", **rule.request)
    assert 400 <= response.status_code < 500
    assert_openai_error(response)


@pytest.mark.parametrize(
    "rule_id", ["size.doubao-seedream-4-0-250828.16:9", "size.grok-4-2-image.9:16"]
)
def test_ratio_mapping_of_seedream_and_grok(
    mock_pair: MockPair, catalogue: Catalogue, rule_id: str
) -> None:
    rule = catalogue.rule(rule_id)
    assert rule.models is not None
    response = generate(mock_pair, model=rule.models[0], prompt="a lighthouse", **rule.request)
    assert response.status_code == 200, response.text
    assert image_of(mock_pair, response.json()["data"][0]).size == Size.parse(rule.expect["size"])


# ---------------------------------------------------------------- watermark tri-state


@pytest.mark.parametrize("rule_id", WATERMARK_RULES)
def test_watermark_is_forwarded_exactly(
    mock_pair: MockPair, catalogue: Catalogue, rule_id: str
) -> None:
    rule = catalogue.rule(rule_id)
    prompt = nonce_prompt()
    body = {"model": SEEDREAM, "prompt": prompt, "response_format": "b64_json", **rule.request}
    response = mock_pair.gateway.post(
        GENERATIONS, json={k: v for k, v in body.items() if v is not None}
    )
    assert response.status_code == 200, response.text
    forwarded = one_forwarded(mock_pair, prompt)["json"]
    allowed = rule.expect["forwarded"]
    allowed = allowed if isinstance(allowed, list) else [allowed]
    assert forwarded.get("watermark", "absent") in allowed
    if "marked" in rule.expect:
        image = image_of(mock_pair, response.json()["data"][0])
        assert image.watermarked is rule.expect["marked"]


# ---------------------------------------------------------------- edits and variations


def _multipart_edit(
    pair: MockPair, path: str, make_png: Callable[..., bytes], **fields: str
) -> httpx.Response:
    files = [("image", ("in.png", make_png(64, 64), "image/png"))]
    return pair.gateway.post(path, data=fields, files=files)


def test_edits_alias_behaves_as_image_edits(
    mock_pair: MockPair, make_png: Callable[..., bytes], catalogue: Catalogue
) -> None:
    rule = catalogue.rule("edits.alias")
    assert rule.models is not None
    fields = {"model": rule.models[0], "prompt": "a lighthouse", "size": "1536x1024"}
    answers = [
        _multipart_edit(mock_pair, path, make_png, **fields)
        for path in (rule.expect["same_as"], "/v1/edits")
    ]
    observed = [
        (a.status_code, [image_of(mock_pair, i).size for i in a.json()["data"]]) for a in answers
    ]
    assert observed[0] == observed[1] == (200, [Size(1536, 1024)])


def test_edit_mask_reaches_the_upstream(
    mock_pair: MockPair, make_png: Callable[..., bytes]
) -> None:
    prompt = nonce_prompt()
    mask = make_png(64, 64, alpha=True)
    files = [
        ("image", ("in.png", make_png(64, 64), "image/png")),
        ("mask", ("mask.png", mask, "image/png")),
    ]
    data = {"model": "gpt-image-1", "prompt": prompt}
    response = mock_pair.gateway.post("/v1/images/edits", data=data, files=files)
    assert response.status_code == 200, response.text
    [forwarded_mask] = one_forwarded(mock_pair, prompt)["files"]["mask"]
    assert forwarded_mask["size"] == len(mask)


def test_json_edit_with_a_base64_image(mock_pair: MockPair, make_png: Callable[..., bytes]) -> None:
    body = {"model": "gpt-image-2", "prompt": "a lighthouse", "image": png_b64(make_png)}
    response = mock_pair.gateway.post(
        "/v1/images/edits", json=body | {"response_format": "b64_json"}
    )
    assert response.status_code == 200, response.text
    assert image_of(mock_pair, response.json()["data"][0]).format == "png"


def test_json_edit_mask_reaches_the_upstream(
    mock_pair: MockPair, make_png: Callable[..., bytes]
) -> None:
    prompt = nonce_prompt()
    mask = base64.b64encode(make_png(64, 64, alpha=True)).decode("ascii")
    body = {"model": "gpt-image-2", "prompt": prompt, "image": png_b64(make_png), "mask": mask}
    response = mock_pair.gateway.post("/v1/images/edits", json=body)
    assert response.status_code == 200, response.text
    assert one_forwarded(mock_pair, prompt)["json"]["mask"] == mask
    wrong_size = base64.b64encode(make_png(32, 32, alpha=True)).decode("ascii")
    refused = mock_pair.gateway.post("/v1/images/edits", json=body | {"mask": wrong_size})
    assert 400 <= refused.status_code < 500
    assert_openai_error(refused)


def test_json_null_means_omitted(mock_pair: MockPair) -> None:
    """The OpenAI SDK sends an explicit None as null: n and response_format are then omitted."""
    body = {"model": "gpt-image-2", "prompt": "a lighthouse", "size": "1536x1024"}
    response = mock_pair.gateway.post(GENERATIONS, json=body | {"n": None, "response_format": None})
    assert response.status_code == 200, response.text
    [item] = response.json()["data"]
    assert image_of(mock_pair, item).size == Size(1536, 1024)


def test_variations_answer_501_with_an_openai_error(
    mock_pair: MockPair, make_png: Callable[..., bytes], catalogue: Catalogue
) -> None:
    rule = catalogue.rule("variations.not-implemented")
    assert rule.models is not None
    response = _multipart_edit(mock_pair, "/v1/images/variations", make_png, model=rule.models[0])
    assert response.status_code == 501
    assert response.status_code in rule.expect["status"]
    assert_openai_error(response)
    assert "data" not in response.json()


# ---------------------------------------------------------------- async task APIs


def _action(pair: MockPair, **body: Any) -> httpx.Response:
    return pair.gateway.post(
        ACTION, json={"model": "gpt-image-2", "prompt": "a lighthouse", **body}
    )


def _official(pair: MockPair, **params: Any) -> httpx.Response:
    body = {
        "model": "gpt_image_2_official",
        "task_id": f"caller-{secrets.token_hex(4)}",
        "params": {"prompt": "a lighthouse", **params},
    }
    return pair.gateway.post(OFFICIAL, json=body)


def _refs(make_png: Callable[..., bytes], count: int) -> list[str]:
    """Half URLs (never fetched), half base64 PNGs."""
    return [
        f"http://127.0.0.1/ref-{i}.png" if i % 2 else png_b64(make_png, 32 + i, 32)
        for i in range(count)
    ]


def test_action_style_reference_limit(
    mock_pair: MockPair, make_png: Callable[..., bytes], catalogue: Catalogue
) -> None:
    rule = catalogue.rule("refs.tasks-action.16")
    limit = rule.expect["max"]
    over = _action(mock_pair, **rule.request, image_urls=_refs(make_png, limit + 1))
    assert 400 <= over.status_code < 500
    assert_openai_error(over)
    at = _action(mock_pair, **rule.request, image_urls=_refs(make_png, limit))
    assert at.status_code == 200, at.text
    mock_pair.advance(catalogue.defaults.polling["tasks-action"].timeout_s)
    assert poll(mock_pair, f"/action/v1/tasks/{at.json()['task_id']}")["status"] == "completed"
    [edit] = mock_pair.forwarded(path="/v1/images/edits")
    assert len(edit["json"]["images"]) == limit


def test_official_reference_limit_mixing_url_and_base64(
    mock_pair: MockPair, make_png: Callable[..., bytes], catalogue: Catalogue
) -> None:
    rule = catalogue.rule("refs.tasks-official.9")
    limit = rule.expect["max"]
    over = _official(mock_pair, image_urls=_refs(make_png, limit + 1))
    assert 400 <= over.status_code < 500
    assert over.json()["code"] != 200
    at = _official(mock_pair, image_urls=_refs(make_png, limit))
    assert at.status_code == 200, at.text
    assert at.json()["code"] == 200


def test_official_4k_only_where_the_table_has_pixels(
    mock_pair: MockPair, catalogue: Catalogue
) -> None:
    rejected = catalogue.rule("size.gpt_image_2_official.1:1.4k")
    assert rejected.rejected
    response = _official(mock_pair, **rejected.request)
    assert 400 <= response.status_code < 500
    assert response.json()["message"]
    served = catalogue.rule("size.gpt_image_2_official.16:9.4k")
    submitted = _official(mock_pair, **served.request)
    assert submitted.status_code == 200, submitted.text
    task_id = submitted.json()["data"][0]["task_id"]
    mock_pair.advance(catalogue.defaults.polling["tasks-official"].timeout_s)
    view = poll(mock_pair, f"/official/v1/tasks/{task_id}")
    [image] = view["result"]["images"]
    assert decode(mock_pair.gateway.get(image["url"]).content).size == Size.parse(
        served.expect["size"]
    )


def test_official_safety_review_rejects_before_the_upstream(
    mock_pair: MockPair, catalogue: Catalogue
) -> None:
    prompt = catalogue.defaults.safety.prompt
    response = _official(mock_pair, prompt=prompt)
    assert 400 <= response.status_code < 500
    assert response.json()["code"] != 200
    mock_pair.advance(catalogue.defaults.polling["tasks-official"].timeout_s)
    assert mock_pair.forwarded(contains=prompt) == []


def test_action_task_completes_on_the_clock(mock_pair: MockPair, catalogue: Catalogue) -> None:
    rule = catalogue.rule("ratio.gpt-image-2.21:9.2k")
    submitted = _action(mock_pair, **rule.request)
    assert submitted.status_code == 200, submitted.text
    path = f"/action/v1/tasks/{submitted.json()['task_id']}"
    assert mock_pair.gateway.get(path).json()["status"] not in TERMINAL
    mock_pair.advance(catalogue.defaults.polling["tasks-action"].timeout_s)
    view = poll(mock_pair, path)
    assert view["status"] == "completed", view
    [image] = view["result"]["images"]
    size = decode(mock_pair.gateway.get(image["url"]).content).size
    assert ratio_matches(size, rule.expect["ratio"], catalogue.defaults.ratio_tolerance), size


def test_official_task_completes_on_the_clock(mock_pair: MockPair, catalogue: Catalogue) -> None:
    rule = catalogue.rule("size.gpt_image_2_official.4:3.1k")
    submitted = _official(mock_pair, **rule.request)
    task_id = submitted.json()["data"][0]["task_id"]
    path = f"/official/v1/tasks/{task_id}"
    assert mock_pair.gateway.get(path).json()["data"]["status"] not in TERMINAL
    mock_pair.advance(catalogue.defaults.polling["tasks-official"].timeout_s)
    view = poll(mock_pair, path)
    assert view["status"] == "completed", view
    [image] = view["result"]["images"]
    assert (image["width"], image["height"]) == tuple(
        int(x) for x in rule.expect["size"].split("x")
    )


@pytest.mark.parametrize("prefix", ["/action", "/official"])
def test_unknown_task_ids_answer_404(mock_pair: MockPair, prefix: str) -> None:
    response = mock_pair.gateway.get(f"{prefix}/v1/tasks/task_never_issued")
    assert response.status_code == 404
    assert response.json()["error"]["message"]


def test_official_needs_the_callers_task_id(mock_pair: MockPair) -> None:
    body = {"model": "gpt_image_2_official", "params": {"prompt": "a lighthouse"}}
    response = mock_pair.gateway.post(OFFICIAL, json=body)
    assert 400 <= response.status_code < 500


# ---------------------------------------------------------------- Gemini and Jimeng surfaces


def test_gemini_image_size_is_forwarded(mock_pair: MockPair, catalogue: Catalogue) -> None:
    rule = catalogue.rule("size.gemini-3-pro-image-preview.1:1.2k")
    prompt = nonce_prompt()
    body = {
        "contents": [{"parts": [{"text": prompt}]}],
        "generationConfig": {"imageConfig": rule.request},
    }
    response = mock_pair.gateway.post(
        "/v1beta/models/gemini-3-pro-image-preview:generateContent", json=body
    )
    assert response.status_code == 200, response.text
    parts = response.json()["candidates"][0]["content"]["parts"]
    [data] = [p["inlineData"]["data"] for p in parts if "inlineData" in p]
    assert nearest_tier(decode(b64decode_strict(data)).size) == rule.expect["tier"]
    forwarded = one_forwarded(mock_pair, prompt)["json"]
    assert forwarded["generationConfig"]["imageConfig"] == rule.request


def test_jimeng_official_format_round_trip(mock_pair: MockPair) -> None:
    params = {"Action": "CVSync2AsyncSubmitTask", "Version": "2022-08-31"}
    body = {"req_key": "jimeng_t2i_v40", "prompt": "a lighthouse", "width": 1440, "height": 2560}
    submitted = mock_pair.gateway.post("/jm", params=params, json=body).json()
    assert submitted["code"] == 10000
    mock_pair.advance(3600)
    query = {"req_key": "jimeng_t2i_v40", "task_id": submitted["data"]["task_id"]}
    result = mock_pair.gateway.post(
        "/jm", params=params | {"Action": "CVSync2AsyncGetResult"}, json=query
    ).json()
    assert (result["code"], result["data"]["status"]) == (10000, "done")
    [image] = result["data"]["binary_data_base64"]
    assert decode(b64decode_strict(image)).size == Size(1440, 2560)
    missing = mock_pair.gateway.post("/jm", json=body)
    assert 400 <= missing.status_code < 500


def test_unified_jimeng_polls_its_upstream_to_done(
    mock_pair_factory: Callable[..., MockPair],
) -> None:
    """The unified entry waits for the Jimeng job itself: at 1000x, 17 ms of real time for its 17
    mock seconds. Not faster: at 1e6x the result's 24 h TTL is 86 ms real, which a slow render or
    a loaded machine can outlast (the task then reads "expired")."""
    pair = mock_pair_factory(time_scale=1000)
    response = generate(
        pair,
        model="jimeng-4.0",
        prompt="a lighthouse",
        size="2048x2048",
        response_format="b64_json",
    )
    assert response.status_code == 200, response.text
    assert image_of(pair, response.json()["data"][0]).size == Size(2048, 2048)


def test_action_resolution_is_spelled_as_documented(mock_pair: MockPair) -> None:
    """Contract and gateway agree: 1k / 2k / 4k (seed 002); 4K is outside both."""
    body = {"model": "gpt-image-2", "prompt": "a lighthouse", "aspect_ratio": "16:9"}
    assert mock_pair.gateway.post(ACTION, json=body | {"resolution": "4k"}).status_code == 200
    refused = mock_pair.gateway.post(ACTION, json=body | {"resolution": "4K"})
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "resolution"
