"""Regression diffs between two runs (run.json): the nightly gate.

A regression is a case that passed before and fails now (broken promise); a new error is a case
that passed before and could not be judged now (infrastructure); a fix is the reverse of a
regression. Cases present in only one run are new or vanished (the catalogue or claims changed).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GOOD = {"passed", "waived"}
BAD = {"failed", "fixed"}


class RunFileError(Exception):
    pass


def load_run(path: Path) -> dict[str, Any]:
    """A run directory or its run.json."""
    file = path / "run.json" if path.is_dir() else path
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RunFileError(f"{file}: cannot read ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise RunFileError(f"{file}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not str(data.get("schema", "")).startswith(
        "pixelproof.cli.runner/"
    ):
        raise RunFileError(
            f"{file}: not a pixelproof run.json (no 'schema: pixelproof.cli.runner/...')"
        )
    return data


@dataclass
class Diff:
    old_id: str
    new_id: str
    regressions: list[dict[str, Any]] = field(default_factory=list)
    new_errors: list[dict[str, Any]] = field(default_factory=list)
    fixes: list[dict[str, Any]] = field(default_factory=list)
    new_rules: list[dict[str, Any]] = field(default_factory=list)
    vanished: list[dict[str, Any]] = field(default_factory=list)
    changed: list[dict[str, Any]] = field(default_factory=list)  # every other outcome change

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)


def diff_runs(old: dict[str, Any], new: dict[str, Any]) -> Diff:
    before = {o["case"]: o for o in old["outcomes"] if o.get("case")}
    after = {o["case"]: o for o in new["outcomes"] if o.get("case")}
    result = Diff(old["run_id"], new["run_id"])
    for case, now in sorted(after.items()):
        was = before.get(case)
        if was is None:
            result.new_rules.append(now)
            continue
        entry = {**now, "was": was["outcome"]}
        if was["outcome"] in GOOD and now["outcome"] in BAD:
            result.regressions.append(entry)
        elif was["outcome"] in GOOD and now["outcome"] == "error":
            result.new_errors.append(entry)
        elif was["outcome"] in BAD | {"error"} and now["outcome"] == "passed":
            result.fixes.append(entry)
        elif was["outcome"] != now["outcome"]:
            result.changed.append(entry)
    result.vanished = [o for case, o in sorted(before.items()) if case not in after]
    return result


SECTIONS = (
    ("regressions", "Regressions (kept → broken)"),
    ("new_errors", "New errors (kept → could not judge)"),
    ("fixes", "Fixed (broken → kept)"),
    ("changed", "Other changes"),
    ("new_rules", "New rules"),
    ("vanished", "Vanished rules"),
)


def render_markdown(d: Diff) -> str:
    lines = [f"## pixelproof diff: {d.old_id} → {d.new_id}", ""]
    lines.append(
        " · ".join(f"{title.split(' (')[0]}: {len(getattr(d, key))}" for key, title in SECTIONS)
    )
    for key, title in SECTIONS:
        items = getattr(d, key)
        if not items:
            continue
        lines += ["", f"### {title}", ""]
        for o in items:
            was = f"{o['was']} → {o['outcome']}" if "was" in o else o["outcome"]
            detail = (
                f": expected {o['expected']}, observed {o['observed']}"
                if o.get("expected") and key == "regressions"
                else ""
            )
            lines.append(f"- `{o['case']}` ({was}) — {o.get('source') or ''}{detail}")
    return "\n".join(lines) + "\n"


def render_html(d: Diff) -> str:
    body = html.escape(render_markdown(d))
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>pixelproof diff</title>'
        "<style>body{font:14px system-ui,sans-serif;margin:24px}pre{white-space:pre-wrap}</style></head>"
        f'<body><pre id="diff">{body}</pre></body></html>\n'
    )
