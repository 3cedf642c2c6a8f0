"""Reports are checked for content, not existence: the same failing rule, with the same counts,
in junit.xml, run.json, report.html, summary.md and the terminal; diffs list exactly what a fault
broke. The faulty run is also the suite's `pixelproof run --fault` end to end (the embedded stack
in its own process, as a user's first run)."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

import stack_watch
from allure_pair import differences, results
from conftest import pixelproof_inprocess
from once import once_per_session
from pixelproof.catalogue import default_catalogue
from pixelproof.mock.server import embedded_stack
from pixelproof.target import embedded_profile

REPO = Path(__file__).resolve().parents[1]
RULES = ["--rules", "watermark.*", "--rules", "n.*", "--rules", "size.dall-e-*"]
FAULT = "watermark-false-dropped"
KEY_ENV, KEY = "PP_REPORTS_KEY", "pp-reports-key-0123456789"
BROKEN = {f"watermark.false.forwarded[{m}]" for m in
          ("doubao-seedream-4-0-250828", "doubao-seedream-4-5-251128", "doubao-seedream-5-0-260128")}  # fmt: skip


def _clean_run(root: Path) -> subprocess.CompletedProcess[str]:
    """The clean run, against the reference stack served here in threads (``--target``): a stack
    process costs ~1 CPU-s to start, and the default run's own (the user's first run, a process
    of its own) is the faulty run's, and test_run_tail's. Same claims as the default profile."""
    with pytest.MonkeyPatch.context() as env, embedded_stack(api_key=KEY) as stack:
        env.setenv(KEY_ENV, KEY)
        profile = embedded_profile(default_catalogue(), stack.gateway.url, stack.upstream.url,
                                   KEY_ENV, 1000)  # fmt: skip
        target = root / "clean-target.yaml"
        target.write_text(yaml.safe_dump(profile.model_dump(mode="json", exclude_none=True)))
        return pixelproof_inprocess("run", "--target", str(target), *RULES, "--report-dir",
                                    str(root), "--run-id", "1-clean")  # fmt: skip


def _two_runs(root: Path) -> None:
    # both runs through the same `main` in this process (the console entry point is covered by
    # test_cli_rules and test_run_cli); captured output is not a terminal either
    clean = _clean_run(root)
    assert clean.returncode == 0, clean.stdout[-2000:]
    assert "cases judged" not in clean.stdout + clean.stderr  # not a terminal: no live line
    # allure-pytest's listener writes its own results of the same tests beside the run's writer
    # stack_watch: the state of the run's stack process once the tests have run (test below)
    # and every stack process the run starts (test_early_stack's claim, on this default run)
    stack_watch.SEEN.clear()
    with pytest.MonkeyPatch.context() as patch:
        started = stack_watch.record_stack_starts(patch)
        faulty = pixelproof_inprocess("run", *RULES, "--fault", FAULT, "--report-dir", str(root),
                                      "--run-id", "2-faulty", "--", "--alluredir",
                                      str(root / "theirs"), "-p", "stack_watch")  # fmt: skip
    assert faulty.returncode == 1, faulty.stdout[-2000:]
    (root / "2-faulty.out").write_text(faulty.stdout)  # what the terminal showed
    stacks = {
        **stack_watch.SEEN,
        "started": started,
        "gone": [stack_watch.gone(p) for p in started],
    }
    (root / "2-faulty.stack").write_text(json.dumps(stacks))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two runs every renderer here reads, made once for the session (conftest's
    once_per_session: each worker running one of these tests had made its own pair, ~4 CPU-s)."""
    return once_per_session(tmp_path_factory, "report-runs", _two_runs)


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
    matrix = page[page.index('id="matrix"') :]
    assert 'class="o-failed"' in matrix  # the watermark cells are red

    summary = (report / "summary.md").read_text()
    assert "promises broken" in summary
    assert f"| {data['counts']['passed']} | {len(BROKEN)} | 0 |" in summary
    assert all(f"`{case}`" in summary for case in BROKEN)

    terminal = (runs / "2-faulty.out").read_text()
    assert all(f"rule {case}" in terminal for case in BROKEN), terminal[-3000:]


