"""An image URL that redirects to the image keeps the `url` promise (any client fetching it
follows the redirect): pixelproof judged such a gateway broken on every `response_format.url`
case ("download failed: 302"). A URL that never reaches an image is still broken, saying how
far it was followed; an API request's redirect is still an answer of its own
(test_run_bounds.py's redirect loop)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import pixelproof_inprocess, stack_profile_file
from pixelproof.client import MAX_REDIRECTS
from pixelproof.mock.server import Stack, embedded_stack
from redirecting_gateway import redirecting_gateway

KEY_ENV, KEY = "PP_REDIRECT_KEY", "pp-redirect-key-0123456789"
RULES = ("--rules", "response_format.url", "--rules", "openai_images.response_format.url")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with embedded_stack(time_scale=1000, api_key=KEY) as running:
        yield running


def _run(stack: Stack, tmp_path: Path, **gateway: Any) -> tuple[int, dict[str, Any], str]:
    with (
        redirecting_gateway(stack.gateway.url, **gateway) as url,
        pytest.MonkeyPatch.context() as env,
    ):
        env.setenv(KEY_ENV, KEY)
        profile = stack_profile_file(stack, KEY_ENV, tmp_path / "target.json")
        data = json.loads(profile.read_text())
        data["surfaces"] = {"unified": {**data["surfaces"]["unified"], "base_url": url}}
        profile.write_text(json.dumps(data))
        done = pixelproof_inprocess("run", "--target", str(profile), *RULES, "--fuzz", "off",
                                    "--report-dir", str(tmp_path), "--run-id", "r")  # fmt: skip
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    return done.returncode, run, done.stdout + done.stderr


@pytest.mark.parametrize("hops", [1, 3])
def test_image_urls_that_redirect_to_the_image_keep_the_promise(
    stack: Stack, tmp_path: Path, hops: int
) -> None:
    code, run, text = _run(stack, tmp_path, hops=hops)
    assert code == 0, text[-3000:]
    judged = [o for o in run["outcomes"] if o["rule"] == "response_format.url"]
    assert judged
    assert all(o["outcome"] == "passed" for o in judged)
    # each download is counted with its hops: one generation and 1 + hops GETs per case
    assert all(o["requests"] == 2 + hops for o in judged), [o["requests"] for o in judged]


def test_an_image_url_that_only_redirects_is_broken_and_says_how_far_it_was_followed(
    stack: Stack, tmp_path: Path
) -> None:
    code, run, text = _run(stack, tmp_path, loop=True)
    assert code == 1, text[-3000:]
    judged = [o for o in run["outcomes"] if o["rule"] == "response_format.url"]
    assert judged
    for outcome in judged:
        assert outcome["outcome"] == "failed"
        assert f"after {MAX_REDIRECTS} redirect(s) from http://127.0.0.1" in outcome["message"]
        assert "302" in outcome["message"]
