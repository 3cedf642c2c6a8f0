"""`pixelproof rules`, run as a user runs it: the installed console script in a subprocess."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from conftest import pixelproof_inprocess


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """In process (the same main); test_rules_json_from_the_console_command runs the real one."""
    return pixelproof_inprocess(*args)


@functools.cache
def rules_json(*args: str) -> dict[str, Any]:
    """``pixelproof rules --json ARGS``, parsed, once per process (~0.1 CPU-s a call): the same
    answer for every test reading it (none changes it), whatever the terminal's width."""
    result = run_cli("rules", "--json", *args)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_rules_json_from_the_console_command() -> None:
    result = subprocess.run([sys.executable, "-m", "pixelproof.cli", "rules", "--json"],
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == rules_json()


def test_rules_json_contains_the_spot_checks() -> None:
    rules = {r["id"]: r for r in rules_json()["rules"]}
    assert rules["size.gpt_image_2_official.21:9.2k"]["expect"]["size"] == "2688x1152"
    assert rules["size.gpt_image_2_official.9:21.4k"]["expect"]["size"] == "1648x3840"
    assert rules["size.gpt_image_2_official.1:1.4k"]["expect"]["rejected"] is True
    assert rules["size.gpt-image-2-pro.3:2.2k"]["expect"]["size"] == "2560x1712"
    assert rules["size.dall-e-3.1792x1024"]["expect"]["size"] == "1792x1024"
    for rule in rules.values():
        assert rule["source"]["doc"]
        assert rule["source"]["section"]
        assert rule["source"]["quote"]


def test_rules_table_filters() -> None:
    result = run_cli("rules", "--kind", "size", "--surface", "unified", "--model", "dall-e-2")
    assert result.returncode == 0, result.stderr
    assert "size.dall-e-2.256x256" in result.stdout
    assert "size.dall-e-3" not in result.stdout
    assert "5 rules" in result.stdout  # the 4 table rows and default.size.dall-e (seed 001)


def test_rules_conflicts_lists_both_sources() -> None:
    result = run_cli("rules", "--conflicts")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "4:3 at 1k maps to 1024x768 vs 1536x1152" in out
    assert "up to 9 vs 16 reference images" in out
    assert "14 ratios on tasks-action" in out
    assert "13 ratios on tasks-official" in out
    assert "1920x1080: sides not divisible by 16" in out
    assert "000_489656cc9a685791.txt" in out
    assert "004_aa6aaa7a23d24226.txt" in out


def test_malformed_contracts_exit_2_with_a_clear_message(contracts_copy: Path) -> None:
    path = contracts_copy / "rules" / "behaviours.yaml"
    path.write_text(path.read_text().replace("severity: MUST", "severity: LOUD", 1))
    result = run_cli("rules", "--contracts", str(contracts_copy))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "behaviours.yaml" in result.stderr
    assert "severity" in result.stderr


def test_missing_contracts_dir_exits_2(tmp_path: Path) -> None:
    result = run_cli("rules", "--contracts", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "rules directory not found" in result.stderr


@pytest.mark.parametrize("columns", [60, 100, 140, 220])
def test_rules_table_fits_the_terminal_and_keeps_every_source(
    columns: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Narrow terminals used to lose the source column silently; now cells wrap, or each rule
    becomes a block of lines, and every rule still names its document and section."""
    monkeypatch.setenv("COLUMNS", str(columns))
    result = run_cli("rules", "--surface", "unified")
    assert result.returncode == 0, result.stderr
    assert max(len(line) for line in result.stdout.splitlines()) <= columns
    rules = rules_json("--surface", "unified")["rules"]
    docs = Counter(r["source"]["doc"] for r in rules)
    assert Counter({d: result.stdout.count(d) for d in docs}) == docs
    flat = " ".join(result.stdout.split())
    for rule in rules:
        assert rule["source"]["section"].split()[0] in flat
