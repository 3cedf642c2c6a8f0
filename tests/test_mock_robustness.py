"""Bad input never becomes a 500 or a crash: both roles answer a 4xx with a JSON error body.

Fixed cases first (what a careless client sends), then a sweep of junk values through every field
of every route, then schemathesis' negative mode against the vendor contract over a real socket.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings

from conftest import answers_json_object
from mock_pairs import InlineClient, mock_apps
from pixelproof.catalogue import contracts_dir
from pixelproof.fuzz.pinned import pinned_generation
from pixelproof.geometry import Size
from pixelproof.images import b64decode_strict, decode
from pixelproof.mock.server import Running

if TYPE_CHECKING:
    from mock_pairs import MockPair

GENERATIONS = "/v1/images/generations"
EDITS = "/v1/images/edits"
BODY_LIMIT = 50_000
ROLES = ["upstream", "gateway"]
NOT_AN_IMAGE = base64.b64encode(b"plain text, certainly not an image").decode("ascii")


@pytest.fixture(scope="module")
def clients() -> Iterator[dict[str, InlineClient]]:
    """One pair for the module: every test using it sends input that must be refused, and checks
    the mock is still healthy after it (so each also checks what the earlier refusals left). A
    refusal starts no job, so each answer is all there is: sent on this thread's own loop
    (conftest.InlineClient), not through TestClient's portal thread."""
    gateway_app, upstream_app = mock_apps(time_scale=1e-6, max_body_bytes=BODY_LIMIT)
    pair = {"upstream": InlineClient(upstream_app), "gateway": InlineClient(gateway_app)}
    try:
        yield pair
    finally:
        for client in pair.values():
            client.close()


def assert_json_4xx(response: httpx.Response) -> dict[str, Any]:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict), body
    return body


def assert_openai_4xx(response: httpx.Response) -> None:
    error = assert_json_4xx(response)["error"]
    assert isinstance(error["message"], str)
    assert error["message"]


def _gen(**fields: Any) -> dict[str, Any]:
    return {"json": {"model": "gpt-image-2", "prompt": "a lighthouse", **fields}}


RAW_JSON = {"content-type": "application/json"}
# name -> (path, httpx keyword arguments); every one must be refused by both roles
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "malformed-json": (GENERATIONS, {"content": b'{"model": "gpt-image-2", ', "headers": RAW_JSON}),
    "json-not-utf8": (GENERATIONS, {"content": b'{"prompt": "\xff"}', "headers": RAW_JSON}),
    "wrong-content-type": (
        GENERATIONS,
        {"content": b"model=gpt-image-2", "headers": {"content-type": "text/plain"}},
    ),
    "xml": (GENERATIONS, {"content": b"<image/>", "headers": {"content-type": "application/xml"}}),
    "json-list": (GENERATIONS, {"json": [{"model": "gpt-image-2"}]}),
    "json-string": (GENERATIONS, {"json": "gpt-image-2"}),
    "json-number": (GENERATIONS, {"content": b"42", "headers": RAW_JSON}),
    "json-null": (GENERATIONS, {"content": b"null", "headers": RAW_JSON}),
    "empty-body": (GENERATIONS, {"content": b"", "headers": RAW_JSON}),
    "invalid-base64-image": (EDITS, _gen(image="!!! not base64 !!!")),
    "base64-of-text-as-image": (EDITS, _gen(image=NOT_AN_IMAGE)),
    "truncated-data-url": (EDITS, _gen(image="data:image/png;base64,iVBORw0KGgo")),
    "multipart-garbage": (
        EDITS,
        {
            "content": b"--xx\r\ngarbage without headers\r\n",
            "headers": {"content-type": "multipart/form-data; boundary=xx"},
        },
    ),
    "multipart-no-boundary": (
        EDITS,
        {"content": b"abc", "headers": {"content-type": "multipart/form-data"}},
    ),
    "multipart-text-as-image": (
        EDITS,
        {
            "data": {"model": "gpt-image-2", "prompt": "a lighthouse"},
            "files": [("image", ("in.png", b"hello, I am text", "image/png"))],
        },
    ),
    "multipart-empty-image": (
        EDITS,
        {
            "data": {"model": "gpt-image-2", "prompt": "a lighthouse"},
            "files": [("image", ("in.png", b"", "image/png"))],
        },
    ),
    "body-over-the-limit": (GENERATIONS, _gen(user="x" * (BODY_LIMIT + 1))),
    "size-zero": (GENERATIONS, _gen(size="0x0")),
    "size-negative": (GENERATIONS, _gen(size="-5x5")),
    "size-number": (GENERATIONS, _gen(size=3.5)),
    "size-list": (GENERATIONS, _gen(size=[1024, 1024])),
    "n-negative": (GENERATIONS, _gen(n=-1)),
    "n-word": (GENERATIONS, _gen(n="lots")),
    "n-fraction": (GENERATIONS, _gen(n=1.5)),
    "n-huge": (GENERATIONS, _gen(n=10**30)),
    "prompt-huge": (GENERATIONS, _gen(prompt="a lighthouse " * 3000)),
    "prompt-missing": (GENERATIONS, {"json": {"model": "gpt-image-2"}}),
    "prompt-not-text": (GENERATIONS, _gen(prompt={"text": "a lighthouse"})),
    "model-not-text": (GENERATIONS, _gen(model=["gpt-image-2"])),
    "response-format-unknown": (GENERATIONS, _gen(response_format="gif")),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_a_4xx_json_error(
    clients: dict[str, InlineClient], role: str, case: str
) -> None:
    path, kwargs = CASES[case]
    assert_openai_4xx(clients[role].post(path, **kwargs))
    assert clients[role].get("/__pixelproof/health").json()["status"] == "ok"