def test_allure_results_are_allure_pytests_with_the_rules_described(runs: Path) -> None:
    """The run's own Allure writer (report/allure_results.py) on rule cases: what allure-pytest
    writes, plus each rule's statement and source (allure-pytest replaced the description the
    plugin gave with the test function's docstring)."""
    ours = runs / "2-faulty" / "allure-results"
    mine = results(ours)
    outcomes = json.loads((runs / "2-faulty" / "run.json").read_text())["outcomes"]
    cases = sorted(name for name in mine if "[" in name)
    assert len(cases) == len(outcomes)
    assert differences(ours, runs / "theirs") == {"description": cases}
    for outcome in outcomes:
        described = mine[outcome["test"].split("::")[-1]]["description"]
        assert described.startswith(outcome["statement"])
        assert f'Source: {outcome["source"]}: "{outcome["quote"]}"' in described
    failed = {n for n, r in mine.items() if r["status"] == "failed"}
    assert {re.sub(r"^test_\w+\[(.*)\]$", r"\1", n) for n in failed} == BROKEN
    for name in failed:
        assert mine[name]["attachments"][0]["name"] == "request and response"
    assert not list(ours.glob("*-container.json"))


def test_the_embedded_stack_is_stopped_once_the_tests_have_run(runs: Path) -> None:
    """The faulty run's stack process (its own, as a user's first run) has ended by the end of
    the session, before the reports, reaped only at unconfigure: its graceful shutdown took
    ~0.4 s of every run's tail, after the JUnit file and before the reports (stack_watch reads its
    state at the end of the session, when the plugin used to stop it only at unconfigure). Here,
    not in test_run_tail, where it cost a run and a stack process of its own.

    The run started one stack process, before pytest (mock/stack_process.EarlyStack): its session
    took that very one, and it was gone once the command returned (test_early_stack's first claim,
    asserted here on a default run, not on a run and a stack process of its own)."""
    seen = json.loads((runs / "2-faulty.stack").read_text())
    assert seen["stack"] == "Z"
    assert seen["started"] == [seen["pid"]], seen
    assert seen["gone"] == [True], seen


def test_run_json_records_filters_and_profile_identity(runs: Path) -> None:
    clean = json.loads((runs / "1-clean" / "run.json").read_text())
    faulty = json.loads((runs / "2-faulty" / "run.json").read_text())
    globs = sorted(RULES[1::2])
    assert clean["filters"]["rules"] == globs
    assert clean["filters"]["faults"] == []
    assert faulty["filters"]["faults"] == [FAULT]
    assert faulty["filters"]["fuzz"] == "full"  # auto, resolved for a free target
    assert clean["target"]["claims_hash"] == faulty["target"]["claims_hash"]  # same claims
    assert re.fullmatch(r"[0-9a-f]{12}", clean["target"]["claims_hash"])
    first = next(o for o in faulty["outcomes"] if o["outcome"] == "failed")
    assert first["message"].startswith("RuleFailure: rule ")  # the heading is kept
    assert first["quote"] in first["message"]
    assert first["source_title"].startswith("OpenAI Images Compatibility")
    assert first["expected"] == "watermark forwarded as false"  # as the wire writes it
    assert first["observed"] == "forwarded as absent"
    for o in faulty["outcomes"]:  # no Python reprs in what people read
        text = f"{o['expected'] or ''} {o['observed'] or ''}"
        assert not re.search(r"\b(True|False|None)\b|'[^']*'", text), text


def test_html_is_self_contained(runs: Path) -> None:
    page = (runs / "2-faulty" / "report.html").read_text()
    assert not re.search(r'(src|href)="(?!data:|#|contracts/)', page), "external asset referenced"
    assert "<script" not in page


def test_diff_lists_exactly_what_the_fault_broke(runs: Path, tmp_path: Path) -> None:
    forward = pixelproof_inprocess(
        "diff", str(runs / "1-clean"), str(runs / "2-faulty"), "--html", str(tmp_path / "d.html")
    )
    assert forward.returncode == 1
    section = forward.stdout.split("### Regressions")[1].split("###")[0]
    assert set(re.findall(r"`([^`]+)`", section)) == BROKEN
    assert "diff" in (tmp_path / "d.html").read_text()
    backward = pixelproof_inprocess("diff", str(runs / "2-faulty"), str(runs / "1-clean"))
    assert backward.returncode == 0
    fixed = backward.stdout.split("### Fixed")[1].split("###")[0]
    assert set(re.findall(r"`([^`]+)`", fixed)) == BROKEN


