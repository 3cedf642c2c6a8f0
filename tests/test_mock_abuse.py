"""The mock nothing can break: malformed requests of every family to every route of both roles
get a 4xx in the route's dialect (never a 5xx), the recorder stays readable and bounded, control
input is validated, and the gateway's upstream key goes only to the upstream's origin."""

from __future__ import annotations

import asyncio
import gc
import json
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from starlette.testclient import TestClient

import hostile
from conftest import answers_json_object
from mock_pairs import InlineClient, mock_apps
from pixelproof.mock.recorder import Recorder
from pixelproof.mock.upstream import Upstream
from test_mock_robustness import ROUTES

if TYPE_CHECKING:
    from mock_pairs import MockPair

DEEP = "[" * 100_000 + "]" * 100_000
# raw JSON tokens that json.loads would take (or choke on) but no API may
TOKENS = {
    "nested-100k": DEEP,
    "lone-surrogate": '"\\ud800"',
    "lone-surrogate-low": '"x\\udfff"',
    "nan": "NaN",
    "infinity": "Infinity",
    "minus-infinity": "-Infinity",
    "1e999": "1e999",
    "5000-digits": "9" * 5000,
}
WHOLE_BODIES = {
    "nested-100k-body": DEEP.encode(),
    "invalid-utf8": b'{"prompt": "\xff\xfe"}',
    "nan-body": b"NaN",
    "surrogate-key": b'{"\\ud800": 1}',
    "truncated": b'{"model": "gpt-image-2", "prompt": "x',
}
RAW = {"content-type": "application/json"}


def _with_token(valid: dict[str, Any], field: str, token: str) -> bytes:
    leaf = field.rpartition(".")[2]
    body = dict(valid) | {leaf: "__TOKEN__"}
    return json.dumps(body).replace('"__TOKEN__"', token).encode()


def _readable(client: TestClient | InlineClient) -> list[dict[str, Any]]:
    """The recorder answers 200 with strict JSON (no NaN, valid Unicode)."""
    response = client.get("/__pixelproof/requests", params={"limit": "1000"})
    assert response.status_code == 200, response.text[:300]
    body = json.loads(response.content, parse_constant=lambda c: pytest.fail(f"{c} in recorder"))
    return list(body["requests"])


def test_malformed_families_never_get_a_5xx_and_the_recorder_stays_readable() -> None:
    """~400 requests, each answer read before the next is sent: on this thread's own loop
    (conftest.InlineClient), not through TestClient's portal thread. Any job one of them started
    in the background (none today: every body is refused) is run to its end before the recorders
    are read, so what it recorded would be read too."""
    gateway_app, upstream_app = mock_apps(time_scale=1e6)
    pair = {"gateway": InlineClient(gateway_app), "upstream": InlineClient(upstream_app)}
    try:
        with hostile.rss_growth() as growth:  # the recorder's memory, at its peak
            bad, sent = [], 0
            for name, (role, path, query, valid, fields) in sorted(ROUTES.items()):
                client = pair[role]
                bodies = {f"{field}={token}": _with_token(valid, field, raw)
                          for field in fields[:3] for token, raw in TOKENS.items()}  # fmt: skip
                for label, body in {**bodies, **WHOLE_BODIES}.items():
                    response = client.post(path, params=query, content=body, headers=RAW)
                    sent += 1
                    if response.status_code >= 500 or not answers_json_object(response):
                        bad.append(f"{name} {label}: {response.status_code} {response.text[:100]}")
            for client in pair.values():
                client.settle()
        assert sent > 300
        assert bad == []
        for client in pair.values():
            _readable(client)
        assert growth() < 200
    finally:
        for client in pair.values():
            client.close()


BAD_CLOCK = [b'{"seconds": "nan"}', b'{"seconds": 1e999}', b'{"seconds": NaN}', b'{"seconds": -1}',
             b'{"seconds": true}', b'{"seconds": "soon"}', b"[1]", b"{"]  # fmt: skip


@pytest.mark.parametrize("role", ["upstream", "gateway"])
@pytest.mark.parametrize("body", BAD_CLOCK)
def test_clock_input_is_validated_and_the_mock_stays_healthy(
    mock_pair_factory: Callable[..., MockPair], role: str, body: bytes
) -> None:
    pair = mock_pair_factory(time_scale=1e-6)
    client = pair.upstream if role == "upstream" else pair.gateway
    answer = client.post("/__pixelproof/clock", content=body, headers=RAW)
    assert answer.status_code == 400, answer.text
    health = client.get("/__pixelproof/health")
    assert health.status_code == 200
    assert isinstance(health.json()["clock"], float)
    assert client.post("/__pixelproof/clock", json={"seconds": 5}).status_code == 200


def test_state_changing_control_routes_take_the_mock_key(
    mock_vendor_factory: Callable[..., TestClient],
) -> None:
    client = mock_vendor_factory(api_key="mock-key-123", time_scale=1e-6)
    assert client.post("/__pixelproof/clock", json={"seconds": 1}).status_code == 401
    assert client.delete("/__pixelproof/requests").status_code == 401
    assert client.get("/__pixelproof/requests").status_code == 200  # reading stays open
    auth = {"Authorization": "Bearer mock-key-123"}
    assert client.post("/__pixelproof/clock", json={"seconds": 1}, headers=auth).status_code == 200
    assert client.delete("/__pixelproof/requests", headers=auth).status_code == 200


