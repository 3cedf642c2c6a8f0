"""The reference gateway against an upstream that answers without end: its answer is read with a
cap, and past it the gateway answers a 502 JSON error instead of holding the body (a real
loopback server on the upstream side, the gateway in process)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

import hostile
from pixelproof.mock import upstream
from pixelproof.mock.app import create_app
from pixelproof.mock.state import MockConfig

CAP = 1024 * 1024


@pytest.mark.parametrize(
    "behaviour",
    [hostile.huge_chunked(8 * CAP), hostile.huge_length(10 * 1024**3)],
    ids=["streaming-past-the-cap", "declared-10-GB"],
)
def test_an_endless_upstream_answer_is_a_502_json_error(
    behaviour: hostile.Behaviour, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upstream, "MAX_ANSWER_BYTES", CAP)
    with hostile.serve(behaviour) as url:
        gateway = TestClient(create_app(MockConfig(role="gateway", upstream_url=url)))
        with gateway:
            answer = gateway.post(
                "/v1/images/generations", json={"model": "gpt-image-1", "prompt": "a red cube"}
            )
    assert answer.status_code == 502, answer.text
    assert f"upstream answer over {CAP:,} bytes" in answer.json()["error"]["message"]


def test_an_answer_under_the_cap_is_read_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cap is no limit below it: an answer of exactly the cap (one 1 MiB chunk of spaces) is
    read whole and judged by the gateway as what it is, JSON that is no object."""
    monkeypatch.setattr(upstream, "MAX_ANSWER_BYTES", CAP)
    with hostile.serve(hostile.huge_chunked(CAP)) as url:
        gateway = TestClient(create_app(MockConfig(role="gateway", upstream_url=url)))
        with gateway:
            answer = gateway.post(
                "/v1/images/generations", json={"model": "gpt-image-1", "prompt": "a red cube"}
            )
    assert answer.status_code == 502, answer.text  # spaces are no JSON object: judged, not capped
    assert "over" not in answer.json()["error"]["message"]
