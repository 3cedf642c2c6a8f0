"""The end-to-end parallel run: a `pixelproof run -n 2` (its command in this process, its two
workers forked from it: pixelproof.lanes) with fuzzing wired in keeps every promise, leaks no key,
sends each distinct request once, exactly as planned, and its workers still run their other exit
handlers. The same through xdist (`run -- -n 2 --dist loadgroup`: what `pytest suites -n 2`
does, its workers fresh interpreters and its scheduler schedule.py's).

Both mocks record every request that reaches them; each probe carries a nonce naming its probe
key and a per-send token. A run with `-n 2` must send every planned probe once: no probe twice
(once per worker), none left out, none unplanned. Gateway surfaces are counted at the gateway;
vendor surfaces (the vendor mock itself, judged by the vendor rules) at the vendor mock, which
also sees the gateway's forwarded calls (those keys are the gateway's, counted there).

Exactly once holds for the prompt-less requests judged by a recorder window too (they are sent
again only when the window holds a call no request of the harness explains): every request the
run sends carries X-Pixelproof-Run, the reference gateway passes it on, and fuzz anchors carry a
nonce, so fuzzing on the other worker never makes a window unclear, whatever the scheduling.

The run is a selection (SELECTION), not the whole catalogue: the mechanism under test is how the
plugin groups cases that share a request (`probe_groups`, connected components over every claimed
case, whatever the selection) and hands the groups to xdist, how a window is kept clear of the
other worker's fuzzing, and what reaches the reports. That the clean stack keeps every promise of
the whole catalogue is test_selfcheck.py's test_clean_stack_keeps_every_promise, judged in
process by the same observe-then-judge steps; a whole-catalogue child cost ~23 CPU-s of the suite.

The command runs through the same `main` in this process (conftest's pixelproof_inprocess): a
child for it cost an interpreter start and every import (~1 CPU-s), and the console entry point
of `run` is test_run_cli's Ctrl-C child. The workers are real child processes either way: how
they end is part of the test (an xdist worker skips its interpreter's teardown, quick_exit.py,
but not the exit handlers registered before pixelproof's; a forked one runs those registered in
it), which test_run_tail proved with a second `run -n 2` of its own (~2 CPU-s) until it was
asserted here.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import xdist.workermanage
import yaml

from conftest import pixelproof_inprocess, recorded
from pixelproof.catalogue import Catalogue
from pixelproof.mock.server import Stack, embedded_stack
from pixelproof.plan import cases_for, unique_probes
from pixelproof.target import embedded_profile, load_profile

SENTINEL = "pp-sentinel-key-7f3a9c2e51d04b8e"  # the stack's key: must appear in no artifact
KEY_ENV = "PP_XDIST_KEY"
RUN_ID = "xdist-plan"
# Chosen for the mechanism: requests shared by several cases on all ten surfaces, gateway and
# vendor (auth.*: one request per surface for two or three rules; on unified n.default.omitted,
# response_format.b64_json and prompt.revised share one answer, as do edits and n.edits; on the
# openai vendor surface openai.n.omitted and openai.response.*): 45 shared requests. The
# prompt-less requests judged by a recorder window (prompt.required.not-forwarded: all twelve, on
# unified), polled tasks on both task surfaces and Jimeng's, and fuzzing's negative target on
# unified beside them (its requests reach the recorder the windows read; a small budget: the
# fuzzer's full budget on the clean stack is test_fuzzing.py's).
SELECTION = ("auth.*", "n.default.omitted", "prompt.revised", "response_format.b64_json",
             "prompt.required.not-forwarded", "task.*", "jimeng.*", "openai.n.*",
             "openai.response.*", "edits.*", "n.edits.*", "fuzz.unified.createImage.*")  # fmt: skip


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with embedded_stack(time_scale=1000, api_key=SENTINEL) as running:
        yield running


def _profile(tmp_path: Path, stack: Stack, catalogue: Catalogue) -> Path:
    """The embedded profile (every surface, every model), pointed at this test's stack."""
    profile = embedded_profile(catalogue, stack.gateway.url, stack.upstream.url, KEY_ENV, 1000)
    path = tmp_path / "target.yaml"
    path.write_text(yaml.safe_dump(profile.model_dump(mode="json", exclude_none=True)))
    return path


def _sent(base_url: str, since: int) -> dict[str, list[str]]:
    """Probe key -> the per-send tokens of every request that reached this mock for it."""
    records = recorded(base_url, since=str(since))
    sent: dict[str, list[str]] = defaultdict(list)
    pattern = re.compile(rf"{RUN_ID}-([0-9a-f]{{12}})-([0-9a-f]{{6}})")
    for record in records:
        text = json.dumps([record["path"], record["json"], record["form"]])
        for key, token in set(pattern.findall(text)):
            sent[key].append(token)
    return dict(sent)


def _last_seq(base_url: str) -> int:
    return int(httpx.get(f"{base_url}/__pixelproof/requests?limit=1").json()["last_seq"])