def test_diff_rejects_what_is_not_a_run(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{}")
    result = pixelproof_inprocess("diff", str(tmp_path / "x.json"), str(tmp_path / "missing"))
    assert result.returncode == 2
    assert "not a pixelproof run.json" in result.stderr


def test_history_trend_chart(runs: Path, tmp_path: Path) -> None:
    history = tmp_path / "runs"  # a copy: the runs are shared, and the chart is written beside them
    for run in ("1-clean", "2-faulty"):
        shutil.copytree(runs / run, history / run)
    result = pixelproof_inprocess("report", "--history", str(history))
    assert result.returncode == 0, result.stderr
    page = (history / "trend.html").read_text()
    assert '<svg id="trend"' in page
    series = re.findall(r'<text class="series"[^>]*><title>([^<]+)</title>', page)
    assert len(series) == 2  # a fault changes what is judged: the two runs are two lines


def test_plan_counts_before_spending() -> None:
    result = pixelproof_inprocess("plan", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["cases"] >= 300
    assert 0 < plan["probes"] < plan["cases"]  # identical requests are shared
    assert plan["images"] >= plan["probes"] // 2
    assert plan["cost_usd"] > 0  # seed 002 documents prices for the action-style models
    limited = json.loads(pixelproof_inprocess("plan", "--json", "--budget", "10").stdout)
    assert limited["images"] <= 10
    assert limited["unrun_by_budget"]


PROBE = """<script>
const r = {innerWidth: window.innerWidth, scrollWidth: document.documentElement.scrollWidth};
const first = document.querySelector(".failure");
for (const name of ["expected", "observed"]) {
  const el = first && first.querySelector("." + name);
  r[name] = el ? el.innerText : null;
  r[name + "Visible"] = !!el && el.checkVisibility() && el.getBoundingClientRect().height > 0;
}
r.text = document.body.innerText;
const out = document.createElement("pre"); out.id = "probe"; out.textContent = JSON.stringify(r);
document.body.appendChild(out);
</script></body>"""


def _chromium() -> str:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium package")
        pytest.skip("chromium not installed (CI installs it)")
    return chromium


def test_plan_prices_each_tier_at_the_documented_price() -> None:
    """Seed 002 lists a price per image per model and bills the resolution tiers independently."""
    seed = (REPO / "contracts/sources/002_b4bde4d22d76f6dc.txt").read_text()
    documented = {m: float(p) for m, p in re.findall(r"^([\w.-]+) \| \$([\d.]+) \|$", seed, re.M)}
    assert documented["gpt-image-2"] > 0
    plan = json.loads(pixelproof_inprocess("plan", "--json").stdout)
    priced = [p for p in plan["priced"] if p["surface"] == "tasks-action"]
    assert {p["tier"] for p in priced if p["model"] == "gpt-image-2"} >= {"1k", "2k", "4k"}
    for p in priced:
        assert p["usd_per_image"] == documented[p["model"]]
        assert p["cost_usd"] == round(p["images"] * documented[p["model"]], 4)
        assert p["source"].startswith("002_b4bde4d22d76f6dc.txt")
    assert plan["cost_usd"] == round(
        sum(p["images"] * p["usd_per_image"] for p in plan["priced"]), 4
    )
    assert "unified/gpt-image-2" in plan["unpriced_models"]  # no document prices the unified entry
    table = pixelproof_inprocess("plan").stdout
    assert re.search(r"^unified .* not priced$", table, re.M)


def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    """At 1400 px: the first failure's expected and observed are visible without a click, the
    page has no horizontal scrollbar, and the rule's quoted sentence is on the page."""
    from pixelproof.report.html import render_html

    chromium = _chromium()
    data = json.loads((REPO / "tests" / "data" / "run-full-faulty.json").read_text())
    page = tmp_path / "report.html"
    page.write_text(render_html(data).replace("</body>", PROBE), encoding="utf-8")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,1600"]  # fmt: skip
    shot = tmp_path / "report.png"
    # one browser for both: the DOM after the probe ran, and the page as pixels
    dom = subprocess.run([chromium, *flags, f"--screenshot={shot}", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert dom.returncode == 0, dom.stderr[-1000:]
    probe = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout, re.S)
    assert probe, dom.stdout[-2000:]
    seen = json.loads(html.unescape(probe[1]))
    assert 1300 <= seen["innerWidth"] <= 1400
    assert seen["scrollWidth"] <= seen["innerWidth"], "horizontal scrollbar at 1400 px"
    failed = [o for o in data["outcomes"] if o["outcome"] == "failed"]
    assert seen["expected"] in {o["expected"] for o in failed}
    assert seen["expectedVisible"]
    assert seen["observedVisible"]
    assert seen["observed"] in {o["observed"] for o in failed}
    for o in failed:
        assert o["quote"] in seen["text"]
    assert shot.is_file()
    assert shot.stat().st_size > 10_000
