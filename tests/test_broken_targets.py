"""pixelproof against broken targets: one small real server per misbehaviour, a whole
``pixelproof run`` against each, asserting the exit code, how the cases are classified and a
wall-time bound. Nothing ever passes against a broken target, and no run hangs or balloons.

Every run is in this process (conftest.pixelproof_inprocess): a child costs an interpreter start
and every import (~0.9 CPU-s a case) and proves nothing more about how a misbehaviour is
classified. Where memory is the point (huge bodies, pixel bombs: ``Case.memory``) the run's peak
memory is what this process's RSS rose by during the run (hostile.rss_growth: the free pages handed
back first, so a buffer reused from them shows too), bounded by PEAK_GROWTH_MB. That is stricter
than the child's whole peak was (400 MB, of which a run's interpreter, imports and plan took
~60 MB): what a run holds on to because of the target's answer, with nothing else in it. Servers
that never answer (hang, drip, drip-headers, the stuck task) get a short deadline: nothing
legitimate waits on them, and the ones that answer keep a generous one.

Classification (issue "Verdicts a CI gate can trust"): no answer (refused, reset, TLS, deadline,
body over the cap) is an *error* (exit 3); an answer that breaks a documented promise is a
*failure* (exit 1).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import hostile
from conftest import pixelproof_inprocess

# A run keeps at most a 48 MiB body (client.MAX_BODY_BYTES) and decodes at most a 4096x4096
# image (48 MiB as RGB): what it may add to its process while judging one such answer.
PEAK_GROWTH_MB = 200
SIZE_RULE = "size.gpt-image-2.1:1"  # one unified probe: POST /v1/images/generations, 1024x1024


@dataclass(frozen=True)
class Case:
    behaviour: Callable[[], hostile.Behaviour]
    exit_code: int
    outcome: str  # what every case must be
    says: str  # a phrase the outcome's message must contain ("a|b": either)
    wall_s: float
    scheme: str = "http"
    rules: str = SIZE_RULE
    surface: str = "unified"
    memory: bool = False  # the point is the run's peak memory: its growth is measured, bounded
    timeout_s: float = 10  # the exchange deadline: short only where no answer ever comes


NEVER_ANSWERS_S = 0.5  # the deadline against servers that never answer (a timeout either way)


def _png(width: int, height: int) -> hostile.Behaviour:
    """Bytes no earlier run in this process decoded (a decode is kept by digest)."""
    unique = hostile.png_bomb(width, height, os.urandom(8).hex().encode())
    return hostile.status(200, hostile.b64_answer(unique))


def _stuck(sock: object) -> None:
    head = hostile.read_request(sock)  # type: ignore[arg-type]
    body = b'{"task_id": "stuck-1", "status": "processing"}'
    if head.startswith(b"GET /v1/tasks/"):
        body = b'{"task_id": "stuck-1", "status": "processing", "progress": 10}'
    sock.sendall(hostile.answer(200, body))  # type: ignore[attr-defined]


NOT_IMAGE = hostile.b64_answer(b"plain text, certainly not an image")
JSON_TEXT = b'{"created": 1, "data": [{"b64_json": "aGVsbG8="}]}'
CASES = {
    "refused": Case(lambda: hostile.hang, 3, "error", "unreachable", 90),
    "hang": Case(lambda: hostile.hang, 3, "error", "timed out", 90, timeout_s=NEVER_ANSWERS_S),
    "drip": Case(lambda: hostile.drip, 3, "error", "timed out", 90, timeout_s=NEVER_ANSWERS_S),
    "drip-headers": Case(lambda: hostile.drip_headers, 3, "error", "timed out", 90, timeout_s=NEVER_ANSWERS_S),
    "reset": Case(lambda: hostile.reset, 3, "error", "unreachable", 90),
    "truncated-json": Case(lambda: hostile.truncated_json, 3, "error", "peer closed connection", 90),
    "tls-to-plain-http": Case(lambda: hostile.plain_http, 3, "error", "SSL", 90, "https"),
    "self-signed-tls": Case(lambda: hostile.status(200, JSON_TEXT), 3, "error", "CERTIFICATE_VERIFY_FAILED", 90, "tls"),
    "huge-chunked-body": Case(lambda: hostile.huge_chunked(300 * 1024 * 1024), 3, "error", "byte cap", 120, memory=True),
    "huge-content-length": Case(lambda: hostile.huge_length(10 * 1024**3), 3, "error", "byte cap", 120, memory=True),
    "always-500": Case(lambda: hostile.status(500), 1, "failed", "500", 120),
    "html": Case(lambda: hostile.status(200, b"<html><body>gateway login</body></html>", "text/html"), 1, "failed", "HTML|text/html", 120),
    "wrong-content-type": Case(lambda: hostile.status(200, hostile.b64_answer(hostile.png_bomb(1024, 1024)), "text/html"), 1, "failed", "HTML|text/html", 120),
    "redirect-loop": Case(lambda: hostile.redirect_loop, 1, "failed", "302", 120),
    "not-an-image": Case(lambda: hostile.status(200, NOT_IMAGE), 1, "failed", "not an image", 120),
    "pixel-bomb-over-guard": Case(lambda: _png(6000, 4000), 1, "failed", "declares 6000x4000", 120, memory=True),
    "pixel-bomb-under-guard": Case(lambda: _png(4096, 4096), 1, "failed", "4096x4096", 120, memory=True),
    "stuck-task": Case(lambda: _stuck, 3, "error", "processing", 150, rules="ratio.gpt-image-2.1:1.1k", surface="tasks-action"),
}  # fmt: skip


def _profile(tmp: Path, url: str, case: Case) -> Path:
    surface = {"base_url": url, "models": ["gpt-image-2"]}
    profile = {"name": "broken", "surfaces": {case.surface: surface}, "timeout_s": case.timeout_s,
               "run_timeout_s": 60, "polling": {}}  # fmt: skip
    if case.surface == "tasks-action":  # the task never finishes: a short polling deadline
        profile["polling"] = {"tasks-action": {
            "initial_delay_s": 0.05, "interval_s": 0.1, "timeout_s": NEVER_ANSWERS_S}}  # fmt: skip
    path = tmp / "profile.yaml"
    path.write_text(json.dumps(profile))
    return path


def run_inprocess(args: list[str], memory: bool = False) -> tuple[int, float, float, str]:
    """Run ``pixelproof`` in this process; (exit code, wall seconds, with ``memory`` the MB this
    process's RSS rose by at its peak during the run (else 0), stderr and stdout)."""
    started = time.monotonic()
    measured = hostile.rss_growth() if memory else contextlib.nullcontext(lambda: 0.0)
    with measured as growth:
        done = pixelproof_inprocess(*args)
    return done.returncode, time.monotonic() - started, growth(), done.stderr + done.stdout


@pytest.mark.parametrize("name", sorted(CASES))
def test_broken_target(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES[name]
    behaviour = case.behaviour()
    if case.scheme == "tls":
        behaviour = hostile.tls(*hostile.self_signed(str(tmp_path)), behaviour)
    with hostile.serve(behaviour) as url:
        if name == "refused":
            url = hostile.refused_url()
        if case.scheme != "http":
            url = url.replace("http://", "https://")
        args = ["run", "--target", str(_profile(tmp_path, url, case)), "--rules", case.rules,
                "--fuzz", "off", "--report-dir", str(tmp_path), "--run-id", "r"]  # fmt: skip
        monkeypatch.chdir(tmp_path)
        code, wall, grown, text = run_inprocess(args, case.memory)
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    outcomes = run["outcomes"]
    assert outcomes, text[-2000:]
    assert code == case.exit_code, text[-2000:]
    assert run["exit_code"] == code
    for outcome in outcomes:
        assert outcome["outcome"] == case.outcome, outcome["message"][-1500:]
        assert any(p in outcome["message"] for p in case.says.split("|")), outcome["message"][
            -1500:
        ]
    assert "kept" not in (tmp_path / "r" / "summary.md").read_text().splitlines()[0]
    assert wall < case.wall_s, f"{name}: {wall:.1f}s"
    if case.memory:  # asserted only where memory is the point
        assert grown < PEAK_GROWTH_MB, f"{name}: the run's peak RSS grew by {grown:.0f} MB"
