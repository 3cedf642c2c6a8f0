"""Requests that differ get their own answers and records, whatever the mock keeps between them.

The hot path keeps what depends only on its arguments (render specs, cached images) and builds its
usual JSON answer without Starlette's general header code. A key that missed an argument, or an
answer object reused, would hand one request another's answer: each request here, sent among
others to one mock, must get what a mock that saw only that request answers.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse as StarletteJSON

from mock_pairs import InlineClient
from pixelproof.images import b64decode_strict, decode
from pixelproof.mock import MockConfig, create_app
from pixelproof.mock.jsonresp import JSONResponse, dumps

GENERATIONS = "/v1/images/generations"
REQUESTS = "/__pixelproof/requests"
BODIES: list[dict[str, Any]] = [
    # the vendor's table decides these (sizes, n): first and last, so either order meets one early
    {"model": "dall-e-3", "prompt": "d", "size": "1024x1536", "response_format": "b64_json"},
    {"model": "dall-e-3", "prompt": "d", "n": 2, "response_format": "b64_json"},
    {"model": "gpt-image-2", "prompt": "bench small 0000000001", "size": "1024x1024"},
    {"model": "gpt-image-2", "prompt": "bench small 0000000002", "size": "1024x1024"},
    {"model": "gpt-image-2", "prompt": "a longer prompt, its usage counts differ " * 4, "size": "1024x1536"},
    {"model": "gpt-image-2", "prompt": "p", "size": "1024x1024", "background": "transparent"},
    {"model": "gpt-image-2", "prompt": "p", "size": "1024x1024", "output_format": "jpeg"},
    {"model": "gpt-image-1", "prompt": "p", "size": "1024x1024"},
    {"model": "dall-e-3", "prompt": "d", "size": "1024x1024", "response_format": "b64_json"},
    {"model": "gpt-image-2", "prompt": "two", "n": 2},
    {"model": "gpt-image-2", "prompt": "no size"},
    {"model": "gpt-image-2", "prompt": "r", "size": "17x3"},
    {"model": "gpt-image-2", "prompt": "u", "size": "1024x1024", "unknown": 1},
    {"model": "dall-e-2", "prompt": "d", "size": "256x256", "response_format": "b64_json"},
    {"model": "gpt-image-2", "prompt": "g", "size": "1536x1024", "n": 2},
]  # fmt: skip


def _answer(response: Any) -> tuple[int, str, Any]:
    """Status, content type and JSON without ``created`` (the clock's second may move)."""
    value = response.json()
    if isinstance(value, dict):
        value.pop("created", None)
    return response.status_code, response.headers["content-type"], value


def _alone(body: dict[str, Any]) -> tuple[int, str, Any]:
    client = InlineClient(create_app(MockConfig()))
    try:
        return _answer(client.post(GENERATIONS, json=body))
    finally:
        client.close()


@pytest.mark.parametrize("order", [1, -1], ids=["forward", "reversed"])
def test_each_request_among_others_gets_its_own_answer_and_record(order: int) -> None:
    bodies = BODIES[::order]
    client = InlineClient(create_app(MockConfig()))
    try:
        answers = [_answer(client.post(GENERATIONS, json=body)) for body in bodies]
        records = client.get(REQUESTS).json()["requests"]
    finally:
        client.close()
    assert [a[0] for a in answers].count(200) >= 9  # not vacuous: most are answered
    for body, answer in zip(bodies, answers, strict=True):
        assert answer == _alone(body), body
    assert [r["json"] for r in records] == bodies
    assert [r["status"] for r in records] == [a[0] for a in answers]
    for body, (status, _, value) in zip(bodies, answers, strict=True):
        if status == 200:  # the images themselves, read by Pillow: no cache of the mock's decides
            _holds_its_images(body, value)


def _holds_its_images(body: dict[str, Any], value: dict[str, Any]) -> None:
    images = [decode(b64decode_strict(item["b64_json"])) for item in value["data"]]
    assert len(images) == body.get("n", 1), body
    for image in images:
        assert str(image.size) == body.get("size", "1024x1024"), body
        assert image.format == body.get("output_format", "png"), body
        assert image.has_alpha == (body.get("background") == "transparent"), body
    if body["model"].startswith("gpt-image"):
        assert value["usage"]["input_tokens"] == len(body["prompt"]) // 4 + 1, body


RESPONSES: list[tuple[Any, int, dict[str, str] | None, str | None, bool]] = [
    ({"a": 1}, 200, None, None, False),
    ({"é": "ü", "n": [1, 2]}, 201, None, None, False),
    ({"error": {"message": "m"}}, 400, None, None, False),
    ([], 500, None, None, False),
    (None, 204, None, None, False),
    ({"a": 1}, 304, None, None, False),
    ({"a": 1}, 101, None, None, False),
    ({"a": 1}, 200, {"x-extra": "1"}, None, False),
    ({"a": 1}, 200, {"Content-Type": "text/plain"}, None, False),
    ({"a": 1}, 200, None, "application/problem+json", False),
    ({"a": 1}, 200, None, None, True),
    ({"k": 2**70}, 200, None, None, False),
]


class _General(StarletteJSON):
    """Starlette's own construction with the mock's encoder: what the shortcut must equal."""

    def render(self, content: Any) -> bytes:
        return dumps(content)


@pytest.mark.parametrize("case", RESPONSES, ids=lambda c: f"{c[1]}-{c[2]}-{c[3]}-{c[4]}")
def test_the_json_answer_is_built_as_starlette_builds_it(case: tuple[Any, ...]) -> None:
    content, status, headers, media_type, with_task = case
    task = BackgroundTask(print) if with_task else None
    mine = JSONResponse(content, status, headers, media_type, task)
    theirs = _General(content, status, headers, media_type, task)
    assert (mine.status_code, mine.body, mine.raw_headers, mine.background, mine.media_type) == (
        theirs.status_code, theirs.body, theirs.raw_headers, theirs.background, theirs.media_type
    )  # fmt: skip
    assert json.loads(mine.body) == json.loads(json.dumps(content))
