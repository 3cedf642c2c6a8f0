"""Fuzzing proves itself: it catches the faults only fuzzing is meant to catch, finds nothing on
the clean stack, keeps to its request budget (counted at the mock's recorder, not by itself),
repeats itself in deterministic mode, and words its findings as every other failure. Through
pytest and the CLI: test_fuzz_cli.py."""

from __future__ import annotations

import functools
import io
import json
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from PIL import Image

from conftest import recorded, stack_keyed_in_env
from once import once_per_session
from pixelproof.catalogue import Catalogue
from pixelproof.fuzz.cases import anchor_kwargs, image_files, required_drops
from pixelproof.fuzz.contracts import load_surface
from pixelproof.fuzz.runner import FuzzSession
from pixelproof.fuzz.targets import FuzzResult, FuzzTarget, fuzz_level, plan_targets, run_target
from pixelproof.mock import app_state
from pixelproof.mock.faults import FAULT_HEADER
from pixelproof.mock.server import FastForward, Stack
from pixelproof.observe import NONCE
from pixelproof.target import Profile, embedded_profile

KEY_ENV = "PIXELPROOF_FUZZ_TEST_KEY"
KEY = "pp-fuzz-test-key-5a1c0e9d"
DEFAULT_BUDGET = 400


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with stack_keyed_in_env(KEY_ENV, KEY) as running:
        yield running


def _profile(catalogue: Catalogue, stack: Stack, fault: str | None = None) -> Profile:
    profile = embedded_profile(catalogue, stack.gateway.url, stack.upstream.url, KEY_ENV, 1000)
    return profile.model_copy(update={"headers": {FAULT_HEADER: fault}}) if fault else profile


def _fuzz(catalogue: Catalogue, profile: Profile, *select: str, level: str = "full",
          budget: int = DEFAULT_BUDGET, run_id: str = "t", mode: str = "deterministic",
          stack: Stack | None = None) -> dict[str, FuzzResult]:  # fmt: skip
    """Plan as `pixelproof run` would (the whole plan shares the budget), run the targets whose id
    contains one of ``select`` (all of them without it). Each target's cases depend on its own
    allowance only (deterministic mode is derandomized per target), so a test runs just the
    targets it reads: what the others would send is no part of its claim. With ``stack`` the
    stateful phase waits for a submitted task on a FastForward clock (the stack finishes its jobs
    and both mock clocks jump) instead of the real-time floor: the same polls, no idle seconds."""
    clock = FastForward(stack, profile.time_scale) if stack is not None else None
    session = FuzzSession(catalogue, profile, mode=mode, run_id=run_id, clock=clock)
    try:
        targets = [t for t in plan_targets(catalogue, profile, level, budget)
                   if not select or any(part in t.id for part in select)]  # fmt: skip
        return {t.id: run_target(session, t) for t in targets}
    finally:
        session.close()


def _shrunk(target: FuzzTarget, allowance: int) -> FuzzTarget:
    """The same target with a smaller allowance."""
    return FuzzTarget(
        target.surface, target.label, target.operation_id, target.mode, allowance, target.contract
    )


def _recorded(stack: Stack, run_id: str) -> list[dict[str, object]]:
    """What reached the gateway with this run's fuzz tag, read from the mock's own recorder."""
    return recorded(stack.gateway.url, tag=f"fuzz-{run_id}")


def _checks(result: FuzzResult) -> set[str]:
    return {f.check for f in result.findings}


# ---------------------------------------------------------------------- planning
def test_levels_modes_and_budget_split(catalogue: Catalogue, stack: Stack) -> None:
    profile = _profile(catalogue, stack)
    assert plan_targets(catalogue, profile, "off", DEFAULT_BUDGET) == []
    negative = plan_targets(catalogue, profile, "negative", DEFAULT_BUDGET)
    full = plan_targets(catalogue, profile, "full", DEFAULT_BUDGET)
    assert {t.mode for t in negative} == {"negative"}
    assert {t.mode for t in full} == {"negative", "positive", "stateful"}
    assert {t.surface for t in full if t.mode == "stateful"} == {
        "tasks-action", "tasks-official", "jimeng-official"}  # fmt: skip
    for plan in (negative, full, plan_targets(catalogue, profile, "full", 7)):
        assert sum(t.allowance for t in plan) <= DEFAULT_BUDGET
    assert sum(t.allowance for t in plan_targets(catalogue, profile, "full", 7)) == 7
    ids = [t.id for t in full]
    assert len(ids) == len(set(ids))
    assert "tasks-action POST /v1/images/generations negative" in ids
    only = plan_targets(catalogue, profile, "full", 100, ["fuzz.tasks-official.*"])
    assert only
    assert {t.surface for t in only} == {"tasks-official"}
    assert sum(t.allowance for t in only) == 100


