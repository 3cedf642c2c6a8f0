"""Regression diffs between two runs (run.json): the nightly gate.

A regression is a case that passed before and fails now (broken promise); a new error is a case
that passed before and could not be judged now (infrastructure); a fix is the reverse of a
regression. Cases present in only one run are new or vanished (the catalogue or claims changed).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pixelproof.report.facts import FILTER_NAMES, incomplete, shorten, source_parts
from pixelproof.report.results import OUTCOMES

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
    except ValueError as exc:  # not JSON, or not UTF-8 (UnicodeDecodeError)
        raise RunFileError(f"{file}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not str(data.get("schema", "")).startswith(
        "pixelproof.cli.runner/"
    ):
        raise RunFileError(
            f"{file}: not a pixelproof run.json (no 'schema: pixelproof.cli.runner/...')"
        )
    problem = next(iter(_shape_validator().iter_errors(data)), None)
    if problem is not None:  # a hand-edited or truncated file: named, never a traceback
        where = "/".join(str(p) for p in problem.absolute_path) or "(top)"
        raise RunFileError(
            f"{file}: not a pixelproof run.json it can read: {where}: {problem.message}"
        )
    return data


_TEXT = {"type": ["string", "null"]}
_COUNT = {"type": ["integer", "null"]}
_TEXT_FIELDS = ("case", "rule", "kind", "surface", "model", "severity", "message", "level", "test")
RUN_SHAPE: dict[str, Any] = {
    "type": "object",
    "required": ["run_id", "started", "target", "counts", "exit_code", "outcomes"],
    "properties": {
        "run_id": {"type": "string"},
        "started": {"type": "string"},
        "finished": _TEXT,
        "target": {"type": "object"},
        "filters": {"type": "object"},
        "contracts": {"type": ["object", "null"]},
        "levels": {"type": "object"},
        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
        "requests_sent": _COUNT,
        "images_bought": _COUNT,
        "exit_code": {"type": "integer"},
        "run_exit_code": _COUNT,
        "outcomes": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["outcome"],
                "properties": {
                    "outcome": {"enum": list(OUTCOMES)},
                    **dict.fromkeys(_TEXT_FIELDS, _TEXT),
                    "levels": {"type": ["array", "null"], "items": {"type": "string"}},
                    "requests": _COUNT,
                    "images": _COUNT,
                    "thumbnails": {"type": ["array", "null"]},
                },
            },
        },
    },
}
"""What the readers of run.json (diff, report, trend, merge) rely on; a writer's run.json holds
more. Checked when a run is loaded, so a file edited by hand is named with the field that is
wrong instead of failing somewhere in the rendering."""


@functools.cache
def _shape_validator() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(RUN_SHAPE)


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
    differences: list[str] = field(default_factory=list)  # filters or targets that differ
    budget: str = ""  # the image budgets, when they differ (the same cases, fewer judged)
    common: int = 0

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)

    @property
    def comparable(self) -> bool:
        """Same target claims and filters: cases in only one run mean the catalogue changed."""
        return not self.differences


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    return "none" if value in (None, "") else str(value)


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What makes two runs judge different sets of cases: target claims and run filters."""
    out = []
    before, after = old.get("target") or {}, new.get("target") or {}
    if before.get("name") != after.get("name"):
        out.append(f"target: {_shown(before.get('name'))} → {_shown(after.get('name'))}")
    elif (
        None not in (before.get("claims_hash"), after.get("claims_hash"))
        and before["claims_hash"] != after["claims_hash"]
    ):
        out.append(f"target claims: {before['claims_hash']} → {after['claims_hash']}")
    for run in (old, new):
        short = incomplete(run)
        if short is not None:
            out.append(f"{run['run_id']}: {short[1]}")
    if old.get("shard") != new.get("shard"):
        out.append(f"shard: {_shown(old.get('shard'))} → {_shown(new.get('shard'))}")
    unrecorded = [r["run_id"] for r in (old, new) if "filters" not in r]
    if unrecorded:
        return [*out, f"{', '.join(unrecorded)} does not record its filters (older pixelproof)"]
    was, now = old["filters"], new["filters"]
    for key in [k for k in FILTER_NAMES if k != "budget"]:
        if _shown(was.get(key)) != _shown(now.get(key)):
            out.append(f"{FILTER_NAMES[key]}: {_shown(was.get(key))} → {_shown(now.get(key))}")
    return out


def budget_change(old: dict[str, Any], new: dict[str, Any]) -> str:
    """Said when the runs' image budgets (--budget) differ. The runs plan the same cases, so they
    are still compared; a case one budget left unrun is skipped there, an outcome change that is
    never a regression, a new error or a fix."""
    if "filters" not in old or "filters" not in new:
        return ""  # an older pixelproof's run: ``differences`` says its filters are unrecorded
    was, now = (run["filters"].get("budget") for run in (old, new))
    if was == now:
        return ""
    shown = ["no limit" if b is None else f"{b} image{'' if b == 1 else 's'}" for b in (was, now)]
    return (
        f"Image budget: {shown[0]} → {shown[1]}. A case a budget left unrun is skipped, "
        "not judged: it is listed under Other changes."
    )


def diff_runs(old: dict[str, Any], new: dict[str, Any]) -> Diff:
    before = {o["case"]: o for o in old["outcomes"] if o.get("case")}
    after = {o["case"]: o for o in new["outcomes"] if o.get("case")}
    result = Diff(old["run_id"], new["run_id"], differences=differences(old, new),
                  budget=budget_change(old, new))  # fmt: skip
    for case, now in sorted(after.items()):
        was = before.get(case)
        if was is None:
            result.new_rules.append(now)
            continue
        result.common += 1
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
    ("new_rules", "New cases"),
    ("vanished", "Vanished cases"),
)


def sections(d: Diff) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(key, title, cases) to list; cases in only one run are listed only for comparable runs."""
    keys = [k for k, _ in SECTIONS if d.comparable or k not in ("new_rules", "vanished")]
    return [(k, t, getattr(d, k)) for k, t in SECTIONS if k in keys]


def notice(d: Diff) -> str:
    """Said first when the runs are not alike: what differs and what is compared."""
    if d.comparable:
        return ""
    return (
        "These runs differ: " + "; ".join(d.differences) + f". Only the {d.common} cases judged "
        f"in both are compared ({len(d.vanished)} only in {d.old_id}, {len(d.new_rules)} only in "
        f"{d.new_id} are left out)."
    )


def render_markdown(d: Diff) -> str:
    lines = [f"## pixelproof diff: {d.old_id} → {d.new_id}", ""]
    if not d.comparable:
        lines += [f"**{notice(d)}**", ""]
    if d.budget:
        lines += [d.budget, ""]
    chosen = sections(d)
    lines.append(" · ".join(f"{title.split(' (')[0]}: {len(items)}" for _, title, items in chosen))
    for key, title, items in chosen:
        if not items:
            continue
        lines += ["", f"### {title}", ""]
        for o in items:
            was = f"{o['was']} → {o['outcome']}" if "was" in o else o["outcome"]
            detail = (
                f": expected {shorten(o['expected'])}; observed {shorten(o.get('observed'))}"
                if o.get("expected") and key == "regressions"
                else ""
            )
            lines.append(f"- `{o['case']}` ({was}) — {o.get('source') or ''}{detail}")
    return "\n".join(lines) + "\n"


def render_html(d: Diff) -> str:
    """A page of its own: the notice, a count per section, and a table per section."""
    from pixelproof.report.html import environment

    return (
        environment()
        .get_template("diff.html.j2")
        .render(d=d, notice=notice(d), sections=sections(d), source_parts=source_parts)
    )
