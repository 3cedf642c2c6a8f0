"""`pixelproof diff` between runs under other image budgets, end to end: each run records the
budget it kept to (``--budget``, else the profile's ``budget_images``), and diff says they
differ, before the lists, without calling a case the smaller budget left unrun a regression."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import STACK_KEY, STACK_KEY_ENV, keyed_stack, pixelproof_inprocess, stack_profile_file
from pixelproof.mock.server import Stack

RULES = ("--rules", "size.dall-e-2.*", "--fuzz", "off")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from keyed_stack()


def _run(stack: Stack, tmp_path: Path, run_id: str, *args: str, **profile: object) -> dict:
    target = stack_profile_file(stack, STACK_KEY_ENV, tmp_path / f"{run_id}.json", **profile)
    with pytest.MonkeyPatch.context() as env:
        env.setenv(STACK_KEY_ENV, STACK_KEY)
        done = pixelproof_inprocess("run", "--target", str(target), *RULES, *args,
                                    "--report-dir", str(tmp_path), "--run-id", run_id)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads((tmp_path / run_id / "run.json").read_text())


def test_a_profile_budget_is_recorded_and_diffed_like_a_command_line_one(
    stack: Stack, tmp_path: Path
) -> None:
    free = _run(stack, tmp_path, "free")
    profiled = _run(stack, tmp_path, "profiled", budget_images=1)
    flagged = _run(stack, tmp_path, "flagged", "--budget", "1")
    assert [r["filters"]["budget"] for r in (free, profiled, flagged)] == [None, 1, 1]
    assert any(o["outcome"] == "skipped" for o in profiled["outcomes"])  # the budget bit

    done = pixelproof_inprocess("diff", str(tmp_path / "free"), str(tmp_path / "profiled"))
    assert done.returncode == 0, done.stdout  # skipped for the budget: no regression
    assert "Image budget: no limit → 1 image." in done.stdout
    assert "### Regressions" not in done.stdout
    same = pixelproof_inprocess("diff", str(tmp_path / "profiled"), str(tmp_path / "flagged"))
    assert "Image budget" not in same.stdout  # the same budget, however it was given