def test_auto_fuzzes_negative_only_against_a_paid_profile(
    catalogue: Catalogue, stack: Stack
) -> None:
    profile = _profile(catalogue, stack)
    assert fuzz_level("auto", profile) == "full"
    assert fuzz_level("auto", profile.model_copy(update={"paid": True})) == "negative"
    assert fuzz_level("off", profile) == "off"


# ---------------------------------------------------------------------- what fuzzing finds
def _clean_run(catalogue: Catalogue, stack: Stack, root: Path) -> None:
    """The whole plan at the default budget on the clean stack, as ``_fuzz`` runs it (one session,
    FastForward clock), written to ``root``: each target's result, and its requests that reached
    the gateway (its recorder's records from the target's first request to its last)."""
    profile = _profile(catalogue, stack)
    clock = FastForward(stack, profile.time_scale)
    session = FuzzSession(catalogue, profile, mode="deterministic", run_id="clean", clock=clock)
    out: dict[str, dict[str, Any]] = {}
    try:
        for target in plan_targets(catalogue, profile, "full", DEFAULT_BUDGET):
            since = app_state(stack.gateway.app).recorder.last_seq
            result = run_target(session, target)
            out[target.id] = {
                "report": result.report(), "findings": len(result.findings),
                "errors": result.errors, "requests": result.requests, "answers": result.answers,
                "recorded": recorded(stack.gateway.url, tag="fuzz-clean", since=str(since)),
            }  # fmt: skip
    finally:
        session.close()
    (root / "targets.json").write_text(json.dumps(out))


