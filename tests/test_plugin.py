"""The pytest plugin as its users meet it, run in a sandboxed pytest (pytester)."""

from __future__ import annotations

import pytest

from pixelproof.plugin import SESSION, session_of

pytest_plugins = ["pytester"]


def test_the_plugin_registers_its_markers_and_not_the_projects(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    text = result.stdout.str()
    assert "@pytest.mark.pixelproof: a generic suite test" in text
    assert "@pytest.mark.pixelproof_fuzz" in text
    # `gateway` is this project's own marker (pyproject.toml), not something every user gets
    assert "@pytest.mark.gateway" not in text


def test_a_plain_test_run_starts_no_session(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        "from pixelproof.plugin import session_of\n"
        "def pytest_sessionfinish(session):\n"
        "    print('SESSION', session_of(session.config))\n"
    )
    pytester.makepyfile("def test_one():\n    assert True\n")
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*SESSION None*"])


def test_the_session_lives_in_the_config_stash(pytestconfig: pytest.Config) -> None:
    assert session_of(pytestconfig) is None  # the project's own tests run no suite
    assert not hasattr(pytestconfig, "_pixelproof")
    assert SESSION not in pytestconfig.stash


def test_plugin_options_are_in_help(pytester: pytest.Pytester) -> None:
    text = pytester.runpytest("--help").stdout.str()
    for option in ("--pixelproof-target", "--pixelproof-rules", "--pixelproof-fault"):
        assert option in text
