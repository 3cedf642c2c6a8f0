"""`diff`, `report` and `merge` read run.json files that may have been edited by hand, and write
where they are told: a field of the wrong shape, or a path that cannot be written, is one line
naming it and exit 2, never a traceback (a traceback exits 1, which `diff` means "regressed")."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import pixelproof_inprocess


@pytest.fixture(scope="module")
def a_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    done = pixelproof_inprocess("run", "--fuzz", "off", "--rules", "size.gpt-image-2.1:1",
                                "--report-dir", str(root), "--run-id", "good")  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return root / "good"


def _edited(run: Path, where: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    data = json.loads((run / "run.json").read_text())
    change(data)
    where.mkdir()
    (where / "run.json").write_text(json.dumps(data))
    return where


EDITS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "outcomes-a-string": (lambda d: d.update(outcomes="oops"), "outcomes: 'oops' is not of type 'array'"),
    "counts-missing": (lambda d: d.pop("counts"), "(top): 'counts' is a required property"),
    "started-a-number": (lambda d: d.update(started=3), "started: 3 is not of type 'string'"),
    "outcome-null": (lambda d: d["outcomes"][0].update(outcome=None), "outcomes/0/outcome: None is not one of"),
}  # fmt: skip


@pytest.mark.parametrize("edit", list(EDITS))
@pytest.mark.parametrize("command", ["diff", "report", "merge", "history"])
def test_a_hand_edited_run_json_is_named_with_its_field(
    a_run: Path, tmp_path: Path, edit: str, command: str
) -> None:
    change, says = EDITS[edit]
    bad = _edited(a_run, tmp_path / "bad", change)
    args = {
        "diff": ["diff", str(a_run), str(bad)],
        "report": ["report", str(bad), "--out", str(tmp_path / "r.html")],
        "merge": ["merge", str(bad), "--out", str(tmp_path / "merged")],
        "history": ["report", "--history", str(tmp_path)],
    }[command]
    done = pixelproof_inprocess(*args)
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output[-3000:]
    assert says in output, output[-3000:]
    # history skips the bad run (and finds no other here); every other command refuses it
    assert done.returncode == 2, output[-3000:]


@pytest.mark.parametrize(
    "args",
    [
        ["report", "{run}", "--out", "/nonexistent-dir/x.html"],
        ["report", "{run}", "--out", "{tmp}"],
        ["diff", "{run}", "{run}", "--out", "/nonexistent-dir/d.md"],
        ["diff", "{run}", "{run}", "--html", "/nonexistent-dir/d.html"],
    ],
    ids=["report-into-a-missing-dir", "report-onto-a-directory", "diff-out", "diff-html"],
)
def test_an_output_path_that_cannot_be_written_is_named(
    a_run: Path, tmp_path: Path, args: list[str]
) -> None:
    filled = [a.format(run=a_run, tmp=tmp_path) for a in args]
    done = pixelproof_inprocess(*filled)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output[-3000:]
    assert "Traceback" not in output
    assert "cannot write or read" in output
