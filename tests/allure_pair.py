"""Compare two directories of Allure results test by test: the run's own writer
(report/allure_results.py) against allure-pytest's listener on the same tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TIMES_AND_IDS = ("uuid", "start", "stop")  # fresh in every run


def results(directory: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for path in directory.glob("*-result.json"):
        result = json.loads(path.read_text(encoding="utf-8"))
        out[result["name"]] = result
    return out


def comparable(result: dict[str, Any], directory: Path) -> dict[str, Any]:
    """Without run-fresh ids and times; attachments by content; labels as a sorted list."""
    out = {k: v for k, v in result.items() if k not in TIMES_AND_IDS}
    out["attachments"] = [
        (a["name"], a["type"], (directory / a["source"]).read_bytes())
        for a in result.get("attachments", [])
    ]
    out["labels"] = sorted((x["name"], x.get("value")) for x in result.get("labels", []))
    return out


def differences(ours: Path, theirs: Path) -> dict[str, list[str]]:
    """Field -> the tests whose field differs (a test missing on one side: field 'missing')."""
    mine, others = results(ours), results(theirs)
    out: dict[str, list[str]] = {}
    for name in sorted(set(mine) ^ set(others)):
        out.setdefault("missing", []).append(name)
    for name in sorted(set(mine) & set(others)):
        a, b = comparable(mine[name], ours), comparable(others[name], theirs)
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                out.setdefault(key, []).append(name)
    return out