@pytest.mark.parametrize("workers", [["-n", "2"], ["--", "-n", "2", "--dist", "loadgroup"]],
                         ids=["forked", "xdist"])  # fmt: skip
def test_clean_run_keeps_every_promise_sends_each_planned_request_once_and_leaks_no_key(
    tmp_path: Path,
    stack: Stack,
    catalogue: Catalogue,
    monkeypatch: pytest.MonkeyPatch,
    workers: list[str],
) -> None:
    profile_path = _profile(tmp_path, stack, catalogue)
    monkeypatch.setenv(KEY_ENV, SENTINEL)  # the workers' and load_profile's
    marks = tmp_path / "exit-marks"  # atexit_probe: one file per worker whose handler ran
    marks.mkdir()
    monkeypatch.setenv("PP_ATEXIT_PROBE_DIR", str(marks))
    monkeypatch.setenv("PP_ATEXIT_PROBE_PARENT", str(os.getpid()))  # the controller: no handler
    # a local worker's sys.path is xdist's copy of the controller's, taken when xdist was imported
    # (before pytest put tests/ on this session's): the workers find the probe in tests/ through it
    tests = str(Path(__file__).parent)
    monkeypatch.setattr(xdist.workermanage, "_sys_path", [tests, *xdist.workermanage._sys_path])
    since = {url: _last_seq(url) for url in (stack.gateway.url, stack.upstream.url)}
    rules = [arg for glob in SELECTION for arg in ("--rules", glob)]
    after = ["-p", "atexit_probe"] if "--" in workers else ["--", "-p", "atexit_probe"]
    done = pixelproof_inprocess("run", "--target", str(profile_path), *rules,
                                "--fuzz", "negative", "--fuzz-budget", "8", "--report-dir", str(tmp_path),
                                "--run-id", RUN_ID, *workers, *after)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    # each worker skipped its interpreter's teardown, yet ran the exit handler registered before
    assert sorted(p.name.split(".")[0] for p in marks.iterdir()) == ["gw0", "gw1"]
    report = tmp_path / RUN_ID
    data = json.loads((report / "run.json").read_text())
    assert data["counts"]["failed"] == 0
    assert data["counts"]["error"] == 0
    assert data["counts"]["skipped"] == 0, "nothing may skip against the embedded stack"
    headline = (report / "summary.md").read_text().splitlines()[0]
    assert headline.endswith("— all documented promises kept"), headline
    selected = [c for c in cases_for(catalogue, load_profile(profile_path, catalogue))
                if c.claimed and any(fnmatch.fnmatchcase(i, g) for g in SELECTION for i in (c.rule.id, c.id))]  # fmt: skip
    outcomes = [o for o in data["outcomes"] if o["outcome"] != "not-claimed"]
    judged = {o["case"]: o["outcome"] for o in outcomes if o["kind"] != "fuzz"}
    assert judged == {c.id: "passed" for c in selected}, "every selected case, and only those"
    fuzzed = [o["outcome"] for o in outcomes if o["kind"] == "fuzz"]
    assert fuzzed, "fuzzing ran"
    assert set(fuzzed) == {"passed"}
    suite = ET.parse(report / "junit.xml").getroot()
    cases = [tc for tc in suite.iter("testcase") if tc.get("name") != "test_waivers_not_expired"]
    assert len(cases) == len(data["outcomes"])
    # the workers end without tearing their interpreters down (plugin._exit_at_once): each wrote
    # every allure file of its tests before that
    results = list((report / "allure-results").glob("*-result.json"))
    assert len(results) == len(list(suite.iter("testcase")))
    for path in report.rglob("*"):
        if path.is_file():
            assert SENTINEL not in path.read_text(errors="replace"), f"the key leaked into {path}"
    assert SENTINEL not in done.stdout + done.stderr

    plan = pixelproof_inprocess("plan", "--target", str(profile_path), "--json")
    assert plan.returncode == 0, plan.stderr
    everything = cases_for(catalogue, load_profile(profile_path, catalogue))
    assert json.loads(plan.stdout)["probes"] == len(unique_probes(everything))
    planned = unique_probes(selected)
    tagged = {k: p for k, p in planned.items() if "{nonce}" in p.path + p.body + repr(p.form)}
    at_gateway = {k for k, p in tagged.items() if catalogue.surfaces[p.surface].role == "gateway"}
    at_vendor = set(tagged) - at_gateway
    assert at_gateway
    assert at_vendor
    gateway = _sent(stack.gateway.url, since[stack.gateway.url])
    vendor = _sent(stack.upstream.url, since[stack.upstream.url])
    assert sorted(gateway) == sorted(at_gateway), "the requests sent are the requests planned"
    assert {k: t for k, t in gateway.items() if len(t) != 1} == {}, "a request was sent twice"
    assert sorted(set(vendor) - at_gateway) == sorted(at_vendor), "vendor requests as planned"
    assert {k: t for k, t in vendor.items() if k in at_vendor and len(t) != 1} == {}
