"""The pixelproof plugin's command-line options (kept apart from plugin.py: the plugin registers
this hook by importing it, pluggy reads hooks from the plugin module's attributes)."""

from __future__ import annotations

import pytest

from pixelproof import values


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pixelproof", "pixelproof conformance runs")
    group.addoption(
        "--pixelproof-target",
        metavar="FILE",
        help="target profile (YAML); default: the embedded reference stack",
    )
    group.addoption(
        "--pixelproof-fault",
        action="append",
        default=[],
        metavar="NAME",
        help="inject a mock fault into the embedded stack (repeatable)",
    )
    group.addoption(
        "--pixelproof-rules",
        action="append",
        default=[],
        metavar="GLOB",
        help="only rules whose id matches (repeatable)",
    )
    group.addoption(
        "--pixelproof-time-scale",
        type=values.positive,
        default=1000.0,
        metavar="X",
        help="embedded stack clock speed (default 1000)",
    )
    group.addoption(
        "--pixelproof-run-id", type=values.run_id, default=None, help="run id used in probe nonces"
    )
    group.addoption(
        "--pixelproof-budget",
        type=values.count,
        default=None,
        metavar="IMAGES",
        help="stop buying images at this many (overrides the profile's budget_images)",
    )
    group.addoption(
        "--pixelproof-fuzz",
        choices=["auto", "off", "negative", "full"],
        default="auto",
        help="contract fuzzing: off, negative (inputs that must be rejected), full (also positive and "
        "stateful); auto = full, or negative against a profile marked paid",
    )
    group.addoption(
        "--pixelproof-fuzz-mode",
        choices=["deterministic", "explore"],
        default="deterministic",
        help="deterministic (derandomized, for CI gates) or explore (random, for nightly runs)",
    )
    group.addoption(
        "--pixelproof-fuzz-budget",
        type=values.count,
        default=400,
        metavar="N",
        help="the most requests fuzzing may send in a run (default 400)",
    )
    group.addoption(
        "--pixelproof-shard",
        default=None,
        metavar="K/N",
        help="run only shard K of N: a deterministic split by request group (see pixelproof.shard)",
    )
    group.addoption(
        "--pixelproof-workers",
        default=None,
        metavar="N",
        help="run the tests on N worker processes forked from this session, or auto: one per "
        "CPU (what `pixelproof run -n` uses; see pixelproof.lanes)",
    )
    group.addoption(
        "--pixelproof-allure",
        default=None,
        metavar="DIR",
        help="write Allure result files to DIR (what `pixelproof run` uses instead of allure-pytest's "
        "--alluredir: the same results, built once per test; see report/allure_results.py)",
    )
