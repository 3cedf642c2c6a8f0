"""The mock's hot path changes its cost, never its answers.

``MockApp`` serves the pipeline's routes without Starlette's middleware and router, and the
pipeline reads JSON with orjson where that gives the standard library's exact value. Each test
here holds one of those shortcuts to the behaviour of the way round it (Starlette's own routing,
the standard-library reading of strict JSON), on inputs chosen where a careless shortcut differs.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from mock_pairs import MOCK_BASE_URL, new_mock_pair
from pixelproof.images import ImageError, b64decode_strict
from pixelproof.mock import MockConfig, create_app, strict_json
from pixelproof.mock.corked import HOLD_BYTES, Corked
from pixelproof.mock.errors import ApiError
from pixelproof.mock.lean import MockApp, pipeline

GEN = {"model": "gpt-image-2", "prompt": "a lighthouse", "size": "1024x1024"}
# (method, path, JSON body or None): answers, errors, Starlette's own 404/405/redirect, HEAD
REQUESTS: dict[str, list[tuple[str, str, Any]]] = {
    "upstream": [
        ("POST", "/v1/images/generations", GEN),
        ("POST", "/v1/images/generations", GEN | {"model": "no-such-model"}),
        ("POST", "/v1/images/generations", GEN | {"size": "17x3"}),
        ("POST", "/v1/images/generations/", GEN),
        ("GET", "/v1/images/generations", None),
        ("HEAD", "/v1/images/generations", None),
        ("POST", "/v1beta/models/gemini-2.5-flash-image:generateContent",
         {"contents": [{"parts": [{"text": "a lighthouse"}]}]}),
        ("POST", "/v1beta/models/a/b:generateContent", {}),
        ("POST", "/api/v3/images/generations", {"model": "doubao-seedream-4-0-250828", "prompt": "p",
                                            "response_format": "b64_json"}),
        ("POST", "/nowhere", {}),
    ],
    "gateway": [
        ("POST", "/v1/images/generations", GEN | {"response_format": "b64_json"}),
        ("POST", "/v1/images/generations", {"prompt": "no model"}),
        ("GET", "/action/v1/tasks/no-such-task", None),
        ("HEAD", "/action/v1/tasks/no-such-task", None),
        ("GET", "/official/v1/tasks/no-such-task", None),
        ("POST", "/official/v1/tasks/x", {}),
        ("DELETE", "/v1/images/edits", None),
    ],
}  # fmt: skip


def _answer(client: TestClient, method: str, path: str, body: Any) -> tuple[Any, ...]:
    response = client.request(method, path, json=body, follow_redirects=False)
    ctype = response.headers.get("content-type", "")
    content: Any = response.content
    if ctype.startswith("application/json") and content:
        content = response.json()
        if isinstance(content, dict):
            content.pop("created", None)  # the same clock, read at another moment
    return response.status_code, ctype, response.headers.get("location"), content


@pytest.fixture(scope="module")
def apps() -> Iterator[dict[str, MockApp]]:
    with contextlib.ExitStack() as stack:
        pair = new_mock_pair(stack, time_scale=1e-6)
        yield {"upstream": pair.upstream_app, "gateway": pair.gateway_app}  # type: ignore[dict-item]


@pytest.mark.parametrize("role", ["upstream", "gateway"])
def test_every_pipeline_route_is_served_lean(role: str) -> None:
    """A table that dropped routes would pass every answer test below, only slower."""
    app = create_app(MockConfig(role=role, upstream_url="http://127.0.0.1:9"))
    assert isinstance(app, MockApp)
    wanted = {(m, r.path) for r in app.routes if getattr(r.endpoint, "pixelproof_pipeline", False)
              for m in r.methods or () if m != "HEAD"}  # fmt: skip
    served = set(app.lean_exact) | {(m, rx.pattern) for m, rx, _, _ in app.lean_patterns}
    assert len(served) == len(wanted) > 5
    for method, path in wanted:
        example = path.replace("{model}", "m1").replace("{task_id}", "t1")
        assert app.lean_route(method, example) is not None, (method, path)


@pytest.mark.parametrize("role", ["upstream", "gateway"])
def test_lean_answers_are_starlettes_answers(apps: dict[str, MockApp], role: str) -> None:
    app = apps[role]
    plain = Starlette(routes=app.routes)  # the same endpoints and state, routed by Starlette
    with TestClient(app, base_url=MOCK_BASE_URL) as lean, TestClient(plain, base_url=MOCK_BASE_URL) as slow:  # fmt: skip
        for method, path, body in REQUESTS[role]:
            assert _answer(lean, method, path, body) == _answer(slow, method, path, body), (method, path)  # fmt: skip


def test_a_route_an_earlier_route_shadows_stays_with_starlette() -> None:
    """Starlette answers from the first route that matches; the lean table must not jump it."""

    async def earlier(request: Request) -> Response:
        return PlainTextResponse("earlier")

    async def later(request: Request) -> Response:
        return PlainTextResponse(f"later {request.path_params}")

    app = MockApp([Route("/things/special", earlier, methods=["POST"]),
                   Route("/things/{name}", pipeline(later), methods=["POST"]),
                   Route("/things/special/x", pipeline(later), methods=["POST"]),
                   Route("/stuff/{a}", earlier, methods=["POST"]),
                   Route("/stuff/{b}/more", pipeline(later), methods=["POST"])])  # fmt: skip
    with TestClient(app) as client:
        assert client.post("/things/special").text == "earlier"
        assert client.post("/things/other").text == "later {'name': 'other'}"
        assert client.post("/things/special/x").text == "later {}"
        assert client.post("/stuff/1").text == "earlier"
    assert app.lean_route("POST", "/things/special") is None
    assert app.lean_route("POST", "/things/special/x") is not None
    assert app.lean_route("POST", "/stuff/1/more") is None  # prefixes that may meet: Starlette's


BODIES = [
    b'{"model": "gpt-image-2", "prompt": "cat", "n": 1, "tags": [true, false, null]}',
    b'{"n": 18446744073709551616}',  # past 64 bits: orjson reads it as a float
    b'{"n": 18446744073709551615, "m": -0, "k": -9223372036854775809}',
    b'{"guidance": 2.5, "tiny": 1.5e-400}',
    b"[1e400]",
    b'{"x": NaN}',
    b'{"x": -Infinity}',
    b'{"p": "\\ud800"}',
    b'{"p": "\xff"}',
    b'{"p": "\xed\xa0\x80"}',  # a surrogate written as UTF-8
    b'{"p": "\\u00e9\\ud83d\\ude00 \xe7\x8c\xab"}',
    b'\xef\xbb\xbf{"a": 1}',
    b'\xef\xbb\xbf\xef\xbb\xbf{"a": 1}',
    '{"a": 1}'.encode("utf-16"),
    b'{"a": 1, "a": 2}',
    b'{"a": 1} x',
    b'{"a": "tab\there"}',
    b"",
    b"[" * 300 + b"]" * 300,
    b"[" * 1020 + b"]" * 1020,  # orjson goes on to 1024 levels; the standard path stops first
    b"[" * 100_000 + b"]" * 100_000,
]


def _reading(body: bytes) -> str:
    """What ``strict_json`` made of ``body``: the value with its types, or the error's words."""
    try:
        return "value " + repr(strict_json.strict_json(bytearray(body)))
    except ApiError as err:
        return f"error {err.status} {err.message}"


