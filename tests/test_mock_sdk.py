"""The vendors' own SDKs work against both roles over a real loopback socket: the official
``openai`` SDK (generate, multipart edit with a mask) and ``google-genai`` (generateContent)."""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from pixelproof.catalogue import Catalogue, Rule, default_catalogue
from pixelproof.geometry import Size, ratio_matches
from pixelproof.images import DecodedImage, decode
from pixelproof.judging.expect import nearest_tier
from pixelproof.mock.server import Stack, embedded_stack

if TYPE_CHECKING:
    from openai import OpenAI

# The SDKs are imported where a test uses them, not here: importing openai and google-genai costs
# about a CPU-second, which every xdist worker would pay at collection for tests only one runs.

KEY = "x"
ROLES = ["upstream", "gateway"]
GPT_IMAGE_2_PRESETS = [r.id for r in default_catalogue().rules("size", "unified", "gpt-image-2")]
NATIVE_PRESETS = [
    r.id
    for r in default_catalogue().rules("size", "unified", "gpt-image-2")
    if r.expect.get("native", True)
]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with embedded_stack(time_scale=1000, api_key=KEY) as running:
        yield running


def base_url(stack: Stack, role: str) -> str:
    return str(getattr(stack, role).url)


def openai_client(stack: Stack, role: str) -> OpenAI:
    return _openai(base_url(stack, role))


@functools.cache
def _openai(base: str) -> OpenAI:
    """One SDK client per role of the module's stack, as an application keeps one: each new client
    builds its own httpx client and loads the CA bundle (~35 ms of CPU), 18 times in this file."""
    from openai import OpenAI

    return OpenAI(base_url=f"{base}/v1", api_key=KEY, max_retries=0, timeout=60)


def decoded(item: Any) -> DecodedImage:
    """An SDK answer item (b64_json or url) as a decoded image; URLs fetched over loopback."""
    if item.b64_json:
        return decode(base64.b64decode(item.b64_json))
    assert item.url.startswith("http://127.0.0.1:"), item.url
    response = httpx.get(item.url, timeout=30, verify=False)  # plain HTTP: no CA bundle
    assert response.status_code == 200
    return decode(response.content)


def served_size(catalogue: Catalogue, rule: Rule) -> Size:
    """The documented size, or the documented fallback where the channel cannot take it."""
    if rule.expect.get("native", True):
        return Size.parse(rule.expect["size"])
    fallback = catalogue.rule(f"fallback.{rule.models[0] if rule.models else ''}.{rule.ratio}")
    return Size.parse(fallback.expect["closest_official"])


def upstream_record(stack: Stack, marker: str) -> dict[str, Any]:
    response = httpx.get(
        f"{stack.upstream.url}/__pixelproof/requests", params={"contains": marker}, verify=False
    )
    [item] = response.json()["requests"]
    return dict(item)


# ---------------------------------------------------------------- openai: images.generate


@pytest.mark.parametrize("rule_id", NATIVE_PRESETS)
def test_openai_generate_on_the_vendor(stack: Stack, catalogue: Catalogue, rule_id: str) -> None:
    rule = catalogue.rule(rule_id)
    result = openai_client(stack, "upstream").images.generate(
        model="gpt-image-2", prompt="a lighthouse", size=rule.expect["size"]
    )
    assert decoded(result.data[0]).size == Size.parse(rule.expect["size"])
    assert result.size == rule.expect["size"]


@pytest.mark.parametrize("rule_id", GPT_IMAGE_2_PRESETS)
def test_openai_generate_through_the_gateway(
    stack: Stack, catalogue: Catalogue, rule_id: str
) -> None:
    rule = catalogue.rule(rule_id)
    result = openai_client(stack, "gateway").images.generate(
        model="gpt-image-2",
        prompt="a lighthouse",
        size=rule.expect["size"],
        response_format="b64_json",
    )
    assert [decoded(item).size for item in result.data] == [served_size(catalogue, rule)]


