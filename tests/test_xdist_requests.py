"""The end-to-end clean run: every rule of the embedded profile, through xdist, with fuzzing wired
in, keeps every promise, leaks no key, and sends each distinct request once, exactly what `plan`
lists (one run proves both: it is the suite's most expensive subprocess).

Both mocks record every request that reaches them; each probe carries a nonce naming its probe
key and a per-send token. A run with `-n 2` must send every planned probe once: no probe twice
(once per worker), none left out, none unplanned. Gateway surfaces are counted at the gateway;
vendor surfaces (the vendor mock itself, judged by the vendor rules) at the vendor mock, which
also sees the gateway's forwarded calls (those keys are the gateway's, counted there).

Exactly once holds for the prompt-less requests judged by a recorder window too (they are sent
again only when the window holds a call no request of the harness explains): every request the
run sends carries X-Pixelproof-Run, the reference gateway passes it on, and fuzz anchors carry a
nonce, so fuzzing on the other worker never makes a window unclear, whatever the scheduling.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from conftest import pixelproof_inprocess, recorded
from pixelproof.catalogue import Catalogue
from pixelproof.mock.server import Stack, embedded_stack
from pixelproof.plan import cases_for, unique_probes
from pixelproof.target import embedded_profile, load_profile

REPO = Path(__file__).resolve().parents[1]
SENTINEL = "pp-sentinel-key-7f3a9c2e51d04b8e"  # the stack's key: must appear in no artifact
KEY_ENV = "PP_XDIST_KEY"
RUN_ID = "xdist-plan"


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


def test_clean_run_keeps_every_promise_sends_each_planned_request_once_and_leaks_no_key(
    tmp_path: Path, stack: Stack, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile_path = _profile(tmp_path, stack, catalogue)
    env = {**os.environ, KEY_ENV: SENTINEL}
    since = {url: _last_seq(url) for url in (stack.gateway.url, stack.upstream.url)}
    # the fuzzer's full budget on the clean stack is test_fuzzing.py's own test: a small one here
    done = subprocess.run(
        [sys.executable, "-m", "pixelproof.cli", "run", "--target", str(profile_path), "-n", "2",
         "--fuzz", "negative", "--fuzz-budget", "60", "--report-dir", str(tmp_path),
         "--run-id", RUN_ID],
        capture_output=True, text=True, timeout=600, check=False, cwd=REPO, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    report = tmp_path / RUN_ID
    data = json.loads((report / "run.json").read_text())
    assert data["counts"]["failed"] == 0
    assert data["counts"]["error"] == 0
    assert data["counts"]["passed"] >= 300
    assert data["counts"]["skipped"] == 0, "nothing may skip against the embedded stack"
    assert any(o["kind"] == "fuzz" for o in data["outcomes"]), "fuzzing ran"
    suite = ET.parse(report / "junit.xml").getroot()
    assert int(suite.find("testsuite").get("tests")) >= 300  # type: ignore[union-attr]
    for path in report.rglob("*"):
        if path.is_file():
            assert SENTINEL not in path.read_text(errors="replace"), f"the key leaked into {path}"
    assert SENTINEL not in done.stdout + done.stderr

    monkeypatch.setenv(KEY_ENV, SENTINEL)
    plan = pixelproof_inprocess("plan", "--target", str(profile_path), "--json")  # the run: a child
    assert plan.returncode == 0, plan.stderr
    planned = unique_probes(cases_for(catalogue, load_profile(profile_path, catalogue)))
    assert json.loads(plan.stdout)["probes"] == len(planned)
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