@pytest.mark.parametrize("body", BODIES, ids=lambda b: repr(b[:24]))
def test_fast_json_reads_every_body_as_the_standard_path_does(
    body: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = _reading(body)
    monkeypatch.setattr(strict_json, "orjson", None)  # the standard library alone
    assert fast == _reading(body)


def test_fast_json_is_taken_for_plain_bodies() -> None:
    """Not vacuous: the usual request is read by orjson (the comparison above ran both ways)."""
    body = bytearray(json.dumps(GEN).encode())
    assert strict_json._fast_json(body) == GEN
    assert body == bytearray()  # the buffer is freed once read, as on the standard path
    assert strict_json._fast_json(bytearray(b'{"n": 18446744073709551616}')) is strict_json._SLOW


MORE_BODIES = [
    *BODIES,
    b'{"a": 1.0}', b'{"a": 1e5}', b'{"a": 2E-3}', b'{"a": 9223372036854775807}',
    b'{"a": 12345678901234567890}', b'{"a": -1234567890123456789}', b'{"a": "v1.5 e9"}',
    b'{"a": [[[[[[1]]]]]]}', b"[" * 200 + b"1" + b"]" * 200, b"[" * 201 + b"1" + b"]" * 201,
    b'{"a": [' + b"1," * 40_000 + b'1]}',
    b'{"a": "x", "n": 1.5}', b'{"a": "x", "n": 18446744073709551616}', b'{"n": 18446744073709551615}',
    b'{"a": null, "b": true, "c": -3, "d": {"e": 1.0}}', b'{"a": [1.0]}', b'[1, "x", null]',
]  # fmt: skip


@pytest.mark.parametrize("body", MORE_BODIES, ids=lambda b: repr(b[:24]))
def test_plain_text_never_says_plain_of_a_body_walking_would_refuse(body: bytes) -> None:
    """The text check only spares the walk: where it says plain, the walk agrees."""
    import orjson

    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return
    if strict_json._plain_text(body):
        assert strict_json._plain(value)
    if strict_json._flat_plain(value):  # the same for the one-level object's check
        assert strict_json._plain(value)


def test_plain_text_spares_the_walk_for_the_usual_body() -> None:
    assert strict_json._plain_text(json.dumps(GEN).encode())
    assert not strict_json._plain_text(b'{"a": 1.5}')
    assert strict_json._flat_plain(GEN | {"n": 2, "stream": False, "user": None})
    assert not strict_json._flat_plain({"n": 2.0})


MARKED = [
    b'{"prompt": "a [pixelproof-upstream:503] b"}',
    b'{"x": {"y": ["[pixelproof-upstream:drop]"]}}',
    b'{"prompt": "a \\u005bpixelproof-upstream:503] b"}',
    b'{"prompt": "a [pixelproof-upstream\\u003a503] b"}',
    '{"prompt": "[pixelproof-upstream:503]"}'.encode("utf-16"),
    '{"prompt": "[pixelproof-upstream:503]"}'.encode("utf-32"),
    '{"prompt": "[pixelproof-upstream:503]"}'.encode("utf-16-le"),
    b'{"prompt": "a lighthouse"}',
    b'{"[pixelproof-upstream:503]": "a key, not a value"}',
]


@pytest.mark.parametrize("body", MARKED, ids=lambda b: repr(b[:30]))
def test_a_body_said_unmarked_asks_for_no_failure(body: bytes) -> None:
    """``may_be_marked`` only spares the walk: where it says no, the walk finds no mark."""
    from pixelproof.mock import failing

    try:
        value = strict_json.strict_json(bytearray(body))
    except ApiError:
        return
    if not failing.may_be_marked(body):
        assert failing.requested([value, {}]) is None


def test_an_escaped_or_utf16_mark_still_fails_the_request() -> None:
    app = create_app(MockConfig(role="upstream"))
    with TestClient(app, base_url=MOCK_BASE_URL) as client:
        for body in MARKED[2:7]:
            answer = client.post("/v1/images/generations", content=body,
                                 headers={"content-type": "application/json"})  # fmt: skip
            assert answer.status_code == 503, (body, answer.text[:200])
        plain = client.post("/v1/images/generations", content=MARKED[7][:-1] + b', "model": "gpt-image-2"}',
                            headers={"content-type": "application/json"})  # fmt: skip
        assert plain.status_code == 200


class _Wire:
    """A transport that records what reaches the socket, one entry per system call."""

    def __init__(self) -> None:
        self.calls: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.calls.append(bytes(data))

    def writelines(self, parts: list[bytes]) -> None:
        self.calls.append(b"".join(parts))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str) -> str:
        return f"info {name}"


