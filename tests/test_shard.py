"""Sharding (`pixelproof run --shard K/N`) and merging (`pixelproof merge`): the merged shards are
the unsharded run: the same outcomes, the same requests sent, the same exit code."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from conftest import pixelproof_inprocess
from pixelproof.catalogue import default_catalogue
from pixelproof.mock.faults import FAULT_HEADER
from pixelproof.mock.server import embedded_stack
from pixelproof.plan import cases_for
from pixelproof.shard import ShardError, assign, parse_shard, request_groups
from pixelproof.target import embedded_profile

KEY_ENV, KEY = "PP_SHARD_KEY", "pp-shard-key-0123456789"
# A selection narrow enough to run four times, chosen for the mechanism: request groups shared by
# several cases on every surface, gateway and vendor (auth.missing / auth.wrong: two or three
# cases a surface share one request), on unified several rules sharing one answer (n.default.omitted,
# response_format.b64_json and prompt.revised; size and fallback; edits and n.edits) and on the
# openai vendor surface (openai.n.omitted with openai.response.*): 40 shared groups over ten
# surfaces. Plus a fault so the run has a broken promise: watermark.false.*, the three cases it
# breaks (the rest of watermark.*, six Seedream generations sharing nothing, only cost ~0.2
# CPU-s a run). No fuzz target (they are selected by `fuzz.*` rule ids, which this selection,
# like the one before it, leaves out) and no polled task lifecycle: how many polls a task takes depends on timing, so only these request
# counts are exact (auth probes on the task surfaces are refused at creation: nothing to poll).
SELECTION = ("--rules", "auth.*", "--rules", "n.default.omitted", "--rules", "prompt.revised",
             "--rules", "response_format.b64_json", "--rules", "watermark.false.*",
             "--rules", "fallback.gpt-image-2.*", "--rules", "size.gpt-image-2.16:9",
             "--rules", "size.gpt-image-2.9:16", "--rules", "openai.n.*", "--rules", "openai.response.*",
             "--rules", "edits.*", "--rules", "n.edits.*", "--fuzz", "off")  # fmt: skip


@pytest.fixture(scope="module")
def faulty_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One embedded stack for the four runs (not one stack process each), the fault by header."""
    with embedded_stack(time_scale=1000, api_key=KEY) as stack:
        profile = embedded_profile(default_catalogue(), stack.gateway.url, stack.upstream.url,
                                   KEY_ENV, 1000)  # fmt: skip
        profile = profile.model_copy(update={"headers": {FAULT_HEADER: "watermark-false-dropped"}})
        path = tmp_path_factory.mktemp("shard") / "target.yaml"
        path.write_text(yaml.safe_dump(profile.model_dump(mode="json", exclude_none=True)))
        yield str(path)


def inprocess(*args: str) -> subprocess.CompletedProcess[str]:
    """``pixelproof ARGS`` in this process, the key's variable set for the call (every run here:
    the console entry point is covered by test_cli_rules and test_run_cli)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv(KEY_ENV, KEY)
        return pixelproof_inprocess(*args)


def _items() -> list[Any]:
    """The embedded plan's cases dressed as collected items (what the plugin hands to select)."""
    catalogue = default_catalogue()
    profile = embedded_profile(catalogue, "http://127.0.0.1:1", "http://127.0.0.1:2", "K", 1000)
    return [
        SimpleNamespace(nodeid=f"t[{c.id}]", callspec=SimpleNamespace(params={"case": c}))
        for c in cases_for(catalogue, profile)
    ]


def test_shards_never_share_a_request_and_cover_every_case() -> None:
    items = _items()
    shards = assign(items, 3)
    keys = [{p.key for it in shard for p in it.callspec.params["case"].probes} for shard in shards]
    assert not keys[0] & keys[1]
    assert not keys[0] & keys[2]
    assert not keys[1] & keys[2]
    assert sorted(it.nodeid for s in shards for it in s) == sorted(it.nodeid for it in items)
    sizes = [len(k) for k in keys]
    assert max(sizes) - min(sizes) <= max(len(g) for g in request_groups(items))  # balanced
    reordered = assign(list(reversed(items)), 3)  # the split does not depend on collection order
    assert [{it.nodeid for it in s} for s in reordered] == [{it.nodeid for it in s} for s in shards]
    again = assign(_items(), 3)  # another runner's collection: the same split
    assert [[it.nodeid for it in s] for s in again] == [[it.nodeid for it in s] for s in shards]


