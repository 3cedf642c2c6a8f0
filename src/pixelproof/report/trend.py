"""Conformance over many runs, per surface, drawn as an inline SVG (no external assets)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from pixelproof.report.diff import RunFileError, load_run
from pixelproof.report.html import scores

PALETTE = ("#1565c0", "#2e7d32", "#c62828", "#6a1b9a", "#ef6c00", "#00838f", "#5d4037")


def load_history(directory: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every run.json below ``directory``, oldest first; unreadable ones are listed, not fatal."""
    runs, problems = [], []
    for file in sorted(directory.glob("*/run.json")):
        try:
            runs.append(load_run(file))
        except RunFileError as exc:
            problems.append(str(exc))
    runs.sort(key=lambda r: r.get("started", ""))
    return runs, problems


def series(runs: list[dict[str, Any]]) -> dict[str, list[float | None]]:
    surfaces = sorted({s for r in runs for s in scores(r)})
    out: dict[str, list[float | None]] = {s: [] for s in surfaces}
    for run in runs:
        per = scores(run)
        for s in surfaces:
            out[s].append(per[s][2] if s in per else None)
    return out


def render_svg(runs: list[dict[str, Any]], width: int = 900, height: int = 320) -> str:
    if not runs:
        return "<p>No runs found.</p>"
    data = series(runs)
    left, right, top, bottom = 48, 180, 16, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(runs)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h * (1 - v / 100)

    parts = [
        f'<svg id="trend" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" aria-label="conformance per surface over runs">'
    ]
    for pct in (0, 25, 50, 75, 100):
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(pct):.1f}" y2="{y(pct):.1f}" stroke="#eee"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{y(pct) + 4:.1f}" font-size="11" text-anchor="end">{pct}%</text>'
        )
    for i, run in enumerate(runs):
        label = html.escape(str(run.get("run_id", i))[:16])
        parts.append(
            f'<text x="{x(i):.1f}" y="{height - 12}" font-size="10" text-anchor="middle">{label}</text>'
        )
    for k, (surface, values) in enumerate(sorted(data.items())):
        colour = PALETTE[k % len(PALETTE)]
        points = [(x(i), y(v)) for i, v in enumerate(values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>'
            )
        parts += [
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>' for px, py in points
        ]
        ly = top + 16 * k + 8
        parts.append(
            f'<rect x="{left + plot_w + 16}" y="{ly - 8}" width="10" height="10" fill="{colour}"/>'
        )
        parts.append(
            f'<text x="{left + plot_w + 32}" y="{ly + 1}" font-size="12">{html.escape(surface)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