def test_vendor_rejects_absurd_sizes(clients: dict[str, InlineClient]) -> None:
    """DOMAIN.md: at most 3840x2160 and sides divisible by 16 for gpt-image-2."""
    for size in ("99999x99999", "4000x1000", "16x99999"):
        assert_openai_4xx(clients["upstream"].post(GENERATIONS, **_gen(size=size)))


def test_gateway_rejects_absurd_sizes_where_the_channel_has_a_fixed_list(
    clients: dict[str, InlineClient],
) -> None:
    assert_openai_4xx(
        clients["gateway"].post(GENERATIONS, **_gen(model="dall-e-3", size="99999x99999"))
    )


def test_gateway_falls_back_even_for_absurd_free_sizes(mock_pair: MockPair) -> None:
    """The documents promise a fallback for any size the channel cannot take (seed 003 § Base
    Ratios): 99999x99999 is 1:1, so the closest official gpt-image-2 size, 1024x1024, is served
    with the ratio intent. Documented, though a stricter gateway might rather refuse it."""
    body = {"model": "gpt-image-2", "prompt": "a lighthouse 5150", "size": "99999x99999"}
    response = mock_pair.gateway.post(GENERATIONS, json=body | {"response_format": "b64_json"})
    assert response.status_code == 200, response.text
    image = decode(b64decode_strict(response.json()["data"][0]["b64_json"]))
    assert image.size == Size(1024, 1024)
    [forwarded] = mock_pair.forwarded(contains="5150")
    assert forwarded["json"]["size"] == "1024x1024"
    assert "1:1" in forwarded["json"]["prompt"]


def test_vendor_rejects_unknown_fields_and_the_gateway_does_not_forward_them(
    mock_pair: MockPair,
) -> None:
    extra = {"model": "gpt-image-2", "pixelproof_extra": 1}
    assert_openai_4xx(mock_pair.upstream.post(GENERATIONS, json=extra | {"prompt": "direct"}))
    through = mock_pair.gateway.post(GENERATIONS, json=extra | {"prompt": "through 7331"})
    assert through.status_code == 200, through.text
    [forwarded] = mock_pair.forwarded(contains="7331")
    assert "pixelproof_extra" not in forwarded["json"]


