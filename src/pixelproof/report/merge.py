"""`pixelproof merge`: shard run dirs (``pixelproof run --shard K/N``) combined into one run.

The merged run.json holds every shard's outcomes once, the summed request and image counts and the
exit code the unsharded run would have given; summary.md and report.html are rendered from it by
the ordinary renderers, junit.xml is one suite of every shard's test cases, and allure-results is
the union of the shards' result files. Shards that are missing, repeated, from another target or
that judged the same case twice make the merge *incomplete*: the partial report is still written,
each problem is named, and the exit code is 2, never "kept".
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pixelproof import __version__
from pixelproof.cli.exits import (
    EXIT_BROKEN,
    EXIT_INFRA,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    verdict_exit,
)
from pixelproof.report.facts import INCOMPLETE, incomplete
from pixelproof.report.results import OUTCOMES
from pixelproof.shard import ShardError, parse_shard

# Which shard exit code speaks for the whole run: the unsharded run's own precedence.
PRECEDENCE = (EXIT_INTERRUPTED, EXIT_USAGE, EXIT_BROKEN, EXIT_INFRA, EXIT_OK)


@dataclass
class Merged:
    data: dict[str, Any]
    problems: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_USAGE if self.problems else int(self.data["run_exit_code"])


def load_run_dir(run_dir: Path) -> dict[str, Any]:
    """A shard's run.json (``diff.load_run``'s reading), or a one-line reason it cannot be read."""
    from pixelproof.report.diff import RunFileError, load_run

    if not (run_dir / "run.json").is_file():
        raise ShardError(f"{run_dir}: no run.json (not a pixelproof run directory)")
    try:
        data = load_run(run_dir)
    except RunFileError as exc:
        raise ShardError(str(exc)) from None
    outcomes, code = data.get("outcomes"), data.get("run_exit_code", data.get("exit_code"))
    if (
        not isinstance(outcomes, list)
        or not all(isinstance(o, dict) for o in outcomes)
        or not isinstance(data.get("target"), dict)
        or not isinstance(code, int)
    ):
        raise ShardError(
            f"{run_dir / 'run.json'}: not a pixelproof run.json (its outcomes, target or exit code)"
        )
    return data


def _shard_problems(runs: list[dict[str, Any]]) -> list[str]:
    problems, seen, totals = [], set(), set()
    for run in runs:
        try:
            shard = parse_shard(str(run.get("shard") or ""))
        except ShardError:
            problems.append(f"run {run.get('run_id')} is not a shard (run without --shard)")
            continue
        totals.add(shard.total)
        if shard.index in seen:
            problems.append(f"shard {shard} given twice")
        seen.add(shard.index)
    if len(totals) > 1:
        problems.append(f"shards of different splits: N = {sorted(totals)}")
    elif totals:
        total = totals.pop()
        missing = [f"{k}/{total}" for k in range(1, total + 1) if k not in seen]
        if missing:
            problems.append(f"missing shard(s) {', '.join(missing)}: the merged run is incomplete")
    targets = {json.dumps(r.get("target"), sort_keys=True) for r in runs}
    if len(targets) > 1:
        problems.append("shards judged different targets")
    return problems


def _shard_exit(run: dict[str, Any]) -> int:
    code = run.get("run_exit_code")
    return int(code if isinstance(code, int) else run.get("exit_code", EXIT_USAGE))


def _outcomes(runs: list[dict[str, Any]], problems: list[str]) -> dict[str, dict[str, Any]]:
    """Every shard's outcomes by test; a test judged in two shards is a problem."""
    outcomes: dict[str, dict[str, Any]] = {}
    for run in runs:
        for outcome in run["outcomes"]:
            key = str(outcome.get("test") or outcome.get("case"))
            if key in outcomes:
                problems.append(f"{key} was judged in more than one shard")
            outcomes[key] = outcome
    return outcomes


