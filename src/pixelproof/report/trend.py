"""Conformance over many runs, drawn as an inline SVG (no external assets, no script).

One line per (target profile, filter set): a filtered run, an errors-only run and a full run judge
different cases, so their scores never share a line. Runs that judged nothing (usage errors) are
skipped. Every point carries a tooltip (SVG <title>) with the run id and its counts.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pixelproof.report.diff import RunFileError, load_run
from pixelproof.report.facts import (
    JUDGED,
    comparable_key,
    filters_text,
    incomplete,
    surface_scores,
)

PALETTE = ("#1565c0", "#2e7d32", "#c62828", "#6a1b9a", "#ef6c00", "#00838f", "#5d4037")
MAX_LABELS = 8  # x-axis labels shown; the others stay in the tooltips


def load_history(directory: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every run.json below ``directory`` that judged something, oldest first; unreadable ones
    and usage errors (nothing judged) are listed as skipped, not fatal."""
    runs, problems = [], []
    for file in sorted(directory.glob("*/run.json")):
        try:
            run = load_run(file)
        except RunFileError as exc:
            problems.append(str(exc))
            continue
        if not run.get("outcomes") or run.get("exit_code") == 2:
            problems.append(f"{file}: judged nothing (a usage error), not in the trend")
            continue
        short = incomplete(run)
        if short is not None:  # interrupted or stopped early: its scores are how far it got
            problems.append(f"{file}: {short[1]}, not in the trend")
            continue
        runs.append(run)
    runs.sort(key=lambda r: r.get("started", ""))
    return runs, problems


@dataclass
class Line:
    label: str
    points: list[tuple[int, float, str]] = field(default_factory=list)  # (run index, %, tooltip)


def _percent(run: dict[str, Any]) -> float | None:
    judged = [o for o in run["outcomes"] if o["outcome"] in JUDGED]
    kept = sum(o["outcome"] == "passed" for o in judged)
    return 100.0 * kept / len(judged) if judged else None


def _tooltip(run: dict[str, Any], percent: float) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in run["counts"].items() if v)
    per = "; ".join(f"{s.name} {s.kept}/{s.judged}" for s in surface_scores(run))
    return f"{run['run_id']}: {percent:.1f}% kept ({counts}). {per}"


def lines(runs: list[dict[str, Any]]) -> list[Line]:
    """One line per (profile, filter set), in order of first appearance."""
    by_key: dict[tuple[str, str], Line] = {}
    for i, run in enumerate(runs):
        percent = _percent(run)
        if percent is None:
            continue
        key = comparable_key(run)
        if key not in by_key:
            target = run.get("target") or {}
            filters = "; ".join(filters_text(run)) or "full run"
            by_key[key] = Line(f"{target.get('name')} · {filters}")
        by_key[key].points.append((i, percent, _tooltip(run, percent)))
    return list(by_key.values())


def _axes(
    runs: list[dict[str, Any]], x: Any, y: Any, left: float, right: float, bottom: float
) -> list[str]:
    parts = []
    for pct in (0, 25, 50, 75, 100):
        parts.append(
            f'<line x1="{left}" x2="{right}" y1="{y(pct):.1f}" y2="{y(pct):.1f}" stroke="#eee"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{y(pct) + 4:.1f}" font-size="11" text-anchor="end">{pct}%</text>'
        )
    step = max(1, -(-len(runs) // MAX_LABELS))
    for i, run in enumerate(runs):
        if i % step and i != len(runs) - 1:
            continue
        label = html.escape(str(run.get("run_id", i))[:20])
        parts.append(
            f'<text x="{x(i):.1f}" y="{bottom + 14}" font-size="10" text-anchor="end" '
            f'transform="rotate(-30 {x(i):.1f} {bottom + 14})">{label}</text>'
        )
    return parts  # fmt: skip


def render_svg(runs: list[dict[str, Any]], width: int = 1000, height: int = 360) -> str:
    if not runs:
        return "<p>No runs found.</p>"
    drawn = lines(runs)
    left, right, top, bottom = 110, 320, 16, 90  # room for the rotated run ids
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(runs)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h * (1 - v / 100)

    parts = [f'<svg id="trend" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="cases kept per profile and filter set over runs">']  # fmt: skip
    parts += _axes(runs, x, y, left, left + plot_w, top + plot_h)
    for k, line in enumerate(drawn):
        colour = PALETTE[k % len(PALETTE)]
        points = [(x(i), y(v), tip) for i, v, tip in line.points]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in points)
            parts.append(
                f'<polyline class="line" fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>'
            )
        parts += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="4" fill="{colour}"><title>{html.escape(tip)}</title></circle>'
                  for px, py, tip in points]  # fmt: skip
        ly = top + 34 * k + 8
        name, _, filters = line.label.partition(" · ")
        parts.append(
            f'<rect x="{left + plot_w + 16}" y="{ly - 8}" width="10" height="10" fill="{colour}"/>'
        )
        parts.append(f'<text class="series" x="{left + plot_w + 32}" y="{ly + 1}" font-size="12"><title>{html.escape(line.label)}</title>'
                     f'{html.escape(name[:44])}<tspan x="{left + plot_w + 32}" dy="14" fill="#616161">{html.escape(filters[:46])}</tspan></text>')  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)
