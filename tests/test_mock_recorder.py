"""The recorder: what reached the mock, redacted, filterable and bounded (GET /__pixelproof/requests)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from starlette.testclient import TestClient

if TYPE_CHECKING:
    from mock_pairs import MockPair

SENTINEL = "sk-pixelproof-SENTINEL-7f3a9c"  # must never appear in anything the recorder serves
REQUESTS = "/__pixelproof/requests"
GENERATIONS = "/v1/images/generations"
GEMINI = "/v1beta/models/gemini-3-pro-image-preview:generateContent"
GEMINI_BODY = {"contents": [{"parts": [{"text": "a lighthouse"}]}]}


def recorded(client: TestClient, **filters: Any) -> list[dict[str, Any]]:
    response = client.get(REQUESTS, params=filters)
    assert response.status_code == 200, response.text
    return list(response.json()["requests"])


def generate(client: TestClient, prompt: str, **headers: str) -> None:
    body = {"model": "gpt-image-2", "prompt": prompt, "size": "1024x1024"}
    assert client.post(GENERATIONS, json=body, headers=headers).status_code < 500


# ---------------------------------------------------------------- credentials never recorded


def test_vendor_never_records_credentials(
    mock_vendor_factory: Callable[..., TestClient],
) -> None:
    client = mock_vendor_factory(api_key=SENTINEL)
    body = {"model": "gpt-image-2", "prompt": "a lighthouse"}
    sent = [
        client.post(GENERATIONS, json=body, headers={"Authorization": f"Bearer {SENTINEL}"}),
        client.post(GENERATIONS, json=body, headers={"api-key": SENTINEL}),
        client.post(GEMINI, json=GEMINI_BODY, headers={"x-goog-api-key": SENTINEL}),
        client.post(GEMINI, json=GEMINI_BODY, params={"key": SENTINEL}),
        client.post(GEMINI, json=GEMINI_BODY, params={"key": f"{SENTINEL}-wrong"}),
        client.post(GENERATIONS, json=body, headers={"Authorization": f"Bearer {SENTINEL}x"}),
    ]
    assert [r.status_code for r in sent] == [200, 200, 200, 200, 401, 401]
    served = client.get(REQUESTS)
    assert len(served.json()["requests"]) == len(sent)
    assert SENTINEL not in served.text
    first = served.json()["requests"][0]
    assert "authorization" in first["headers"], "the header is recorded, its value is not"


def test_gateway_never_records_credentials_at_either_hop(
    mock_pair_factory: Callable[..., MockPair],
) -> None:
    pair = mock_pair_factory(time_scale=1e-6, api_key=SENTINEL)
    auth = {"Authorization": f"Bearer {SENTINEL}"}
    generate(pair.gateway, "a lighthouse", **auth)
    gemini = pair.gateway.post(GEMINI, json=GEMINI_BODY, params={"key": SENTINEL})
    assert gemini.status_code == 200, gemini.text
    upstream = pair.upstream.get(REQUESTS)
    assert len(upstream.json()["requests"]) == 2, "both requests were forwarded (with the key)"
    for client in (pair.gateway, pair.upstream):
        assert SENTINEL not in client.get(REQUESTS).text


# ---------------------------------------------------------------- what is recorded


def test_multipart_files_are_recorded_by_name_size_and_digest(
    mock_vendor: TestClient, make_png: Callable[..., bytes]
) -> None:
    image, mask = make_png(64, 64), make_png(64, 64, alpha=True)
    files = [
        ("image", ("photo.png", image, "image/png")),
        ("mask", ("holes.png", mask, "image/png")),
    ]
    data = {"model": "gpt-image-2", "prompt": "a lighthouse"}
    assert mock_vendor.post("/v1/images/edits", data=data, files=files).status_code == 200
    [item] = recorded(mock_vendor)
    assert item["form"] == data
    summary = {
        name: [(f["filename"], f["size"], f["sha256"]) for f in items]
        for name, items in item["files"].items()
    }
    assert summary == {
        "image": [("photo.png", len(image), hashlib.sha256(image).hexdigest())],
        "mask": [("holes.png", len(mask), hashlib.sha256(mask).hexdigest())],
    }
    assert "PNG" not in json.dumps(item), "file bytes themselves are not kept"


def test_record_carries_method_path_query_body_and_status(mock_vendor: TestClient) -> None:
    body = {"model": "gpt-image-2", "prompt": "a lighthouse", "size": "1000x1000"}
    raw = json.dumps(body).encode()
    response = mock_vendor.post(
        GENERATIONS,
        content=raw,
        params={"trace": "t1"},
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    [item] = recorded(mock_vendor)
    assert (item["method"], item["path"], item["query"], item["json"], item["status"]) == (
        "POST",
        GENERATIONS,
        {"trace": "t1"},
        body,
        400,
    )
    assert item["body_size"] == len(raw)


def test_control_requests_are_not_recorded(mock_vendor: TestClient) -> None:
    mock_vendor.get("/__pixelproof/health")
    mock_vendor.post("/__pixelproof/clock", json={"seconds": 1})
    recorded(mock_vendor)
    assert recorded(mock_vendor) == []


# ---------------------------------------------------------------- filters, clearing, bounds


@pytest.fixture
def mixed(mock_vendor: TestClient) -> TestClient:
    """Four requests: three generations (one tagged), one Gemini call."""
    generate(mock_vendor, "red barn")
    generate(mock_vendor, "blue boat", **{"x-pixelproof-tag": "suite-7"})
    assert mock_vendor.post(GEMINI, json=GEMINI_BODY).status_code == 200
    generate(mock_vendor, "red kite")
    return mock_vendor


def _prompts(items: list[dict[str, Any]]) -> list[str]:
    return [i["json"].get("prompt") or i["json"]["contents"][0]["parts"][0]["text"] for i in items]


def test_filter_by_path_and_prefix(mixed: TestClient) -> None:
    assert _prompts(recorded(mixed, path=GENERATIONS)) == ["red barn", "blue boat", "red kite"]
    assert _prompts(recorded(mixed, path="/v1beta/*")) == ["a lighthouse"]
    assert recorded(mixed, path="/v1/images") == []


def test_filter_by_method(mixed: TestClient) -> None:
    assert len(recorded(mixed, method="post")) == 4
    assert recorded(mixed, method="GET") == []


def test_filter_by_contains_and_tag(mixed: TestClient) -> None:
    assert _prompts(recorded(mixed, contains="red")) == ["red barn", "red kite"]
    assert _prompts(recorded(mixed, tag="suite-7")) == ["blue boat"]
    assert recorded(mixed, contains="green") == []


def test_since_and_limit(mixed: TestClient) -> None:
    everything = mixed.get(REQUESTS).json()
    seqs = [i["seq"] for i in everything["requests"]]
    assert seqs == sorted(seqs)
    assert everything["last_seq"] == seqs[-1]
    assert [i["seq"] for i in recorded(mixed, since=seqs[1])] == seqs[2:]
    assert recorded(mixed, since=seqs[-1]) == []
    assert [i["seq"] for i in recorded(mixed, limit=2)] == seqs[-2:]


def test_delete_clears(mixed: TestClient) -> None:
    cleared = mixed.delete(REQUESTS)
    assert cleared.status_code == 200
    assert cleared.json()["cleared"] == 4
    assert recorded(mixed) == []
    generate(mixed, "after")
    assert _prompts(recorded(mixed)) == ["after"]


def test_buffer_is_bounded(mock_vendor_factory: Callable[..., TestClient]) -> None:
    client = mock_vendor_factory(record_capacity=5)
    for i in range(12):
        generate(client, f"prompt {i}")
    items = recorded(client)
    assert _prompts(items) == [f"prompt {i}" for i in range(7, 12)]
    assert client.get(REQUESTS).json()["last_seq"] == items[-1]["seq"]


# ---------------------------------------------------------------- the recorder's flat copy

FLAT_OR_NOT: list[dict[Any, Any]] = [
    {}, {"a": "b"}, {"a": None, "b": True, "c": 0, "d": 2**80}, {"a": 1.5}, {"a": float("nan")},
    {"k": "x" * 4096}, {"k": "x" * 4097}, {"x" * 4097: "v"}, {"s": "\udc80"}, {"\ud800": "a"},
    {"u": "é"}, {"é": "u"}, {1: "a"}, {None: "a"}, {(1, 2): "a"}, {"l": ["a"]}, {"d": {"a": "b"}},
    {"t": (1, 2)}, {"p": "a [pixelproof-upstream:503] b"}, {"c": "\x00\x1f\"\\"},
    {"host": "127.0.0.1:8700", "content-type": "application/json", "content-length": "68"},
]  # fmt: skip


@pytest.mark.parametrize("value", FLAT_OR_NOT, ids=lambda v: repr(v)[:30])
def test_the_flat_copy_is_the_walked_value(value: dict[Any, Any]) -> None:
    """``servable``'s shortcut for flat dicts gives what walking gives, to the type (repr tells
    1 from True, a tuple from a list), and a copy."""
    from pixelproof.mock.recorder import _flat, servable, walked

    copied = _flat(value)
    if copied is not None:
        assert repr(copied) == repr(walked(value))
        assert copied is not value
    assert repr(servable(value)) == repr(walked(value))


def test_the_flat_copy_is_taken_for_the_usual_fields() -> None:
    from pixelproof.mock.recorder import _flat

    for value in ({}, {"host": "h", "content-length": "2"}, {"model": "m", "n": 2, "user": None}):
        assert _flat(value) == value


def test_a_record_is_a_copy_of_the_body() -> None:
    from pixelproof.mock.recorder import Recorder

    body = {"prompt": "p", "n": 1, "nested": {"a": [1, 2]}}
    flat = {"prompt": "p"}
    item = Recorder().add({"time": 0.0, "method": "POST", "path": "/p", "query": {},
                           "headers": flat, "json": body})  # fmt: skip
    body["nested"]["a"].append(3)  # a handler changing the body after it was recorded
    flat["prompt"] = "changed"
    assert item.json == {"prompt": "p", "n": 1, "nested": {"a": [1, 2]}}
    assert item.headers == {"prompt": "p"}
