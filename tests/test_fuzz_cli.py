"""Fuzzing through pytest and the CLI: the fuzz level decides what a session collects, and a
fuzz finding fails a `pixelproof run` like every other broken promise, with its reproduction.
(Moved from test_fuzzing.py, which kept the fuzzer's own tests.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from conftest import pixelproof_inprocess, stack_keyed_in_env
from pixelproof.catalogue import Catalogue
from pixelproof.mock.faults import FAULT_HEADER
from pixelproof.mock.server import Stack
from pixelproof.resources import suites_dir
from pixelproof.target import embedded_profile

pytest_plugins = ["pytester"]
KEY_ENV = "PIXELPROOF_FUZZ_CLI_TEST_KEY"
KEY = "pp-fuzz-cli-test-key-7d2b4a"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with stack_keyed_in_env(KEY_ENV, KEY) as running:
        yield running


def test_fuzz_option_decides_what_is_collected(
    pytester: pytest.Pytester, catalogue: Catalogue, stack: Stack
) -> None:
    """In process (pytester), pointed at this module's stack: without a target each session would
    start an embedded stack in a child process just to collect."""
    target = pytester.path / "target.yaml"
    profile = embedded_profile(catalogue, stack.gateway.url, stack.upstream.url, KEY_ENV, 1000)
    profile = profile.model_dump(mode="json", exclude_none=True)
    target.write_text(yaml.safe_dump(profile), encoding="utf-8")

    def collect(level: str) -> pytest.RunResult:
        suite = str(suites_dir() / "test_fuzz.py")
        return pytester.runpytest_inprocess(suite, "--import-mode=importlib", "--collect-only",
                                            "-q", "--pixelproof-fuzz", level, "--pixelproof-target", str(target))  # fmt: skip

    off = collect("off")
    assert off.ret == pytest.ExitCode.NO_TESTS_COLLECTED, off.stdout.str()
    negative = collect("negative")
    assert negative.ret == pytest.ExitCode.OK, negative.stdout.str()
    ids = [line for line in negative.stdout.lines if "test_fuzz[" in line]
    assert ids
    assert all(line.endswith("negative]") for line in ids)


def test_a_fuzz_finding_fails_a_pixelproof_run_with_its_reproduction(
    tmp_path: Path, catalogue: Catalogue, stack: Stack
) -> None:
    """The run in this process (the console entry point is covered by test_cli_rules and
    test_run_cli), against this module's stack with the fault by header: a stack process of the
    run's own costs ~1 CPU-s to start, and the default run's is other files' (test_reports)."""
    profile = embedded_profile(catalogue, stack.gateway.url, stack.upstream.url, KEY_ENV, 1000)
    profile = profile.model_copy(update={"headers": {FAULT_HEADER: "bad-ratio-500"}})
    target = tmp_path / "target.yaml"
    target.write_text(yaml.safe_dump(profile.model_dump(mode="json", exclude_none=True)))
    result = pixelproof_inprocess("run", "--target", str(target), "--rules", "fuzz.tasks-action.*",
                                  "--fuzz", "negative", "--fuzz-budget", "40", "--report-dir",
                                  str(tmp_path), "--run-id", "fz")  # fmt: skip
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    data = json.loads((tmp_path / "fz" / "run.json").read_text())
    failed = [o for o in data["outcomes"] if o["outcome"] == "failed"]
    assert [o["rule"] for o in failed] == ["fuzz.tasks-action.submitImageTask.negative"]
    assert failed[0]["kind"] == "fuzz"
    assert failed[0]["case"] == "tasks-action POST /v1/images/generations negative"
    assert "fuzz.server_error" in failed[0]["message"]
    assert "curl -X POST" in failed[0]["message"]
    assert 0 < data["requests_sent"] <= 40
    assert (
        "fuzz.tasks-action.submitImageTask.negative" in (tmp_path / "fz" / "junit.xml").read_text()
    )
