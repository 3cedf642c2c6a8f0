"""The memo of identical requests (mock/replay.py) changes the mock's cost, never what it answers
or records: each test here sends a request the memo has kept an answer for, changed in one of the
ways that must make a new answer, and holds the answer to what a mock that never saw the first
request gives, or to what the clock, the faults and the recorder say it must be."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from conftest import InlineClient
from pixelproof.mock import MockConfig, create_app
from pixelproof.mock.app import app_state
from pixelproof.mock.server import start
from pixelproof.mock.vendors import openai
from pixelproof.surfaces.paths import UPSTREAM_FAILURE

GENERATIONS = "/v1/images/generations"
REQUESTS = "/__pixelproof/requests"
KEY = "sk-replay-test-key-123"
GEN = {"model": "gpt-image-2", "prompt": "a lighthouse", "size": "1024x1024"}
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def answers_made(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The models of the answers the OpenAI vendor made (a replayed answer is not made)."""
    made: list[str] = []
    real = openai.OpenAIVendor._answer

    def counted(self: Any, inc: Any, body: dict[str, Any], model: str, *args: Any, **kw: Any) -> Any:  # fmt: skip
        made.append(model)
        return real(self, inc, body, model, *args, **kw)

    monkeypatch.setattr(openai.OpenAIVendor, "_answer", counted)
    return made


@pytest.fixture
def new_client() -> Iterator[Callable[..., InlineClient]]:
    """Clients of fresh vendor mocks whose clocks barely move (time scale 1e-6: every request of
    a test falls in one second of the mock's clock unless the test moves it)."""
    clients: list[InlineClient] = []

    def make(**config: Any) -> InlineClient:
        clients.append(InlineClient(create_app(MockConfig(time_scale=1e-6, **config))))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


def _without_created(content: bytes) -> Any:
    try:
        body = json.loads(content)
    except ValueError:
        return content
    if isinstance(body, dict):
        body.pop("created", None)
    return body


def test_an_identical_request_gets_the_same_bytes_and_is_recorded_again(
    new_client: Callable[..., InlineClient], answers_made: list[str]
) -> None:
    client = new_client(api_key=KEY)
    sent = [client.post(GENERATIONS, json=GEN, headers=AUTH) for _ in range(4)]
    assert [r.status_code for r in sent] == [200, 200, 200, 200]
    assert sent[0].content == sent[1].content == sent[2].content == sent[3].content
    assert len(answers_made) == 2, "kept at its second sighting, replayed from the third"
    records = client.get(REQUESTS).json()["requests"]
    assert [r["seq"] for r in records] == [1, 2, 3, 4]
    for record in records:
        assert record["headers"]["authorization"] == "Bearer [redacted]"
        assert record["status"] == 200
    for later in records[1:]:
        assert _but_when(later) == _but_when(records[0])
    assert records[0]["time"] <= records[1]["time"] <= records[2]["time"]


