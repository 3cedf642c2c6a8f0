"""Target profiles end to end: waivers (waived, fixed, expired), no recorder, and the plain pytest
route, each a real `pixelproof run --target` against a stack served on loopback, in this process
(the console entry point is covered by test_cli_rules and test_run_cli); the plain pytest
route nests its session here too."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from conftest import pixelproof_inprocess
from pixelproof.mock.server import Stack, embedded_stack
from pixelproof.resources import suites_dir

KEY = "pp-profile-test-key"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with embedded_stack(time_scale=1000, api_key=KEY) as running:
        yield running


def write_profile(tmp_path: Path, stack: Stack, **extra: object) -> Path:
    profile = {
        "name": "test target",
        "surfaces": {
            "unified": {
                "base_url": stack.gateway.url,
                "models": ["gpt-image-2", "doubao-seedream-4-0-250828"],
            }
        },
        "credentials": {"env": "PP_TEST_KEY"},
        "recorder": stack.upstream.url,
        "timeout_s": 30,
        **extra,
    }
    path = tmp_path / "target.yaml"
    path.write_text(yaml.safe_dump(profile))
    return path


def run(
    tmp_path: Path, profile: Path, *args: str, pytest_route: bool = False
) -> tuple[int, str, dict[str, object]]:
    """A run on this profile in this process (conftest.pixelproof_inprocess), or with
    ``pytest_route`` plain pytest."""
    if pytest_route:  # plain pytest, nested in this process as pytester's in-process runs are
        out = io.StringIO()
        with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out):
            patch.setenv("PP_TEST_KEY", KEY)
            code = pytest.main([str(suites_dir()), "--pixelproof-target", str(profile), "-q",
                                "-p", "no:cacheprovider", *args])  # fmt: skip
        return int(code), out.getvalue(), {}
    argv = ["run", "--target", str(profile), "--report-dir", str(tmp_path), "--run-id", "r", *args]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PP_TEST_KEY", KEY)
        done = pixelproof_inprocess(*argv)
    data = json.loads((tmp_path / "r" / "run.json").read_text())
    return done.returncode, done.stdout + done.stderr, data


def outcome_of(data: dict[str, object], case: str) -> str:
    return next(o["outcome"] for o in data["outcomes"] if o["case"] == case)  # type: ignore[attr-defined,index]


def test_a_waived_failure_is_waived_not_failed(tmp_path: Path, stack: Stack) -> None:
    waiver = {
        "rule": "n.default.zero",
        "reason": "vendor-bug",
        "note": "GW-1",
        "expires": "2099-01-01",
    }
    profile = write_profile(
        tmp_path, stack, headers={"x-pixelproof-fault": "n-zero-forwarded"}, waivers=[waiver]
    )
    code, out, data = run(tmp_path, profile, "--rules", "n.default.zero")
    assert code == 0, out[-2000:]
    assert outcome_of(data, "n.default.zero[gpt-image-2]") == "waived"
    # Allure shows the waived failure's own message, not a traceback pytest was told to hide
    results = [
        json.loads(p.read_text()) for p in (tmp_path / "r").glob("allure-results/*-result.json")
    ]
    waived = next(r for r in results if "gpt-image-2" in r["name"])
    assert waived["status"] == "skipped"
    assert waived["statusDetails"]["trace"].startswith("RuleFailure: rule n.default.zero"), waived


def test_a_waived_rule_that_now_passes_is_reported_fixed(tmp_path: Path, stack: Stack) -> None:
    waiver = {"rule": "n.default.zero", "reason": "vendor-bug", "expires": "2099-01-01"}
    profile = write_profile(tmp_path, stack, waivers=[waiver])
    code, out, data = run(tmp_path, profile, "--rules", "n.default.zero")
    assert code == 1, out[-2000:]
    assert outcome_of(data, "n.default.zero[gpt-image-2]") == "fixed"
    assert "XPASS(strict)" in out


def test_an_expired_waiver_fails_the_run(tmp_path: Path, stack: Stack) -> None:
    waiver = {"rule": "n.default.zero", "reason": "vendor-bug", "expires": "2020-01-01"}
    profile = write_profile(tmp_path, stack, waivers=[waiver])
    code, out, _ = run(tmp_path, profile, "--rules", "n.default.zero")
    assert code == 1
    assert "expired waiver(s) in the profile" in out


def test_without_a_recorder_forwarding_rules_skip_with_the_reason(
    tmp_path: Path, stack: Stack
) -> None:
    profile = write_profile(tmp_path, stack, recorder=None)
    code, out, data = run(tmp_path, profile, "--rules", "watermark.*", "--rules", "n.default.*")
    assert code == 0, out[-2000:]
    outcomes = {o["case"]: o for o in data["outcomes"]}  # type: ignore[attr-defined]
    watermark = outcomes["watermark.false.forwarded[doubao-seedream-4-0-250828]"]
    assert watermark["outcome"] == "skipped"
    assert "needs the recorder" in watermark["message"]
    assert outcomes["n.default.zero[gpt-image-2]"]["outcome"] == "passed"


def test_plain_pytest_route_judges_the_same(tmp_path: Path, stack: Stack) -> None:
    profile = write_profile(tmp_path, stack)
    code, out, _ = run(tmp_path, profile, "-k", "n_default or watermark", pytest_route=True)
    assert code == 0, out[-2000:]
    assert "passed" in out
