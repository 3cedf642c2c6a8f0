"""The public API (``pixelproof.__all__``): what it exports, and that it does what its docstring
says against a real stack: load a catalogue and a profile, observe a case, judge it."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import pixelproof
from pixelproof.mock.faults import FAULT_HEADER
from pixelproof.mock.server import Stack, embedded_stack

KEY = "pp-public-api-key"


def test_all_is_sorted_unique_and_importable() -> None:
    names = [n for n in pixelproof.__all__ if n != "__version__"]
    assert names == sorted(names, key=lambda n: (n[0].islower(), n)), "keep __all__ sorted"
    assert len(set(pixelproof.__all__)) == len(pixelproof.__all__)
    for name in pixelproof.__all__:
        assert hasattr(pixelproof, name), name


def test_all_names_every_lazy_export_and_nothing_else() -> None:
    assert set(pixelproof._WHERE) | {"__version__"} == set(pixelproof.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nosuch'"):
        _ = pixelproof.nosuch  # type: ignore[attr-defined]


def test_version_is_a_version() -> None:
    assert re.match(r"^\d+(\.\d+)*", pixelproof.__version__)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with embedded_stack(time_scale=1000, api_key=KEY) as running:
        yield running


def _profile_file(tmp_path: Path, stack: Stack, **extra: object) -> Path:
    data = {
        "name": "api test",
        "surfaces": {"unified": {"base_url": stack.gateway.url, "models": ["gpt-image-2"]}},
        "credentials": {"env": "PP_API_KEY"},
        "recorder": stack.upstream.url,
        **extra,
    }
    path = tmp_path / "target.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _judge(profile_path: Path, rule_id: str) -> list[str]:
    """The docstring's loop, as a user writes it: failures as text, or [] when kept."""
    catalogue = pixelproof.load_catalogue()
    profile = pixelproof.load_profile(profile_path, catalogue)
    observer = pixelproof.Observer(catalogue, profile)
    failures: list[str] = []
    try:
        cases = [c for c in pixelproof.cases_for(catalogue, profile) if c.rule.id == rule_id]
        assert cases, f"no case for {rule_id}"
        for case in cases:
            try:
                pixelproof.judge(pixelproof.observe_case(observer, case))
            except pixelproof.RuleFailure as failure:
                failures.append(str(failure))
    finally:
        observer.close()
    return failures


def test_the_documented_loop_keeps_and_breaks(
    tmp_path: Path, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PP_API_KEY", KEY)
    assert _judge(_profile_file(tmp_path, stack), "n.default.zero") == []
    broken = _profile_file(tmp_path, stack, headers={FAULT_HEADER: "n-zero-forwarded"})
    failures = _judge(broken, "n.default.zero")
    assert len(failures) == 1
    assert failures[0].startswith("rule n.default.zero[gpt-image-2]")


def test_importing_pixelproof_is_cheap_and_starts_nothing() -> None:
    code = (
        "import sys, threading, pixelproof\n"
        "heavy = sorted(m for m in ('PIL', 'httpx', 'pytest', 'starlette') if m in sys.modules)\n"
        "print(threading.active_count(), heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "1 []"