def test_control_api_refuses_bad_input(clients: dict[str, InlineClient]) -> None:
    for client in clients.values():
        assert_json_4xx(client.post("/__pixelproof/clock", content=b"nope", headers=RAW_JSON))
        assert_json_4xx(client.post("/__pixelproof/clock", json={"seconds": "soon"}))
        assert_json_4xx(client.get("/__pixelproof/requests", params={"since": "yesterday"}))
        assert_json_4xx(client.get("/__pixelproof/files/no-such-file.png"))


# ---------------------------------------------------------------- a sweep of junk values

JUNK: list[Any] = [
    None, 0, -1, 1.5, True, 10**40, "", "x", "0x0", "-5x5", "0:5", "1:0", "99999x99999",
    [], [1], ["!!"], [NOT_AN_IMAGE], {}, {"a": None}, "data:image/png;base64,@@",
]  # fmt: skip
JIMENG_SUBMIT = {"Action": "CVSync2AsyncSubmitTask", "Version": "2022-08-31"}
JIMENG_RESULT = {"Action": "CVSync2AsyncGetResult", "Version": "2022-08-31"}
GEMINI = "/v1beta/models/gemini-3-pro-image-preview:generateContent"
GEMINI_BODY = {"contents": [{"parts": [{"text": "a lighthouse"}]}]}
# (role, path, query, valid body, fields to spoil one at a time)
ROUTES: dict[str, tuple[str, str, dict[str, str], dict[str, Any], list[str]]] = {
    "vendor-openai": ("upstream", GENERATIONS, {}, {"model": "gpt-image-2", "prompt": "x"},
                      ["model", "prompt", "n", "size", "quality", "output_format", "background", "style", "response_format"]),
    "vendor-openai-edits": ("upstream", EDITS, {}, {"model": "gpt-image-2", "prompt": "x"},
                            ["image", "images", "mask", "size", "n"]),
    "vendor-xai": ("upstream", GENERATIONS, {}, {"model": "grok-4-2-image", "prompt": "x"},
                   ["n", "aspect_ratio", "response_format"]),
    "vendor-ark": ("upstream", "/api/v3/images/generations", {},
                   {"model": "doubao-seedream-4-0-250828", "prompt": "x"},
                   ["model", "prompt", "size", "image", "watermark", "response_format"]),
    "vendor-gemini": ("upstream", GEMINI, {}, GEMINI_BODY, ["contents", "generationConfig"]),
    "vendor-gemini-config": ("upstream", GEMINI, {}, GEMINI_BODY,
                             ["generationConfig.imageConfig", "imageConfig.aspectRatio", "imageConfig.imageSize"]),
    "vendor-jimeng-submit": ("upstream", "/", JIMENG_SUBMIT, {"req_key": "jimeng_t2i_v40", "prompt": "x"},
                             ["req_key", "prompt", "image_urls", "size", "width", "height"]),
    "vendor-jimeng-result": ("upstream", "/", JIMENG_RESULT, {"req_key": "jimeng_t2i_v40", "task_id": "t"},
                             ["task_id", "req_json"]),
    "gateway-unified": ("gateway", GENERATIONS, {}, {"model": "gpt-image-2", "prompt": "x"},
                        ["model", "prompt", "n", "size", "image", "response_format", "background"]),
    "gateway-unified-families": ("gateway", GENERATIONS, {}, {"prompt": "x"},
                                 ["seedream.ratio", "seedream.size", "seedream.watermark", "grok.ratio",
                                  "grok.size", "jimeng.ratio", "jimeng.size"]),
    "gateway-edits": ("gateway", EDITS, {}, {"model": "gpt-image-2", "prompt": "x"}, ["image", "size"]),
    "gateway-action": ("gateway", "/action/v1/images/generations", {}, {"model": "gpt-image-2", "prompt": "x"},
                       ["model", "action", "image_urls", "mask_url", "aspect_ratio", "resolution", "output_format"]),
    "gateway-official": ("gateway", "/official/v1/images/generations", {},
                         {"model": "gpt_image_2_official", "task_id": "t", "params": {"prompt": "x"}},
                         ["model", "task_id", "params", "params.prompt", "params.aspect_ratio",
                          "params.resolution", "params.image_urls"]),
    "gateway-gemini": ("gateway", GEMINI, {}, GEMINI_BODY, ["contents", "imageConfig.aspectRatio"]),
    "gateway-jimeng": ("gateway", "/jm", JIMENG_SUBMIT, {"req_key": "jimeng_t2i_v40", "prompt": "x"},
                       ["req_key", "prompt", "width", "height"]),
}  # fmt: skip
FAMILY_MODELS = {
    "seedream": "doubao-seedream-4-0-250828",
    "grok": "grok-4-2-image",
    "jimeng": "jimeng-4.0",
}


