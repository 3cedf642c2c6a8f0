"""`pixelproof plan`: what a run would send and buy, before it spends anything."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from pixelproof.catalogue import Catalogue
from pixelproof.plan import Case, cases_for
from pixelproof.polling import Cadence
from pixelproof.target import Profile

TYPICAL_JOB_S = 20.0  # documented: 10-20 s before the first useful query


@dataclass
class PlanSummary:
    cases: int = 0
    probes: int = 0
    requests: int = 0
    images: int = 0
    cost_usd: float = 0.0
    unpriced_images: int = 0
    per_surface: dict[str, dict[str, float]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float))
    )
    unrun: list[str] = field(default_factory=list)  # case ids left out by the budget

    def as_dict(self) -> dict[str, Any]:
        return {
            "cases": self.cases, "probes": self.probes, "requests": self.requests, "images": self.images,
            "cost_usd": round(self.cost_usd, 4), "unpriced_images": self.unpriced_images,
            "per_surface": {s: dict(v) for s, v in self.per_surface.items()}, "unrun_by_budget": self.unrun,
        }  # fmt: skip


def _polls(catalogue: Catalogue, profile: Profile, surface: str) -> int:
    cadence = Cadence.for_surface(catalogue, profile, surface)
    remaining = max(0.0, TYPICAL_JOB_S / profile.time_scale - cadence.initial_delay_s)
    return 1 + math.ceil(remaining / cadence.interval_s)


def build_plan(catalogue: Catalogue, profile: Profile, budget: int | None = None) -> PlanSummary:
    cases: list[Case] = cases_for(catalogue, profile)
    summary = PlanSummary(cases=len(cases))
    seen: set[str] = set()
    budget = budget if budget is not None else profile.budget_images
    for case in cases:
        new = [p for p in case.probes if p.key not in seen]
        images = sum(p.images for p in new)
        if budget is not None and images and summary.images + images > budget:
            summary.unrun.append(case.id)
            continue
        for probe in new:
            seen.add(probe.key)
            requests = 1 + (
                _polls(catalogue, profile, probe.surface) if probe.op in ("task", "jimeng") else 0
            )
            summary.probes += 1
            summary.requests += requests
            summary.images += probe.images
            entry = catalogue.model(case.surface, case.model or "")
            price = entry.price_per_image_usd if entry else None
            bucket = summary.per_surface[probe.surface]
            bucket["requests"] += requests
            bucket["images"] += probe.images
            if price is None:
                summary.unpriced_images += probe.images
            else:
                summary.cost_usd += price * probe.images
                bucket["cost_usd"] += price * probe.images
    return summary


def render_plan(summary: PlanSummary, profile: Profile) -> list[str]:
    lines = [
        f"pixelproof plan: {profile.name}"
        + (" [paid]" if profile.paid and "paid" not in profile.name else ""),
        "",
    ]
    lines.append(f"{'surface':<18}{'requests':>10}{'images':>8}{'cost USD':>10}")
    for surface, v in sorted(summary.per_surface.items()):
        lines.append(
            f"{surface:<18}{int(v['requests']):>10}{int(v['images']):>8}{v.get('cost_usd', 0.0):>10.4f}"
        )
    lines.append(f"{'total':<18}{summary.requests:>10}{summary.images:>8}{summary.cost_usd:>10.4f}")
    lines.append("")
    lines.append(
        f"{summary.cases} rule x model cases need {summary.probes} distinct requests (shared where identical)."
    )
    if summary.unpriced_images:
        lines.append(
            f"{summary.unpriced_images} images are for models without a documented price (not in the cost)."
        )
    if summary.unrun:
        lines.append(
            f"The budget leaves {len(summary.unrun)} cases unrun: {', '.join(summary.unrun[:10])}"
            + (" ..." if len(summary.unrun) > 10 else "")
        )
    return lines