def merge_runs(runs: list[dict[str, Any]], run_id: str) -> Merged:
    problems = _shard_problems(runs)
    outcomes = _outcomes(runs, problems)
    counts = {o: 0 for o in OUTCOMES}
    for outcome in outcomes.values():
        counts[outcome.get("outcome", "error")] = counts.get(outcome.get("outcome", "error"), 0) + 1
    judged = verdict_exit(counts)
    codes = {_shard_exit(r) for r in runs} or {EXIT_USAGE}
    first = runs[0] if runs else {"target": {"name": "no shard could be read"},
                                  "pixelproof_version": __version__}  # fmt: skip
    data = {
        **{
            k: first.get(k)
            for k in ("schema", "pixelproof_version", "contracts", "target", "filters")
        },
        "run_id": run_id,
        "started": min((str(r.get("started")) for r in runs), default=None),
        "finished": max((str(r.get("finished")) for r in runs), default=None),
        "merged": dt.datetime.now(dt.UTC).isoformat(),
        "merged_from": [{"run_id": r.get("run_id"), "shard": r.get("shard")} for r in runs],
        "shard": None,
        "counts": counts,
        "requests_sent": sum(int(r.get("requests_sent") or 0) for r in runs),
        "requests_uncounted": sorted(c for r in runs for c in r.get("requests_uncounted") or []),
        "images_bought": sum(int(r.get("images_bought") or 0) for r in runs),
        "exit_code": judged,
        "run_exit_code": next(c for c in (*PRECEDENCE, max(codes)) if c in codes),
        "outcomes": [outcomes[k] for k in sorted(outcomes)],
    }
    data.update(_incomplete(runs, len(outcomes)))
    if "interrupted" in data:
        data["exit_code"] = EXIT_INTERRUPTED
    return Merged(data, problems)


def _incomplete(runs: list[dict[str, Any]], merged: int) -> dict[str, Any]:
    """A shard that did not reach its end makes the merged run incomplete the same way (its
    reports then never say kept): interrupted before stopped early."""
    shortfalls = [(r, incomplete(r)) for r in runs]
    for key, what in INCOMPLETE.items():
        texts = [f"shard {r.get('shard') or r.get('run_id')}: {s[1]}"
                 for r, s in shortfalls if s is not None and s[0] == what]  # fmt: skip
        if texts:
            return {key: {"after": merged, "of": None, "text": f"{what} ({'; '.join(texts)})"}}
    return {}


def merge_junit(paths: list[Path], out: Path) -> list[str]:
    """One <testsuite> with every shard's test cases and summed counters."""
    problems: list[str] = []
    suite = ET.Element("testsuite", name="pixelproof")
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    seconds = 0.0
    for path in paths:
        try:
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError) as exc:
            problems.append(f"{path}: no readable junit.xml ({exc})")
            continue
        for part in root.iter("testsuite"):
            for name in totals:
                totals[name] += int(part.get(name, 0) or 0)
            seconds += float(part.get("time", 0) or 0)
            suite.extend(part.findall("testcase"))
    suite.attrib.update({k: str(v) for k, v in totals.items()} | {"time": f"{seconds:.3f}"})
    root = ET.Element("testsuites")
    root.append(suite)
    ET.ElementTree(root).write(out, encoding="utf-8", xml_declaration=True)
    return problems


def copy_allure(sources: list[Path], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for source in sources:
        if source.is_dir():
            for item in source.iterdir():
                if item.is_file() and not (out / item.name).exists():
                    shutil.copy2(item, out / item.name)


def merge_dirs(run_dirs: list[Path], out: Path) -> Merged:
    """Read the shards, write the merged run into ``out`` (partial if need be), return it."""
    from pixelproof.report.html import render_html
    from pixelproof.report.summary import render_markdown

    runs, problems = [], []
    for run_dir in run_dirs:
        try:
            runs.append(load_run_dir(run_dir))
        except ShardError as exc:
            problems.append(str(exc))
    merged = merge_runs(runs, out.name)
    merged.problems[:0] = problems
    if merged.problems:
        merged.data["merge_problems"] = merged.problems
    out.mkdir(parents=True, exist_ok=True)
    junit = [d / "junit.xml" for d in run_dirs if (d / "run.json").is_file()]
    merged.problems += merge_junit(junit, out / "junit.xml")
    copy_allure([d / "allure-results" for d in run_dirs], out / "allure-results")
    (out / "run.json").write_text(
        json.dumps(merged.data, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    (out / "summary.md").write_text(render_markdown(merged.data), encoding="utf-8")
    (out / "report.html").write_text(render_html(merged.data), encoding="utf-8")
    return merged
