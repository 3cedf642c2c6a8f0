"""With workers, each distinct request is still sent once per run, and exactly what `plan` lists.

The gateway mock records every request that reaches it; each probe carries a nonce naming its
probe key and a per-send token. A run with `-n 2` against a profile must send every planned
probe once: no probe twice (once per worker), none left out, none unplanned.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from conftest import recorded
from pixelproof.catalogue import Catalogue
from pixelproof.mock.server import Stack, embedded_stack
from pixelproof.plan import cases_for, unique_probes
from pixelproof.target import load_profile

REPO = Path(__file__).resolve().parents[1]
KEY = "pp-xdist-key-0123456789"
RUN_ID = "xdist-plan"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with embedded_stack(time_scale=1000, api_key=KEY) as running:
        yield running


def _profile(tmp_path: Path, stack: Stack) -> Path:
    gw = stack.gateway.url
    path = tmp_path / "target.yaml"
    path.write_text(yaml.safe_dump({
        "name": "xdist target", "time_scale": 1000, "timeout_s": 30,
        "surfaces": {
            "unified": {"base_url": gw, "models": ["gpt-image-2", "doubao-seedream-4-0-250828"]},
            "tasks-action": {"base_url": gw + "/action", "models": ["gpt-image-2"]},
            "tasks-official": {"base_url": gw + "/official", "models": ["gpt_image_2_official"]},
        },
        "credentials": {"env": "PP_XDIST_KEY"}, "recorder": stack.upstream.url,
    }))  # fmt: skip
    return path


def _sent(stack: Stack, since: int) -> dict[str, list[str]]:
    """Probe key -> the per-send tokens of every request that reached the gateway for it."""
    records = recorded(stack.gateway.url, since=str(since))
    sent: dict[str, list[str]] = defaultdict(list)
    pattern = re.compile(rf"{RUN_ID}-([0-9a-f]{{12}})-([0-9a-f]{{6}})")
    for record in records:
        text = json.dumps([record["path"], record["json"], record["form"]])
        for key, token in set(pattern.findall(text)):
            sent[key].append(token)
    return dict(sent)


def test_two_workers_send_exactly_the_planned_requests_once(
    tmp_path: Path, stack: Stack, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile_path = _profile(tmp_path, stack)
    env = {**os.environ, "PP_XDIST_KEY": KEY}
    since = httpx.get(f"{stack.gateway.url}/__pixelproof/requests?limit=1").json()["last_seq"]
    done = subprocess.run(
        [sys.executable, "-m", "pixelproof.cli", "run", "--target", str(profile_path), "-n", "2",
         "--fuzz", "off", "--report-dir", str(tmp_path), "--run-id", RUN_ID],
        capture_output=True, text=True, timeout=600, check=False, cwd=REPO, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    plan = subprocess.run(
        [sys.executable, "-m", "pixelproof.cli", "plan", "--target", str(profile_path), "--json"],
        capture_output=True, text=True, timeout=120, check=True, cwd=REPO, env=env,
    )  # fmt: skip
    monkeypatch.setenv("PP_XDIST_KEY", KEY)
    planned = unique_probes(cases_for(catalogue, load_profile(profile_path, catalogue)))
    assert json.loads(plan.stdout)["probes"] == len(planned)
    tagged = {k for k, p in planned.items() if "{nonce}" in p.path + p.body + repr(p.form)}
    sent = _sent(stack, since)
    assert sorted(sent) == sorted(tagged), "the requests sent are the requests planned"
    twice = {key: tokens for key, tokens in sent.items() if len(tokens) != 1}
    assert twice == {}, "a planned request was sent more than once"