def _spoil(body: dict[str, Any], field: str, value: Any) -> dict[str, Any]:
    """``body`` with one (possibly nested) field replaced by ``value``."""
    body = {k: dict(v) if isinstance(v, dict) else v for k, v in body.items()}
    head, _, leaf = field.rpartition(".")
    if head in FAMILY_MODELS:
        return body | {"model": FAMILY_MODELS[head], leaf: value}
    if head == "imageConfig":
        return body | {"generationConfig": {"imageConfig": {leaf: value}}}
    if head == "generationConfig":
        return body | {"generationConfig": {leaf: value}}
    if head:
        body[head][leaf] = value
        return body
    return body | {field: value}


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_junk_in_any_field_is_never_a_server_error(route: str) -> None:
    """Failures list every offending input. At 1000x the unified Jimeng path finishes (a job is 17
    mock seconds: 17 ms) and its result stays valid for 86 s of real time; at 1e6x the 24 h TTL
    was 86 ms, so on a loaded machine the gateway's poll could come late: a 502 "task expired".
    ~1,400 requests over the routes, each answer read before the next is sent: sent on this
    thread's own loop (conftest.InlineClient), not through TestClient's portal thread."""
    gateway_app, upstream_app = mock_apps(time_scale=1000)
    role, path, query, valid, fields = ROUTES[route]
    client = InlineClient(upstream_app if role == "upstream" else gateway_app)
    bad = []
    try:
        for field in fields:
            for value in JUNK:
                response = client.post(path, params=query, json=_spoil(valid, field, value))
                if response.status_code >= 500 or not answers_json_object(response):
                    bad.append(
                        f"{field}={value!r:.40} -> {response.status_code} {response.text[:120]}"
                    )
    finally:
        client.close()
    assert bad == []


# ---------------------------------------------------------------- schemathesis, negative mode

OPENAI_CONTRACT = contracts_dir() / "openapi" / "openai.yaml"


def test_schemathesis_negative_cases_never_get_a_server_error(vendor_server: Running) -> None:
    import schemathesis
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_path(OPENAI_CONTRACT)
    server_errors: list[str] = []
    statuses: set[int] = set()

    @settings(
        max_examples=60,
        database=None,
        deadline=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=schema.as_strategy(GenerationMode.NEGATIVE))
    def fuzz(case: Any) -> None:
        response = case.call(base_url=vendor_server.url, timeout=30)
        statuses.add(response.status_code)
        if response.status_code >= 500:
            server_errors.append(
                f"{case.operation.label}: {response.status_code} {response.text[:200]}"
            )

    with pinned_generation():
        fuzz()
    assert server_errors == []
    assert any(400 <= s < 500 for s in statuses), statuses


def test_a_malformed_form_is_refused_without_a_warning_line(
    clients: dict[str, InlineClient], caplog: pytest.LogCaptureFixture
) -> None:
    """A part header python-multipart cannot read (fuzzing sends such forms on purpose) is a 4xx,
    and no warning line: the stack shares the run's console."""
    body = (b'--B\r\nContent-Disposition: form-data; name="model"\r\nX[bad: 1\r\n\r\n'
            b"gpt-image-2\r\n--B--\r\n")  # fmt: skip
    headers = {"content-type": "multipart/form-data; boundary=B"}
    for role in ROLES:
        with caplog.at_level(logging.WARNING):
            assert_openai_4xx(clients[role].post(EDITS, content=body, headers=headers))
    assert not [r.getMessage() for r in caplog.records if r.name.startswith("python_multipart")]