def test_a_head_and_its_body_leave_in_one_write() -> None:
    loop = asyncio.new_event_loop()
    try:
        wire = _Wire()
        corked = Corked(wire, loop)
        corked.write(b"HTTP/1.1 200 OK\r\n\r\n")
        corked.write(b"{}")
        assert wire.calls == [b"HTTP/1.1 200 OK\r\n\r\n{}"]
        big = b"x" * (HOLD_BYTES + 1)
        corked.write(big)  # nothing large is held
        assert wire.calls[-1] == big
        corked.write(b"head of a stream")  # nothing follows in this turn: out at the next one
        assert len(wire.calls) == 2
        loop.run_until_complete(asyncio.sleep(0))
        assert wire.calls[-1] == b"head of a stream"
        corked.write(b"held")
        corked.writelines([b" and ", b"joined"])  # never overtakes what is held
        assert wire.calls[-1] == b"held and joined"
        corked.write(b"last words")
        corked.close()  # a held write leaves before the connection closes
        assert wire.calls[-1] == b"last words"
        assert wire.closed
        assert corked.get_extra_info("peername") == "info peername"
    finally:
        loop.close()


B64 = ["QUJD", "QUI=", "QQ==", "QQ", "QQ=", "Q===", "QQ==QQ==", "QUJD\n", " QUJD", "QU JD", "QU-_",
       "QUJ\u00e9", "=QUJD", "", "data:image/png;base64,QUJD", "data:,QQ", "QUJD" * 5000 + "QQ=="]  # fmt: skip


@pytest.mark.parametrize("text", B64, ids=lambda t: repr(t[:16]))
def test_strict_base64_reads_as_the_validating_decoder(text: str) -> None:
    """The C fast path (binascii strict mode) accepts nothing ``validate=True`` refuses."""
    payload = text.partition(",")[2] if text.startswith("data:") else text
    try:
        expected: object = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        expected = f"invalid base64: {exc}"
    try:
        got: object = b64decode_strict(text)
    except ImageError as err:
        got = str(err)
    assert got == expected


def test_kept_rule_selections_are_the_selection_and_each_callers_own() -> None:
    from pixelproof.catalogue import default_catalogue

    catalogue = default_catalogue()
    first = catalogue.rules("size", "unified", "gpt-image-2")
    fresh = [r for r in catalogue if r.kind == "size" and r.applies_to("unified", "gpt-image-2")]
    assert first == fresh
    assert len(first) > 3
    first.clear()  # a caller's own list: the next caller still gets the whole selection
    assert catalogue.rules("size", "unified", "gpt-image-2") == fresh
    both = [r for r in catalogue if r.kind in ("size", "ratio") and r.applies_to("unified", None)]
    kept = catalogue.rules(("size", "ratio"), "unified")
    assert kept == both
    kept.clear()  # a selection by a tuple of kinds is kept too, and is each caller's own
    assert catalogue.rules(("size", "ratio"), "unified") == both