VARIANTS: dict[str, tuple[dict[str, Any], dict[str, str], dict[str, str]]] = {
    # name: (body, headers, query) of a request sent after GEN's answer was kept
    "prompt": (GEN | {"prompt": "a much longer lighthouse prompt"}, AUTH, {}),
    "size": (GEN | {"size": "1536x1024"}, AUTH, {}),
    "format": (GEN | {"output_format": "webp"}, AUTH, {}),
    "unknown field": (GEN | {"colour": "red"}, AUTH, {}),
    "fault header": (GEN, AUTH | {"X-Pixelproof-Fault": "http-500"}, {}),
    "vendor fault header": (GEN, AUTH | {"X-Pixelproof-Fault": "vendor-created-missing"}, {}),
    "wrong key": (GEN, {"Authorization": f"Bearer {KEY}-wrong"}, {}),
    "no key": (GEN, {}, {}),
    "query": (GEN, AUTH, {"key": "x"}),
    "asks to fail": (GEN | {"prompt": UPSTREAM_FAILURE.format(mode="503")}, AUTH, {}),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_a_request_that_differs_gets_its_own_answer(
    new_client: Callable[..., InlineClient], variant: str
) -> None:
    body, headers, query = VARIANTS[variant]
    seen = new_client(api_key=KEY)
    for _ in range(3):  # seen, kept, replayed
        assert seen.post(GENERATIONS, json=GEN, headers=AUTH).status_code == 200
    after = seen.post(GENERATIONS, json=body, headers=headers, params=query)
    unseen = new_client(api_key=KEY)
    fresh = unseen.post(GENERATIONS, json=body, headers=headers, params=query)
    assert after.status_code == fresh.status_code
    assert after.headers["content-type"] == fresh.headers["content-type"]
    assert _without_created(after.content) == _without_created(fresh.content)
    records = seen.get(REQUESTS).json()["requests"]
    truth = unseen.get(REQUESTS).json()["requests"]
    assert len(records) == 4
    assert len(truth) == 1
    assert _but_when(records[-1]) == _but_when(truth[0])


def _but_when(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("seq", "time")}


def test_the_clock_moving_to_another_second_makes_a_new_answer(
    new_client: Callable[..., InlineClient], answers_made: list[str]
) -> None:
    client = new_client()
    clock = app_state(client.http._transport.app).clock  # type: ignore[attr-defined]
    first = [json.loads(client.post(GENERATIONS, json=GEN).content) for _ in range(3)]
    assert len(answers_made) == 2
    clock.advance(1.0)
    second = json.loads(client.post(GENERATIONS, json=GEN).content)
    assert second["created"] == first[0]["created"] + 1 == clock.wall()
    assert len(answers_made) == 3


def test_faults_configured_after_an_answer_was_kept_still_apply(
    new_client: Callable[..., InlineClient],
) -> None:
    client = new_client()
    state = app_state(client.http._transport.app)  # type: ignore[attr-defined]
    for _ in range(3):
        assert client.post(GENERATIONS, json=GEN).status_code == 200
    state.config.faults = frozenset({"http-500"})
    assert client.post(GENERATIONS, json=GEN).status_code == 500
    state.config.faults = frozenset({"vendor-created-missing"})
    assert "created" not in client.post(GENERATIONS, json=GEN).json()
    state.config.faults = frozenset()
    state.config.max_body_bytes = 10
    assert client.post(GENERATIONS, json=GEN).status_code == 413
    state.config.max_body_bytes = 1 << 20
    state.config.api_key = KEY
    assert client.post(GENERATIONS, json=GEN).status_code == 401


def test_url_answers_and_faulted_answers_are_made_each_time(
    new_client: Callable[..., InlineClient], answers_made: list[str]
) -> None:
    client = new_client()
    url = {"model": "dall-e-2", "prompt": "p", "size": "256x256", "response_format": "url"}
    links = [client.post(GENERATIONS, json=url).json()["data"][0]["url"] for _ in range(3)]
    assert len(set(links)) == 3, "each url answer stores its own file"
    faulted = new_client(faults=frozenset({"vendor-opaque"}))
    for _ in range(3):
        assert faulted.post(GENERATIONS, json=GEN).status_code == 200
    assert len(answers_made) == 6


def test_the_real_server_replays_the_same_bytes_on_one_connection() -> None:
    """uvicorn's scope, keep-alive: the same raw request three times, three equal answers but for
    uvicorn's Date header (the created second is one: this mock's clock runs at 1e-6)."""
    app = create_app(MockConfig(time_scale=1e-6))
    running = start(app)
    try:
        host, port = running.url.removeprefix("http://").split(":")
        payload = json.dumps(GEN).encode()
        request = (f"POST {GENERATIONS} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                   f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload  # fmt: skip
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            answers = [_exchange(sock, request) for _ in range(3)]
        assert answers[0].startswith(b"HTTP/1.1 200 OK\r\n")
        assert answers[1] == answers[0] == answers[2]
        assert app_state(app).recorder.last_seq == 3
    finally:
        running.stop()


def _exchange(sock: socket.socket, request: bytes) -> bytes:
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")))  # fmt: skip
    while len(body) < length:
        body += sock.recv(65536)
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"date:")]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
