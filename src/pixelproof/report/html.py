"""report.html: one self-contained page (no network, no external assets) rendered from run.json.

Failures come first and open (a printout shows expected vs observed), grouped by behaviour with the
source document's title, section and quoted sentence; then a score per surface (and per level when
rules carry levels), and a matrix per surface of rule kinds × models, failing rows and columns first,
sized to fit the page. Rendered with Jinja2 templates and autoescaping, never by concatenation.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass
from typing import Any

import jinja2
from markupsafe import Markup

from pixelproof.report.facts import (
    behaviours,
    filters_text,
    interrupted,
    level_scores,
    matrix,
    shorten,
    source_parts,
    surface_scores,
    totals,
)
from pixelproof.report.results import OUTCOMES
from pixelproof.report.summary import first_line, spent_text, verdict

WORST = ("error", "failed", "fixed", "waived", "skipped", "not-claimed", "passed")
BAD = ("error", "failed", "fixed")


@functools.cache
def environment() -> jinja2.Environment:
    """The templates beside this module; autoescaping on for every HTML template."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("pixelproof.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "html.j2"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass
class Cell:
    kept: int
    total: int
    worst: str
    title: str


@dataclass
class SurfaceMatrix:
    surface: str
    kinds: list[str]
    models: list[str]
    cells: dict[tuple[str, str], Cell]


def _cell(counts: Counter[str]) -> Cell:
    worst = next((o for o in WORST if counts.get(o)), "passed")
    title = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    return Cell(counts["passed"], sum(counts.values()), worst, title)


def matrices(data: dict[str, Any]) -> list[SurfaceMatrix]:
    """Per surface, kinds as rows and models as columns, those with a bad outcome first."""
    out = []
    for surface, raw in sorted(matrix(data).items()):
        cells = {key: _cell(counts) for key, counts in raw.items()}
        bad_kinds = {k for (k, _), c in cells.items() if c.worst in BAD}
        bad_models = {m for (_, m), c in cells.items() if c.worst in BAD}
        kinds = sorted({k for k, _ in cells}, key=lambda k: (k not in bad_kinds, k))
        models = sorted(
            {m for _, m in cells}, key=lambda m: (m not in bad_models, m == "any model", m)
        )
        out.append(SurfaceMatrix(surface, kinds, models, cells))
    return out


def render_html(data: dict[str, Any], trend_svg: str = "") -> str:
    """The page for one run; a pure function of run.json (``merge`` re-renders with it)."""
    template = environment().get_template("report.html.j2")
    return template.render(
        target=data["target"],
        run_id=data["run_id"],
        started=data["started"],
        version=data["pixelproof_version"],
        spent=spent_text(data),
        exit_code=data["exit_code"],
        verdict=verdict(data),
        interrupted=interrupted(data),
        totals=totals(data),
        filters=filters_text(data),
        counts=[(o, data["counts"].get(o, 0)) for o in OUTCOMES],
        behaviours=behaviours(data),
        surface_scores=surface_scores(data),
        level_scores=level_scores(data),
        matrices=matrices(data),
        source_parts=source_parts,
        first_line=first_line,
        shorten=shorten,
        trend_svg=Markup(trend_svg),  # built by trend.render_svg, which escapes its own text
    )
