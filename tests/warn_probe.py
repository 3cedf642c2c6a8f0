"""A pytest plugin for test_lanes: each test whose id names a size case of gpt-image-2 at 1:1
warns in its call phase with a warning class of this module's, wherever it runs (a forked worker
of `pixelproof run -n N`, or the command itself)."""

from __future__ import annotations

import warnings

import pytest


class ProbeWarning(UserWarning):
    """A category pytest knows nothing of: the command must find it by its module and name."""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> object:
    if "[size.gpt-image-2.1:1]" in item.nodeid:
        warnings.warn(ProbeWarning("pp-probe: warned in a worker"), stacklevel=1)
    return (yield)