@pytest.fixture(scope="module")
def clean(
    catalogue: Catalogue, stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    """The clean stack's full fuzz run (400 requests, ~5 CPU-s), made once for the session
    (once.py: the tests reading it may land on any worker) and read by each of them: what
    every target found, and what reached the gateway. Deterministic: a test running one of these
    targets alone would send the very same cases (test_deterministic_mode_repeats_itself)."""
    produce = functools.partial(_clean_run, catalogue, stack)
    root = once_per_session(tmp_path_factory, "fuzz-clean", produce)
    return dict(json.loads((root / "targets.json").read_text()))


def test_clean_stack_yields_no_findings(clean: dict[str, dict[str, Any]]) -> None:
    found = {tid: r["report"] for tid, r in clean.items() if r["findings"] or r["errors"]}
    assert found == {}
    assert all(r["requests"] > 0 for r in clean.values())
    accepted = sum(r["answers"].get("accept->2xx", 0) for r in clean.values())
    rejected = sum(r["answers"].get("reject->4xx", 0) for r in clean.values())
    assert accepted > 50, "positive and stateful fuzzing must reach the success path"
    assert rejected > 50, "negative fuzzing must send requests that have to be refused"


ACTION_NEGATIVE = "tasks-action POST /v1/images/generations negative"
OFFICIAL_NEGATIVE = "tasks-official POST /v1/images/generations negative"


@pytest.fixture(scope="module")
def bad_ratio_negative(
    catalogue: Catalogue, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> FuzzResult:
    """The negative tasks-action target against bad-ratio-500, run once for the session for the
    tests reading it (once.py: under xdist its two readers landed on two workers in each of three
    whole runs measured, and each ran it, 0.16-0.24 CPU-s; deterministic, a second run would send
    the very same cases). The stack is started only to make it."""

    def produce(root: Path) -> None:
        profile = _profile(catalogue, request.getfixturevalue("stack"), "bad-ratio-500")
        result = _fuzz(catalogue, profile, ACTION_NEGATIVE)[ACTION_NEGATIVE]
        (root / "result.pickle").write_bytes(pickle.dumps(result))

    root = once_per_session(tmp_path_factory, "fuzz-bad-ratio", produce)
    result = pickle.loads((root / "result.pickle").read_bytes())
    assert isinstance(result, FuzzResult)
    return result


def test_bad_ratio_500_is_found(bad_ratio_negative: FuzzResult) -> None:
    negative = bad_ratio_negative
    assert "fuzz.server_error" in _checks(negative), negative.report()
    finding = next(f for f in negative.findings if f.check == "fuzz.server_error")
    assert finding.observed.startswith("500")
    assert "aspect_ratio" in finding.request


def test_four_k_with_a_disallowed_ratio_is_found(catalogue: Catalogue, stack: Stack) -> None:
    profile = _profile(catalogue, stack, "four-k-any-ratio")
    results = _fuzz(catalogue, profile, ACTION_NEGATIVE, OFFICIAL_NEGATIVE)
    action = _checks(results[ACTION_NEGATIVE])
    official = _checks(results[OFFICIAL_NEGATIVE])
    assert {c for c in action if c.startswith("ratio.gpt-image-2.") and c.endswith(".4k")}, action
    assert {
        c for c in official if c.startswith("size.gpt_image_2_official.") and c.endswith(".4k")
    }, official


def test_schema_drift_is_found_in_positive_and_stateful_runs(
    catalogue: Catalogue, stack: Stack
) -> None:
    results = _fuzz(catalogue, _profile(catalogue, stack, "schema-drift"),
                    "tasks-action POST /v1/images/generations positive",
                    "tasks-action POST /v1/images/generations -> GET /v1/tasks/{task_id} stateful")  # fmt: skip
    for mode in ("positive", "stateful"):
        result = next(r for tid, r in results.items() if tid.endswith(mode))
        drift = [f for f in result.findings if f.check == "fuzz.response_schema_conformance"]
        assert drift, f"{mode}: {result.report()}"
        assert "task_id" in drift[0].observed
        assert "string" in drift[0].observed


def test_one_required_field_dropped_at_a_time(catalogue: Catalogue, stack: Stack) -> None:
    """Every body of the family lacks exactly one required field of the anchor: a prompt-less
    case still names a valid model, so a model check cannot be what refuses it."""
    profile = _profile(catalogue, stack)
    schemas = load_surface(catalogue, profile, "tasks-official")
    label = "POST /v1/images/generations"
    anchor = anchor_kwargs(catalogue, profile, "tasks-official", label, "t")[0]["body"]
    # tagged as a probe is: what it makes reach an upstream is attributed to the harness
    assert NONCE.search(anchor["params"]["prompt"])
    drops = {desc: body for _, desc, body in required_drops(schemas, label, anchor)}
    assert set(drops) == {f"required {name} dropped"
                          for name in ("model", "params", "task_id", "params.prompt")}  # fmt: skip
    assert drops["required params.prompt dropped"]["model"] == anchor["model"]
    assert drops["required params.prompt dropped"]["params"] == {
        k: v for k, v in anchor["params"].items() if k != "prompt"
    }
    for desc, body in drops.items():
        assert len(set(_flat(anchor)) - set(_flat(body))) >= 1, desc
        assert set(_flat(body)) < set(_flat(anchor)), desc


def _flat(body: dict[str, object], prefix: str = "") -> list[str]:
    out = []
    for key, value in body.items():
        out.append(prefix + key)
        if isinstance(value, dict):
            out += _flat(value, f"{prefix}{key}.")
    return out


def test_a_gateway_taking_a_request_without_prompt_is_found(
    catalogue: Catalogue, stack: Stack
) -> None:
    """prompt-unvalidated fills in a default prompt; the model is valid, so only the
    dropped-prompt case can catch it, citing the rule."""
    target = "unified POST /v1/images/generations negative"
    results = _fuzz(catalogue, _profile(catalogue, stack, "prompt-unvalidated"), target)
    found = [f for f in results[target].findings if f.check == "prompt.required"]
    assert found, results[target].report()
    assert found[0].case == "targeted: required prompt dropped"
    assert "((SHOULD) " in found[0].expected  # seed 003: "should be treated as required"
    assert '"model"' in found[0].request
    assert '"prompt"' not in found[0].request


def test_multipart_operations_lose_one_required_part_at_a_time(
    clean: dict[str, dict[str, Any]],
) -> None:
    result = clean["unified POST /v1/images/edits negative"]
    assert not result["findings"], result["report"]
    forms = [r for r in result["recorded"] if r["form"] or r["files"]]
    without_prompt = [r for r in forms if "prompt" not in r["form"]]
    assert any(r["form"].get("model") and r["files"] for r in without_prompt), forms
    assert any(r["form"].get("prompt") and not r["files"] for r in forms)
    assert all(r["status"] // 100 == 4 for r in without_prompt)


def test_finding_speaks_and_redacts(bad_ratio_negative: FuzzResult) -> None:
    report = bad_ratio_negative.report()
    for part in ("tasks-action POST /v1/images/generations", "fuzz.server_error", "expected: ",
                 "observed: ", "request: curl -X POST", "Bearer [redacted]"):  # fmt: skip
        assert part in report
    assert KEY not in report


# ---------------------------------------------------------------------- cost and repeatability
def test_request_budget_is_a_hard_bound_counted_at_the_recorder(
    catalogue: Catalogue, stack: Stack
) -> None:
    budget = 45
    results = _fuzz(
        catalogue, _profile(catalogue, stack), budget=budget, run_id="bound", stack=stack
    )
    sent = sum(r.requests for r in results.values())
    recorded = _recorded(stack, "bound")
    assert 0 < len(recorded) <= sent <= budget  # image downloads are sent, not recorded


def test_max_examples_do_not_exceed_the_allowance(catalogue: Catalogue, stack: Stack) -> None:
    """Hypothesis would happily draw more cases; the allowance stops it at exactly 7 requests."""
    profile = _profile(catalogue, stack)
    target = next(t for t in plan_targets(catalogue, profile, "negative", DEFAULT_BUDGET)
                  if t.id == "unified POST /v1/images/generations negative")  # fmt: skip
    small = _shrunk(target, 7)
    session = FuzzSession(catalogue, profile, run_id="seven")
    try:
        result = run_target(session, small)
    finally:
        session.close()
    assert result.requests == 7
    assert len(_recorded(stack, "seven")) == 7


def test_deterministic_mode_repeats_itself_and_explore_mode_does_not(
    catalogue: Catalogue, stack: Stack, clean: dict[str, dict[str, Any]]
) -> None:
    """A target run alone sends what it sent within the clean run's whole plan. Explore mode is
    judged by its seeds, which do not depend on how many cases follow them: those runs get a
    small allowance."""
    profile = _profile(catalogue, stack)
    select = "unified POST /v1/images/generations negative"
    _fuzz(catalogue, profile, select, run_id="det")  # alone, on this worker's stack
    first = [r["json"] for r in clean[select]["recorded"]]  # within the whole plan, once
    second = [r["json"] for r in _recorded(stack, "det")]
    assert first == second
    assert first
    [target] = [
        t for t in plan_targets(catalogue, profile, "full", DEFAULT_BUDGET) if t.id == select
    ]
    seeds = set()
    for i in range(2):
        session = FuzzSession(catalogue, profile, mode="explore", run_id=f"ex-{i}")
        try:
            seeds.add(run_target(session, _shrunk(target, 5)).seed)
        finally:
            session.close()
    assert None not in seeds
    assert len(seeds) == 2


# ---------------------------------------------------------------------- multipart images
@settings(max_examples=12, deadline=None, database=None)
@given(image_files("PNG"), image_files("JPEG"), image_files("WEBP"))
def test_media_type_strategies_yield_real_images(png: bytes, jpeg: bytes, webp: bytes) -> None:
    for data, fmt in ((png, "PNG"), (jpeg, "JPEG"), (webp, "WEBP")):
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == fmt
            image.load()
    with Image.open(io.BytesIO(png)) as mask:
        assert mask.mode == "RGBA"
        assert mask.getchannel("A").getextrema()[0] == 0


def test_multipart_edits_send_image_files(clean: dict[str, dict[str, Any]]) -> None:
    records = clean["unified POST /v1/images/edits positive"]["recorded"]
    parts = [f for r in records for f in (r.get("files") or {}).get("image", [])]
    assert parts, "no multipart edit reached the gateway"
    assert {p["content_type"] for p in parts} <= {"image/png", "image/jpeg", "image/webp"}
