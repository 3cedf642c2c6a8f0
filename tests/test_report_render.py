"""Renderers judged from checked-in run.json files of real runs (tests/data/): summary.md,
report.html, diff and trend say why, count the same way, and never mix runs that differ.

run-full-faulty.json: `pixelproof run -n auto --fault no-ratio-intent --fault watermark-false-dropped`
run-filtered-clean.json: `pixelproof run --rules 'watermark.*' --rules 'n.*'`
(passed outcomes trimmed of their statement and source text to keep the files small).
"""

from __future__ import annotations

import copy
import html
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pixelproof.report.diff import diff_runs
from pixelproof.report.diff import render_html as diff_html
from pixelproof.report.diff import render_markdown as diff_md
from pixelproof.report.html import render_html
from pixelproof.report.summary import render_markdown
from pixelproof.report.trend import lines, render_svg

DATA = Path(__file__).parent / "data"


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@pytest.fixture
def full() -> dict[str, Any]:
    return load("run-full-faulty.json")


@pytest.fixture
def filtered() -> dict[str, Any]:
    return load("run-filtered-clean.json")


def failed(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [o for o in data["outcomes"] if o["outcome"] == "failed"]


def test_summary_says_why_each_case_failed(full: dict[str, Any]) -> None:
    summary = render_markdown(full)
    for o in failed(full):
        line = next(x for x in summary.splitlines() if f"`{o['case']}`" in x and x.startswith("- "))
        assert f"§ {o['section']}" in line
        assert f"expected {o['expected'][:60]}" in line
        assert f"observed {o['observed'][:60]}" in line


def test_summary_groups_failures_by_behaviour(full: dict[str, Any]) -> None:
    rows = [x for x in render_markdown(full).splitlines() if x.startswith("| failed |")]
    by_kind = Counter(o["kind"] for o in failed(full))
    assert len(rows) == len(by_kind)  # each fault breaks one behaviour
    for kind, count in by_kind.items():
        row = next(r for r in rows if f"| {kind}: " in r)
        assert row.endswith(f"| {count} |")
        models = {o["model"] for o in failed(full) if o["kind"] == kind}
        assert all(m in row for m in models)
        title = next(o["source_title"] for o in failed(full) if o["kind"] == kind)
        assert title in row  # the document's title, not its hash file name


def test_summary_truncates_long_text_and_says_so(full: dict[str, Any]) -> None:
    case = failed(full)[0]
    case["observed"] = "x" * 5000
    line = next(x for x in render_markdown(full).splitlines() if f"`{case['case']}`" in x)
    assert len(line) < 600
    assert "chars)" in line


def test_summary_names_the_filters_of_a_filtered_run(filtered: dict[str, Any]) -> None:
    summary = render_markdown(filtered)
    assert "Run options: --rules: n.*, watermark.*" in summary


def _text(page: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def test_html_failures_first_with_source_title_section_and_quote(full: dict[str, Any]) -> None:
    page = render_html(full)
    assert page.index('id="failures"') < page.index('id="matrix"')
    for o in failed(full):
        assert o["source_title"] in page
        assert f"“{o['quote']}”" in _text(page)
    assert "000_489656cc9a685791.txt" not in _text(
        page.split('id="failures"')[1].split("<details")[0]
    )


def test_html_counts_cases_and_rules_consistently(full: dict[str, Any]) -> None:
    page = render_html(full)
    text = _text(page)
    cases = len(full["outcomes"])
    rules = len({o["rule"] for o in full["outcomes"] if o["kind"] != "fuzz"})
    rule_cases = sum(o["kind"] != "fuzz" for o in full["outcomes"])
    catalogue = full["contracts"]["rules"]
    assert (
        f"{cases} cases: {rule_cases} rule × model cases from {rules} of the catalogue's {catalogue} rules"
        in text
    )
    kept = judged = 0
    surfaces = _text(page.split('id="scores"')[1].split("</div></div>")[0])
    for match in re.finditer(r"(\d+) of (\d+) cases kept", surfaces):
        kept, judged = kept + int(match[1]), judged + int(match[2])
    assert judged == sum(full["counts"][o] for o in ("passed", "failed", "error", "fixed"))
    assert kept == full["counts"]["passed"]
    assert "rules kept" not in text


def test_html_escapes_what_the_target_sent(full: dict[str, Any]) -> None:
    case = failed(full)[0]
    case["observed"] = "<script>alert(1)</script>"
    page = render_html(full)
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)" in page


def test_html_shows_a_score_per_level_when_rules_carry_levels(full: dict[str, Any]) -> None:
    for o in full["outcomes"]:
        o.pop("levels", None)
    assert 'id="levels"' not in render_html(full)
    for o in full["outcomes"]:
        o["levels"] = (
            ["openai-images", "unified-gateway"] if o["surface"] == "unified" else ["vendor"]
        )
    text = _text(render_html(full))
    unified = [o for o in full["outcomes"] if o["surface"] == "unified"]
    kept = sum(o["outcome"] == "passed" for o in unified)
    assert (
        f"openai-images {100 * kept / len(unified):.1f}% {kept} of {len(unified)} cases kept"
        in text
    )


def test_matrix_puts_failing_kinds_and_models_first(full: dict[str, Any]) -> None:
    page = render_html(full)
    unified = page.split('id="matrix"')[1].split("<h3>unified</h3>")[1].split("</table>")[0]
    kinds = re.findall(r'<td class="kind">([^<]+)</td>', unified)
    models = re.findall(r"<th>([^<]+)</th>", unified)
    bad_kinds = {o["kind"] for o in failed(full) if o["surface"] == "unified"}
    bad_models = {o["model"] for o in failed(full) if o["surface"] == "unified"}
    assert set(kinds[: len(bad_kinds)]) == bad_kinds
    assert set(models[: len(bad_models)]) == bad_models


def test_diff_of_a_full_and_a_filtered_run_says_so_first(
    full: dict[str, Any], filtered: dict[str, Any]
) -> None:
    result = diff_runs(full, filtered)
    text = diff_md(result)
    first = text.split("\n\n")[1]
    assert "These runs differ" in first
    assert "--rules: none → n.*, watermark.*" in first
    common = {o["case"] for o in full["outcomes"]} & {o["case"] for o in filtered["outcomes"]}
    assert f"Only the {len(common)} cases judged in both are compared" in first
    assert "Vanished" not in text
    assert "New cases" not in text
    fixed = set(re.findall(r"`([^`]+)`", text.split("### Fixed")[1]))
    assert fixed == {o["case"] for o in failed(full)} & common
    page = diff_html(result)
    assert "<pre" not in page
    assert "These runs differ" in page
    assert page.count("<tr>") == len(fixed) + 1  # a real table: header + one row per case


def test_diff_names_an_interrupted_run_first(full: dict[str, Any]) -> None:
    stopped = {**copy.deepcopy(full), "run_id": "stopped"}
    stopped["interrupted"] = {"text": "interrupted after 3 of 350 cases"}
    stopped["outcomes"] = stopped["outcomes"][:3]
    text = diff_md(diff_runs(full, stopped))
    assert "stopped: interrupted after 3 of 350 cases" in text.split("\n\n")[1]
    assert "Vanished" not in text


def test_diff_of_alike_runs_lists_new_and_vanished_cases(full: dict[str, Any]) -> None:
    later = copy.deepcopy(full)
    gone = later["outcomes"].pop()
    text = diff_md(diff_runs(full, later))
    assert "These runs differ" not in text
    assert f"`{gone['case']}`" in text.split("### Vanished cases")[1]


def test_diff_of_runs_under_other_image_budgets_says_so_and_judges_no_skip(
    full: dict[str, Any],
) -> None:
    """The same cases planned, fewer bought: a case the smaller budget left unrun is skipped,
    listed as a change, never as a regression or a fix; the budgets are said before the lists."""
    capped = {**copy.deepcopy(full), "run_id": "capped"}
    capped["filters"] = {**full["filters"], "budget": 50}
    unrun = [o for o in capped["outcomes"] if o["outcome"] in ("passed", "failed")][-3:]
    for o in unrun:
        o["outcome"] = "skipped"
    result = diff_runs(full, capped)
    assert result.comparable  # the same cases: still compared as alike runs
    assert {o["case"] for o in result.changed} == {o["case"] for o in unrun}
    assert not result.regressions
    assert not result.new_errors
    assert not {o["case"] for o in result.fixes} & {o["case"] for o in unrun}
    text = diff_md(result)
    assert text.split("\n\n")[1] == (
        "Image budget: no limit → 50 images. A case a budget left unrun is skipped, not judged: "
        "it is listed under Other changes."
    )
    assert "Image budget: no limit → 50 images" in _text(diff_html(result))
    assert "Image budget" not in diff_md(diff_runs(full, copy.deepcopy(full)))
    older = {k: v for k, v in full.items() if k != "filters"}  # filters unrecorded: no claim
    assert "Image budget" not in diff_md(diff_runs(older, capped))


def _run(base: dict[str, Any], run_id: str, started: str, **target: Any) -> dict[str, Any]:
    run = copy.deepcopy(base)
    run["run_id"], run["started"] = run_id, started
    run["target"].update(target)
    return run


def test_trend_draws_one_line_per_profile_and_filter_set(
    full: dict[str, Any], filtered: dict[str, Any]
) -> None:
    other = {"name": "staging gateway", "claims_hash": "0123456789ab"}
    runs = [
        _run(full, "a1", "2026-01-01"), _run(full, "b1", "2026-01-02", **other),
        _run(filtered, "f1", "2026-01-03"), _run(full, "a2", "2026-01-04"),
        _run(full, "b2", "2026-01-05", **other), _run(filtered, "f2", "2026-01-06"),
    ]  # fmt: skip
    drawn = lines(runs)
    assert sorted([i for i, _, _ in line.points] for line in drawn) == [[0, 3], [1, 4], [2, 5]]
    svg = render_svg(runs)
    assert svg.count("<polyline") == 3
    legend = re.findall(r'<text class="series"[^>]*><title>([^<]+)</title>', svg)
    assert len(set(legend)) == 3
    assert any(label.startswith("staging gateway") for label in legend)
    assert any(label.endswith("--rules: n.*, watermark.*") for label in legend)
    assert re.search(r"<title>a2: \d+\.\d% kept \(passed \d+, failed \d+", svg)


def test_trend_x_axis_stays_readable_past_eight_runs(full: dict[str, Any]) -> None:
    runs = [_run(full, f"run-{i:02d}", f"2026-01-{i + 1:02d}") for i in range(30)]
    svg = render_svg(runs)
    labels = re.findall(r"rotate\(-30[^>]*>(run-\d+)</text>", svg)
    assert 2 <= len(labels) <= 9
    assert labels[-1] == "run-29"
    assert len(re.findall(r"<circle[^>]*><title>run-", svg)) == 30  # every run keeps its tooltip


def test_results_keep_the_whole_failure_message() -> None:
    """A long fuzz finding keeps its heading (run.json used to keep only the last 4000 chars)."""
    from types import SimpleNamespace

    from pixelproof.report.results import Results

    message = "FuzzFinding: POST /v1/images/generations answered 500\n" + "x" * 9000
    report = SimpleNamespace(nodeid="t", when="call", passed=False, failed=True, skipped=False,
                             longrepr=message, duration=0.1, user_properties=[("rule", "r")])  # fmt: skip
    results = Results()
    results.add(report)
    assert results.outcomes["t"].message == message


def test_values_read_as_the_wire_writes_them() -> None:
    from pixelproof.judging.failures import literal

    assert [literal(v) for v in (False, True, None, 0, "1536x1024", "absent")] == [
        "false",
        "true",
        "null",
        "0",
        '"1536x1024"',
        "absent",
    ]
    assert literal(b'{"a": 1}') == '"{\\"a\\": 1}"'


def test_history_skips_usage_errors_and_unreadable_runs(
    full: dict[str, Any], tmp_path: Path
) -> None:
    from pixelproof.report.trend import load_history

    for name, run in (("b-ok", full), ("a-usage", {**full, "exit_code": 2, "outcomes": []})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "run.json").write_text(json.dumps(run))
    stopped = {
        **full,
        "run_id": "d-stopped",
        "interrupted": {"text": "interrupted after 3 of 350 cases"},
    }
    (tmp_path / "d-stopped").mkdir()
    (tmp_path / "d-stopped" / "run.json").write_text(json.dumps(stopped))
    (tmp_path / "c-broken").mkdir()
    (tmp_path / "c-broken" / "run.json").write_text("{not json")
    runs, skipped = load_history(tmp_path)
    assert [r["run_id"] for r in runs] == [full["run_id"]]
    assert len(skipped) == 3
    assert any("a-usage" in s and "judged nothing" in s for s in skipped)
    assert any("interrupted after 3 of 350 cases" in s for s in skipped)


def test_terminal_summary_groups_broken_promises_with_why(full: dict[str, Any]) -> None:
    from types import SimpleNamespace

    from pixelproof.report.results import Outcome, Results
    from pixelproof.report.summary import render_terminal

    results = Results()
    for o in full["outcomes"]:
        results.outcomes[o["case"]] = Outcome(o["case"], o["outcome"], o, o.get("message") or "")
    lines = render_terminal(results, SimpleNamespace(name="embedded"))  # type: ignore[arg-type]
    by_kind = Counter(o["kind"] for o in failed(full))
    assert f"broken promises: {len(by_kind)} behaviours, {sum(by_kind.values())} cases" in lines
    for kind, count in by_kind.items():
        head = next(i for i, line in enumerate(lines) if line.startswith(f"  {kind} × {count}"))
        first = next(o for o in failed(full) if o["kind"] == kind)
        assert lines[head + 1].strip().startswith("expected: ")
        assert lines[head + 2].strip().startswith("observed: ")
        assert f"    - {first['case']}" in lines


def test_claims_hash_follows_claims_not_addresses(catalogue: Any) -> None:
    from pixelproof.report.runjson import claims_hash, profile_claims
    from pixelproof.target import embedded_profile

    def profile(port: int) -> Any:
        url = f"http://127.0.0.1:{port}"
        return embedded_profile(catalogue, url, url, "PIXELPROOF_EMBEDDED_KEY", 1000)

    one, two = profile(8001), profile(9002)
    assert claims_hash(profile_claims(one)) == claims_hash(profile_claims(two))
    claim = two.surfaces["unified"]
    fewer = claim.model_copy(update={"models": claim.models[1:]})
    narrowed = two.model_copy(update={"surfaces": {**two.surfaces, "unified": fewer}})
    assert claims_hash(profile_claims(narrowed)) != claims_hash(profile_claims(one))