def test_large_bodies_are_kept_as_size_hash_and_prefix(
    mock_vendor_factory: Callable[..., TestClient],
) -> None:
    client = mock_vendor_factory(time_scale=1e-6)
    huge = "A" * 1_000_000 + " [pp:tail-nonce]"
    client.post("/v1/images/generations", json={"model": "gpt-image-2", "prompt": huge})
    many = {"model": "gpt-image-2", "prompt": "x", "image": ["short"] * 100_000}
    client.post("/v1/images/generations", json=many)
    kept = _readable(client)
    prompt = kept[0]["json"]["prompt"]
    assert prompt.startswith(f"[{len(huge)} chars, sha256 ")
    assert prompt.endswith("[pp:tail-nonce]")  # a probe's nonce still matches
    assert len(prompt) < 1000
    assert "pixelproof_summary" in kept[1]["json"]
    assert len(json.dumps(kept)) < 100_000
    tail = client.get("/__pixelproof/requests", params={"contains": "pp:tail-nonce"}).json()
    assert len(tail["requests"]) == 1


def test_recorder_is_capped_by_bytes_and_pages_back() -> None:
    recorder = Recorder(capacity=1000, max_bytes=20_000)
    for i in range(50):
        recorder.add({"time": 0.0, "method": "POST", "path": "/p", "query": {}, "headers": {},
                      "json": {"prompt": f"{i}:" + "x" * 1000}})  # fmt: skip
    kept = recorder.query()
    assert 5 < len(kept) < 20  # the oldest went when the bytes passed the cap
    assert kept[-1].seq == 50
    assert [i.seq for i in recorder.query(limit=2, before=kept[-1].seq)] == [48, 49]


def test_recorder_pages_are_limited_and_say_where_to_go_on(
    mock_vendor_factory: Callable[..., TestClient],
) -> None:
    client = mock_vendor_factory(time_scale=1e-6)
    for i in range(5):
        client.post("/v1/images/generations", json={"model": "gpt-image-2", "prompt": f"p{i}"})
    page = client.get("/__pixelproof/requests", params={"limit": "2"}).json()
    assert [r["seq"] for r in page["requests"]] == [4, 5]
    assert page["more"] is True
    older = client.get(
        "/__pixelproof/requests", params={"limit": "2", "before": str(page["before"])}
    )
    assert [r["seq"] for r in older.json()["requests"]] == [2, 3]
    assert client.get("/__pixelproof/requests", params={"limit": "0"}).status_code == 400


def test_the_upstream_key_goes_only_to_the_upstream_origin() -> None:
    seen: list[tuple[str, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.headers.get("authorization")))
        return httpx.Response(200, content=b"\x89PNG\r\n\x1a\n")

    upstream = Upstream("http://127.0.0.1:8181/v1", "sk-upstream-secret",
                        transport=httpx.MockTransport(handler))  # fmt: skip
    asyncio.run(upstream.fetch("http://127.0.0.1:8181/files/a.png"))
    asyncio.run(upstream.fetch("http://127.0.0.1:9999/files/b.png"))
    asyncio.run(upstream.fetch("https://127.0.0.1:8181/files/c.png"))
    assert seen == [
        ("http://127.0.0.1:8181/files/a.png", "Bearer sk-upstream-secret"),
        ("http://127.0.0.1:9999/files/b.png", None),
        ("https://127.0.0.1:8181/files/c.png", None),
    ]


def test_the_recorder_keeps_no_key_by_name_or_by_value(
    mock_vendor_factory: Callable[..., TestClient],
) -> None:
    key = "mock-key-4e8a11"
    client = mock_vendor_factory(api_key=key, time_scale=1e-6)
    client.post("/v1/images/generations", params={"key": key, "token": "t-123456"},
                headers={"X-Auth-Token": "other-secret", "X-Note": f"carried {key}"},
                json={"model": "gpt-image-2", "prompt": f"leaked {key} here"})  # fmt: skip
    text = json.dumps(_readable(client))
    assert key not in text
    assert "other-secret" not in text
    assert "t-123456" not in text
    assert "leaked [redacted] here" in text


@pytest.mark.parametrize("role", ["gateway", "upstream"])
def test_a_big_multipart_upload_leaves_no_file_open(role: str) -> None:
    """Starlette's parser spools a part over 1 MB to a temporary file; the mock closes it once
    read, answered or refused. Left to garbage collection, each big upload held an open file
    (a ResourceWarning when collected)."""
    gateway, upstream = mock_apps()
    client = InlineClient(gateway if role == "gateway" else upstream)
    big = ("a.png", hostile.png_bomb(64, 64) + b"\0" * (2 << 20), "image/png")
    gc.collect()  # earlier tests' garbage (their event loops, sockets) warns before, not here
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for data in ({"model": "gpt-image-2", "prompt": "x"}, {"n": "not a number"}):
                client.post("/v1/images/edits", data=data, files={"image": big})
            client.settle()
            gc.collect()
    finally:
        client.close()
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert [m for m in unclosed if "file" in m.lower()] == [], unclosed
