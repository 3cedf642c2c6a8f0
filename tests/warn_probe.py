"""A pytest plugin for test_lanes: the size case of gpt-image-2 at 1:1 warns in its call phase
with a warning class of this module's, wherever it runs (a forked worker of `pixelproof run -n
N`, or the command itself); the one at 4:3 with a class from a module it imports just then
(tests/warn_lazy.py), which the command of a forked run never imports."""

from __future__ import annotations

import warnings

import pytest


class ProbeWarning(UserWarning):
    """A category pytest knows nothing of: the command must find it by its module and name."""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> object:
    if "[size.gpt-image-2.1:1]" in item.nodeid:
        warnings.warn(ProbeWarning("pp-probe: warned in a worker"), stacklevel=1)
    if "[size.gpt-image-2.4:3]" in item.nodeid:
        from warn_lazy import LazyWarning  # imported only where the test runs

        warnings.warn(LazyWarning("pp-lazy: warned in a worker"), stacklevel=1)
    return (yield)
