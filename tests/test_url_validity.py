"""Result URLs "valid for 24 hours" (seed 002): judged by fetching a URL as if it were older, which
only a pixelproof mock can be asked to do; every other target skips the rule and says why."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from pixelproof.catalogue import Catalogue
from pixelproof.judging.evaluate import evaluate
from pixelproof.mock.app import create_app
from pixelproof.mock.clock import Clock
from pixelproof.mock.state import FileStore, MockConfig
from pixelproof.observe import Observer
from pixelproof.plan import cases_for
from pixelproof.surfaces.paths import FILE_AGE_HEADER
from pixelproof.target import Profile

RULE = "url.tasks-action.valid-24h"


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_stored_file_is_judged_at_the_age_asked_without_moving_the_clock() -> None:
    time = FakeTime()
    store = FileStore(Clock(source=time))
    token = store.put(b"png", "image/png", 100.0, "png")
    assert store.get(token, age_s=100.0) is not None
    assert store.get(token, age_s=100.5) is None
    assert store.get(token) is not None  # asking about an age changed nothing
    time.now = 101.0
    assert store.get(token) is None
    assert store.get(token, age_s=0.0) is None  # expired now is expired at any age


@pytest.fixture(scope="module")
def vendor_url() -> tuple[TestClient, str]:
    client = TestClient(create_app(MockConfig(role="upstream")))
    body = {"model": "dall-e-2", "prompt": "a lighthouse", "response_format": "url"}
    answer = client.post("/v1/images/generations", json=body)
    assert answer.status_code == 200, answer.text
    return client, answer.json()["data"][0]["url"]


@pytest.mark.parametrize("age", ["abc", "-1", "nan", "inf", ""])
def test_a_bad_age_is_refused_with_a_json_400(vendor_url: tuple[TestClient, str], age: str) -> None:
    client, url = vendor_url
    answer = client.get(url, headers={FILE_AGE_HEADER: age})
    assert answer.status_code == 400
    assert FILE_AGE_HEADER in answer.json()["error"]["message"]


def test_the_vendor_url_lives_its_documented_hour(vendor_url: tuple[TestClient, str]) -> None:
    client, url = vendor_url
    assert client.get(url, headers={FILE_AGE_HEADER: "3599"}).status_code == 200
    assert client.get(url, headers={FILE_AGE_HEADER: "3601"}).status_code == 404
    assert client.get(url).status_code == 200


def test_a_target_that_cannot_age_a_url_skips_the_rule_and_sends_nothing(
    catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gateway that ignored the header would serve the URL and pass for nothing; so only a
    profile that says its target honours it is judged."""
    monkeypatch.setenv("PP_URL_KEY", "k")
    profile = Profile.model_validate(
        {
            "surfaces": {
                "tasks-action": {"base_url": "http://127.0.0.1:9", "models": ["gpt-image-2"]}
            },
            "credentials": {"env": "PP_URL_KEY"},
        }
    )
    cases = [c for c in cases_for(catalogue, profile) if c.rule.id == RULE]
    observer = Observer(catalogue, profile)
    try:
        outcomes = evaluate(observer, cases)
    finally:
        observer.close()
    assert [o for o, _ in outcomes.values()] == ["skipped"]
    assert "url_age_header" in next(iter(outcomes.values()))[1]
    assert observer.requests_sent == 0
