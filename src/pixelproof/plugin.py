"""The pytest plugin: options, fixtures and markers for running suites against a target."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pixelproof", "pixelproof conformance runs")
    group.addoption(
        "--pixelproof-target",
        action="store",
        default=None,
        metavar="FILE",
        help="target profile (YAML) to judge; default: the embedded reference stack",
    )