def test_openai_vendor_refuses_a_non_native_size_with_a_typed_error(
    stack: Stack, catalogue: Catalogue
) -> None:
    import openai

    target = catalogue.rule("fallback.gpt-image-2.16:9").expect["target"]
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client(stack, "upstream").images.generate(
            model="gpt-image-2", prompt="a lighthouse", size=target
        )
    assert caught.value.code == "invalid_size"


@pytest.mark.parametrize("role", ROLES)
def test_openai_dall_e_3_landscape_by_url(stack: Stack, catalogue: Catalogue, role: str) -> None:
    rule = catalogue.rule("size.dall-e-3.1792x1024")
    result = openai_client(stack, role).images.generate(
        model="dall-e-3", prompt="a lighthouse", size=rule.expect["size"], response_format="url"
    )
    [item] = result.data
    assert decoded(item).size == Size.parse(rule.expect["size"])
    assert item.revised_prompt


def test_openai_sdk_null_response_format_means_the_default(stack: Stack) -> None:
    """The SDK sends an explicit None as JSON null; the gateway treats it as omitted."""
    result = openai_client(stack, "gateway").images.generate(
        model="gpt-image-2", prompt="a lighthouse", size="1024x1024", response_format=None
    )
    [item] = result.data
    assert decoded(item).size == Size(1024, 1024)


# ---------------------------------------------------------------- openai: images.edit (multipart)


@pytest.mark.parametrize("role", ROLES)
def test_openai_edit_with_a_mask(
    stack: Stack, role: str, make_png: Callable[..., bytes], catalogue: Catalogue
) -> None:
    size = catalogue.vendors["openai/gpt-image-2"].sizes.official[1]  # a native official size
    image, mask = make_png(96, 64), make_png(96, 64, alpha=True)
    marker = f"an edit {role} 4711"
    extra: dict[str, Any] = {"response_format": "b64_json"} if role == "gateway" else {}
    result = openai_client(stack, role).images.edit(
        model="gpt-image-2",
        prompt=marker,
        image=("photo.png", image, "image/png"),
        mask=("mask.png", mask, "image/png"),
        size=str(size),
        **extra,
    )
    assert [decoded(item).size for item in result.data] == [Size.parse(str(size))]
    files = upstream_record(stack, marker)["files"]
    assert [f["sha256"] for f in files["mask"]] == [hashlib.sha256(mask).hexdigest()]
    [forwarded_image] = files.get("image", []) + files.get("image[]", [])
    assert forwarded_image["sha256"] == hashlib.sha256(image).hexdigest()


# ---------------------------------------------------------------- google-genai: generateContent


@pytest.mark.parametrize("role", ROLES)
def test_google_genai_generate_content(stack: Stack, catalogue: Catalogue, role: str) -> None:
    """google-genai defaults to API version v1 (and the Vertex paths); the Gemini API is v1beta."""
    from google import genai
    from google.genai import types

    rule = catalogue.rule("size.gemini-3-pro-image-preview.16:9.2k")
    client = genai.Client(
        api_key=KEY,
        http_options=types.HttpOptions(base_url=base_url(stack, role), api_version="v1beta"),
    )
    response = client.models.generate_content(
        model="gemini-3-pro-image-preview",
        contents="a lighthouse",
        config=types.GenerateContentConfig(
            response_modalities=["TEXT", "IMAGE"],
            image_config=types.ImageConfig(
                aspect_ratio=rule.request["aspectRatio"], image_size=rule.request["imageSize"]
            ),
        ),
    )
    assert response.candidates
    content = response.candidates[0].content
    assert content is not None
    assert content.parts is not None
    inline = [p.inline_data for p in content.parts if p.inline_data is not None]
    assert len(inline) == 1
    assert inline[0].mime_type == "image/png"
    assert inline[0].data is not None
    got = decode(inline[0].data).size  # Gemini is documented by tier and ratio, not pixels
    assert ratio_matches(got, rule.expect["ratio"], rule.expect["ratio_tolerance"]), got
    assert nearest_tier(got) == rule.expect["tier"], got