def test_cases_sharing_a_request_form_one_group() -> None:
    groups = request_groups(_items())
    shared = [g for g in groups if len(g) > 1]
    assert shared, "the embedded plan has cases that share a request"
    n_default = next(g for g in shared if any("n.default" in it.nodeid for it in g))
    probes = [{p.key for p in it.callspec.params["case"].probes} for it in n_default]
    assert all(any(a & b for b in probes if b is not a) for a in probes)


@pytest.mark.parametrize("text", ["0/3", "4/3", "3", "a/b", "1/0", ""])
def test_bad_shard_values_are_refused(text: str) -> None:
    with pytest.raises(ShardError):
        parse_shard(text)


def test_bad_shard_on_the_command_line_exits_2(tmp_path: Path) -> None:
    result = pixelproof_inprocess("run", "--shard", "4/3", "--report-dir", str(tmp_path))
    assert result.returncode == 2
    assert "--shard 4/3" in result.stderr


def _outcomes(run: dict[str, Any]) -> dict[str, str]:
    return {o["test"]: o["outcome"] for o in run["outcomes"]}


def test_three_merged_shards_equal_the_unsharded_run(tmp_path: Path, faulty_target: str) -> None:
    selection = ("--target", faulty_target, *SELECTION)
    full = inprocess("run", *selection, "--report-dir", str(tmp_path), "--run-id", "full")
    assert full.returncode == 1, full.stdout[-2000:] + full.stderr[-2000:]
    for k in (1, 2, 3):
        shard = inprocess("run", *selection, "--shard", f"{k}/3", "--report-dir", str(tmp_path),
                          "--run-id", f"shard{k}")  # fmt: skip
        assert shard.returncode in (0, 1), shard.stdout[-2000:] + shard.stderr[-2000:]
    dirs = [str(tmp_path / f"shard{k}") for k in (1, 2, 3)]
    merged = pixelproof_inprocess("merge", *dirs, "--out", str(tmp_path / "merged"))
    assert merged.returncode == full.returncode, merged.stderr
    one = json.loads((tmp_path / "full" / "run.json").read_text())
    got = json.loads((tmp_path / "merged" / "run.json").read_text())
    assert _outcomes(got) == _outcomes(one)
    assert got["requests_sent"] == one["requests_sent"]
    assert got["images_bought"] == one["images_bought"]
    assert got["counts"] == one["counts"]
    assert got["counts"]["failed"] >= 1
    shards = [json.loads((tmp_path / f"shard{k}" / "run.json").read_text()) for k in (1, 2, 3)]
    assert all(s["outcomes"] for s in shards), "every shard judged something"
    suite = ET.parse(tmp_path / "merged" / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    whole = ET.parse(tmp_path / "full" / "junit.xml").getroot().find("testsuite")
    assert whole is not None
    for counter in ("tests", "failures", "errors", "skipped"):
        assert suite.get(counter) == whole.get(counter), counter
    assert "watermark.false" in (tmp_path / "merged" / "summary.md").read_text()
    assert "watermark.false" in (tmp_path / "merged" / "report.html").read_text()
    allure = list((tmp_path / "merged" / "allure-results").glob("*-result.json"))
    assert len(allure) == len(list((tmp_path / "full" / "allure-results").glob("*-result.json")))

    # a missing shard is named, the partial report still written, and never "kept"
    partial = pixelproof_inprocess("merge", *dirs[:2], "--out", str(tmp_path / "partial"))
    assert partial.returncode == 2
    assert "missing shard(s) 3/3" in partial.stderr
    assert (tmp_path / "partial" / "report.html").is_file()
    repeated = pixelproof_inprocess(
        "merge", dirs[0], dirs[0], dirs[1], dirs[2], "--out", str(tmp_path / "rep")
    )
    assert repeated.returncode == 2
    assert "shard 1/3 given twice" in repeated.stderr
    stray = pixelproof_inprocess(
        "merge", *dirs, str(tmp_path / "nothing-here"), "--out", str(tmp_path / "s")
    )
    assert stray.returncode == 2
    assert "nothing-here: no run.json" in stray.stderr


@pytest.mark.parametrize(
    ("key", "text", "exit_code"),
    [
        ("interrupted", "interrupted after 2 of 9 cases (exit 130): not a verdict", 130),
        (
            "stopped_early",
            "stopped early (a plugin's shouldstop): 2 of 9 cases run, the rest not",
            0,
        ),
    ],
)
def test_a_merge_of_a_shard_that_did_not_reach_its_end_never_says_kept(
    tmp_path: Path, key: str, text: str, exit_code: int
) -> None:
    """The other shards kept every promise: the merged headline still says the run is incomplete
    (it said "all documented promises kept" over an interrupted shard, exiting 130)."""
    from pixelproof.report.merge import merge_runs
    from pixelproof.report.summary import render_markdown

    def shard(k: int, **more: Any) -> dict[str, Any]:
        outcome = {"test": f"t{k}", "case": f"c{k}", "outcome": "passed", "surface": "unified",
                   "levels": ["unified-gateway"]}  # fmt: skip
        return {"run_id": f"s{k}", "shard": f"{k}/2", "target": {"name": "t"}, "outcomes": [outcome],
                "counts": {"passed": 1}, "exit_code": 0, "run_exit_code": 0, **more}  # fmt: skip

    short = {key: {"after": 2, "of": 9, "text": text}, "run_exit_code": exit_code}
    merged = merge_runs([shard(1), shard(2, **short)], "m")
    assert not merged.problems
    headline = render_markdown(merged.data).splitlines()[0]
    assert f"shard 2/2: {text}" in headline, headline
    assert "kept" not in headline
    assert "Per level, " + key.replace("_", " ") + ":" in render_markdown(merged.data)


def test_a_merge_of_unreadable_shards_names_each_and_still_writes_its_report(
    tmp_path: Path,
) -> None:
    """A run.json that is not JSON, not a pixelproof run, or lacks its target: each named, exit
    2, the (empty) merged report written; it ended in a traceback and exit 1 ("broken")."""
    bodies: dict[str, bytes] = {
        "not-json": b"{not json",
        "a-list": b"[]",
        "no-schema": b'{"outcomes": [], "target": {}}',
        "not-utf8": b'{"schema": "pixelproof.cli.runner/1", "x": "\xff\xfe"}',
        "odd-outcomes": b'{"schema": "pixelproof.cli.runner/1", "outcomes": [1], "target": {},'
        b' "exit_code": 0}',
        "no-exit-code": b'{"schema": "pixelproof.cli.runner/1", "outcomes": [], "target": {},'
        b' "exit_code": null}',
    }
    for name, body in bodies.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "run.json").write_bytes(body)
    done = pixelproof_inprocess("merge", *(str(tmp_path / n) for n in bodies),
                                "--out", str(tmp_path / "merged"))  # fmt: skip
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stdout + done.stderr
    assert "not-json/run.json: not valid JSON" in done.stderr
    assert "a-list/run.json: not a pixelproof run.json" in done.stderr
    assert "no-schema/run.json: not a pixelproof run.json" in done.stderr
    assert "not-utf8/run.json: not valid JSON" in done.stderr
    assert "odd-outcomes/run.json: not a pixelproof run.json" in done.stderr
    assert "no-exit-code/run.json: not a pixelproof run.json" in done.stderr
    summary = (tmp_path / "merged" / "summary.md").read_text()
    assert "not a verdict" in summary.splitlines()[0]
    assert (tmp_path / "merged" / "report.html").is_file()


def test_a_merge_missing_a_shard_never_says_kept(tmp_path: Path) -> None:
    """One shard kept every promise, the other is unreadable: exit 2 and a headline saying the
    merge is incomplete (it said "all documented promises kept")."""
    good = {"schema": "pixelproof.cli.runner/1", "run_id": "s1", "shard": "1/2",
            "target": {"name": "t"}, "counts": {"passed": 1}, "exit_code": 0, "run_exit_code": 0,
            "outcomes": [{"test": "t1", "case": "c1", "outcome": "passed"}]}  # fmt: skip
    (tmp_path / "s1").mkdir()
    (tmp_path / "s1" / "run.json").write_text(json.dumps(good))
    (tmp_path / "s2").mkdir()
    (tmp_path / "s2" / "run.json").write_text("{broken")
    done = pixelproof_inprocess("merge", str(tmp_path / "s1"), str(tmp_path / "s2"),
                                "--out", str(tmp_path / "m"))  # fmt: skip
    assert done.returncode == 2, done.stderr
    headline = (tmp_path / "m" / "summary.md").read_text().splitlines()[0]
    assert "merge incomplete:" in headline
    assert "kept" not in headline
    assert "merge incomplete:" in (tmp_path / "m" / "report.html").read_text()
