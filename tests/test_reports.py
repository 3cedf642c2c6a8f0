"""Reports are checked for content, not existence: the same failing rule, with the same counts,
in junit.xml, run.json, report.html and summary.md; diffs list exactly what a fault broke."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RULES = ["--rules", "watermark.*", "--rules", "n.*", "--rules", "size.dall-e-*"]
FAULT = "watermark-false-dropped"
BROKEN = {f"watermark.false.forwarded[{m}]" for m in
          ("doubao-seedream-4-0-250828", "doubao-seedream-4-5-251128", "doubao-seedream-5-0-260128")}  # fmt: skip


def cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pixelproof.cli.main", *args], capture_output=True, text=True,
                          timeout=300, check=False, cwd=cwd)  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("reports")
    clean = cli("run", *RULES, "--report-dir", str(root), "--run-id", "1-clean")
    assert clean.returncode == 0, clean.stdout[-2000:]
    faulty = cli("run", *RULES, "--fault", FAULT, "--report-dir", str(root), "--run-id", "2-faulty")
    assert faulty.returncode == 1, faulty.stdout[-2000:]
    return root


def test_the_failing_rule_is_failed_everywhere_with_the_same_counts(runs: Path) -> None:
    report = runs / "2-faulty"
    data = json.loads((report / "run.json").read_text())
    failed = {o["case"] for o in data["outcomes"] if o["outcome"] == "failed"}
    assert failed == BROKEN
    assert data["counts"]["failed"] == len(BROKEN)
    for outcome in data["outcomes"]:
        if outcome["outcome"] == "failed":
            assert outcome["expected"]
            assert outcome["observed"]
            assert outcome["source"].startswith("001_2510ddedf379cfd5.txt")

    suite = ET.parse(report / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    junit_failed = {
        tc.get("name", "") for tc in suite.iter("testcase") if tc.find("failure") is not None
    }
    assert {re.sub(r"^test_\w+\[(.*)\]$", r"\1", n) for n in junit_failed} == BROKEN
    assert int(suite.get("failures", "-1")) == len(BROKEN)
    rule_cases = [tc for tc in suite.iter("testcase") if tc.find("properties") is not None]
    assert len(rule_cases) == sum(data["counts"].values())
    for tc in suite.iter("testcase"):
        failure = tc.find("failure")
        if failure is not None:
            assert "source: 001_2510ddedf379cfd5.txt" in (
                failure.get("message", "") + (failure.text or "")
            )

    page = (report / "report.html").read_text()
    assert f"passed {data['counts']['passed']}" in page
    assert f"failed {len(BROKEN)}" in page
    assert all(case in page for case in BROKEN)
    matrix = page[page.index('id="matrix"') : page.index("</table>")]
    assert "#c62828" in matrix  # the watermark cells are red

    summary = (report / "summary.md").read_text()
    assert "promises broken" in summary
    assert f"| {data['counts']['passed']} | {len(BROKEN)} | 0 |" in summary
    assert all(f"`{case}`" in summary for case in BROKEN)


def test_html_is_self_contained(runs: Path) -> None:
    page = (runs / "2-faulty" / "report.html").read_text()
    assert not re.search(r'(src|href)="(?!data:|#|contracts/)', page), "external asset referenced"
    assert "<script" not in page


def test_diff_lists_exactly_what_the_fault_broke(runs: Path, tmp_path: Path) -> None:
    forward = cli(
        "diff", str(runs / "1-clean"), str(runs / "2-faulty"), "--html", str(tmp_path / "d.html")
    )
    assert forward.returncode == 1
    section = forward.stdout.split("### Regressions")[1].split("###")[0]
    assert set(re.findall(r"`([^`]+)`", section)) == BROKEN
    assert "diff" in (tmp_path / "d.html").read_text()
    backward = cli("diff", str(runs / "2-faulty"), str(runs / "1-clean"))
    assert backward.returncode == 0
    fixed = backward.stdout.split("### Fixed")[1].split("###")[0]
    assert set(re.findall(r"`([^`]+)`", fixed)) == BROKEN


def test_diff_rejects_what_is_not_a_run(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{}")
    result = cli("diff", str(tmp_path / "x.json"), str(tmp_path / "missing"))
    assert result.returncode == 2
    assert "not a pixelproof run.json" in result.stderr


def test_history_trend_chart(runs: Path) -> None:
    result = cli("report", "--history", str(runs))
    assert result.returncode == 0, result.stderr
    page = (runs / "trend.html").read_text()
    assert '<svg id="trend"' in page
    assert page.count("<polyline") >= 1  # unified has a line over the two runs


def test_plan_counts_before_spending() -> None:
    result = cli("plan", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["cases"] >= 300
    assert 0 < plan["probes"] < plan["cases"]  # identical requests are shared
    assert plan["images"] >= plan["probes"] // 2
    assert plan["cost_usd"] > 0  # seed 002 documents prices for the action-style models
    limited = json.loads(cli("plan", "--json", "--budget", "10").stdout)
    assert limited["images"] <= 10
    assert limited["unrun_by_budget"]


def test_report_renders_in_headless_chromium(runs: Path, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium package")
        pytest.skip("chromium not installed (CI installs it)")
    page = (runs / "2-faulty" / "report.html").as_uri()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,1600"]  # fmt: skip
    dom = subprocess.run(
        [chromium, *flags, "--dump-dom", page],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert dom.returncode == 0, dom.stderr[-1000:]
    assert '<table id="matrix">' in dom.stdout
    assert 'class="failure"' in dom.stdout
    shot = tmp_path / "report.png"
    subprocess.run(
        [chromium, *flags, f"--screenshot={shot}", page],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert shot.is_file()
    assert shot.stat().st_size > 10_000
