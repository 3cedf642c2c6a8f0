"""pixelproof against a gateway nobody here wrote: LiteLLM's proxy in front of the vendor mock.

The end-to-end test is opt-in (`pytest -m gateway`; `.ci/run` runs it when
PIXELPROOF_GATEWAY_TESTS=1): it runs examples/litellm/run.sh, which installs LiteLLM into its cached
virtual environment on first use, and holds the report to examples/litellm/expected-failures.txt,
so a promise LiteLLM starts keeping, or a new one it breaks, turns it red until FINDINGS.md and the
list say so. The fast tests below keep the list and FINDINGS.md in step, and pin the two pixelproof
fixes that run found.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from pixelproof.client import Exchange
from pixelproof.samples import sample_bytes

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "litellm"
RUN_ID = "litellm-gateway-test"
REPORT_FILES = ("junit.xml", "run.json", "report.html", "summary.md")


# The level the proxy is held to -> the list of cases it breaks there.
LISTS = {
    "unified-gateway": "expected-failures.txt",
    "openai-images": "expected-failures-openai-images.txt",
}


def expected_failures(level: str = "unified-gateway") -> set[str]:
    """Case ids, one a line; '#' starts a comment."""
    text = (EXAMPLE / LISTS[level]).read_text(encoding="utf-8")
    return {line.split("#", 1)[0].strip() for line in text.splitlines()} - {""}


@pytest.mark.parametrize("level", LISTS)
def test_findings_explain_every_expected_failure(level: str) -> None:
    findings = (EXAMPLE / "FINDINGS.md").read_text(encoding="utf-8")
    unexplained = sorted(case for case in expected_failures(level) if f"`{case}`" not in findings)
    assert not unexplained, f"in {LISTS[level]} but not in FINDINGS.md: {unexplained}"


def test_the_subset_level_breaks_a_subset() -> None:
    """What LiteLLM breaks as an OpenAI pass-through it breaks as a unified gateway too."""
    assert expected_failures("openai-images") <= expected_failures("unified-gateway")


def test_mock_openai_usage_has_input_token_details(mock_vendor: TestClient) -> None:
    """OpenAI always sends usage.input_tokens_details; LiteLLM's edit path refuses an answer
    without it (it answered 500 to every edit until the mock sent it)."""
    generated = mock_vendor.post(
        "/v1/images/generations", json={"model": "gpt-image-1", "prompt": "a red cube"}
    )
    edited = mock_vendor.post(
        "/v1/images/edits",
        data={"model": "gpt-image-1", "prompt": "a red cube"},
        files={"image[]": ("image.png", sample_bytes("png512"), "image/png")},
    )
    for answer in (generated, edited):
        assert answer.status_code == 200, answer.text
        details = answer.json()["usage"]["input_tokens_details"]
        assert set(details) == {"text_tokens", "image_tokens"}, details


def test_failure_text_keeps_error_messages_whole() -> None:
    """Base64 blobs are shortened in failure text; an error message is the evidence and is not."""
    message = "litellm.BadRequestError: OpenAIException - n must be between 1 and 10 (got 0)"
    body = {"error": {"message": message, "type": "invalid_request_error"}, "b64_json": "A" * 200}
    exchange = Exchange(
        "POST",
        "http://127.0.0.1/v1/images/generations",
        {},
        status=400,
        response_headers={"content-type": "application/json"},
        body=json.dumps(body).encode(),
    )
    described = exchange.describe_response()
    assert message in described
    assert "A" * 60 not in described


@pytest.mark.gateway
@pytest.mark.parametrize(
    ("level", "workers"),
    [("unified-gateway", []), ("openai-images", []), ("unified-gateway", ["-n", "2"])],
    ids=["unified-gateway", "openai-images", "unified-gateway-forked-workers"],
)
def test_litellm_proxy_end_to_end(tmp_path: Path, level: str, workers: list[str]) -> None:
    """The same verdicts whether the run is serial or on forked workers (`-n 2`)."""
    env = {
        **os.environ,
        "PIXELPROOF_LEVEL": level,
        "PIXELPROOF_PYTHON": sys.executable,
        "PIXELPROOF_REPORT_DIR": str(tmp_path / "reports"),
        "PIXELPROOF_RUN_ID": RUN_ID,
        "PIXELPROOF_LOG_DIR": str(tmp_path / "logs"),
    }
    done = subprocess.run(
        ["bash", str(EXAMPLE / "run.sh"), *workers],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    said = f"run.sh exited {done.returncode}; its last words:\n{done.stderr[-3000:]}"
    report = tmp_path / "reports" / RUN_ID
    for name in REPORT_FILES:
        assert (report / name).is_file(), f"no {name} in {report}\n{said}"
    outcomes = json.loads((report / "run.json").read_text(encoding="utf-8"))["outcomes"]
    errors = sorted(o["case"] for o in outcomes if o["outcome"] == "error")
    assert not errors, f"infrastructure errors: {errors}\n{said}"
    failed = {o["case"] for o in outcomes if o["outcome"] == "failed"}
    expected = expected_failures(level)
    assert failed == expected, (
        f"newly broken: {sorted(failed - expected)}; now kept: {sorted(expected - failed)} "
        f"(update FINDINGS.md and {LISTS[level]})"
    )
    assert done.returncode == (1 if expected else 0), said
