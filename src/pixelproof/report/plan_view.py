"""`pixelproof plan`: what a run would send and buy, before it spends anything."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pixelproof.plan import Case, cases_for
from pixelproof.polling import Cadence

if TYPE_CHECKING:
    from pixelproof.catalogue import Catalogue
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
    # (surface, model, tier) -> [images, documented USD per image, "doc § section" of the price]
    priced: dict[tuple[str, str, str], list[Any]] = field(default_factory=dict)
    unpriced_models: set[tuple[str, str]] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        return {
            "cases": self.cases, "probes": self.probes, "requests": self.requests, "images": self.images,
            "cost_usd": round(self.cost_usd, 4), "unpriced_images": self.unpriced_images,
            "per_surface": {s: dict(v) for s, v in self.per_surface.items()}, "unrun_by_budget": self.unrun,
            "priced": [{"surface": s, "model": m, "tier": t, "images": n, "usd_per_image": p,
                        "cost_usd": round(n * p, 4), "source": src}
                       for (s, m, t), (n, p, src) in sorted(self.priced.items())],
            "unpriced_models": [f"{s}/{m}" for s, m in sorted(self.unpriced_models)],
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
            _cost(summary, catalogue, case, probe.images, requests)
    return summary


def _cost(
    summary: PlanSummary, catalogue: Catalogue, case: Case, images: int, requests: int
) -> None:
    """Add one probe's requests and images; price its images at the model's documented price
    per image, per resolution tier (a tier is billed on its own even when one price is listed)."""
    bucket = summary.per_surface[case.surface]
    bucket["requests"] += requests
    bucket["images"] += images
    if not images:
        return
    entry = catalogue.model(case.surface, case.model or "")
    price = entry.price_per_image_usd if entry else None
    if price is None or entry is None:
        summary.unpriced_images += images
        summary.unpriced_models.add((case.surface, case.model or "*"))
        return
    summary.cost_usd += price * images
    bucket["cost_usd"] += price * images
    key = (case.surface, entry.model, case.rule.tier or "default")
    source = f"{entry.source.doc} § {entry.source.section}"
    summary.priced.setdefault(key, [0, price, source])[0] += images


def render_plan(summary: PlanSummary, profile: Profile) -> list[str]:
    lines = [
        f"pixelproof plan: {profile.name}"
        + (" [paid]" if profile.paid and "paid" not in profile.name else ""),
        "",
    ]
    lines.append(f"{'surface':<18}{'requests':>10}{'images':>8}{'cost USD':>12}")
    for surface, v in sorted(summary.per_surface.items()):
        priced = any(s == surface for s, _, _ in summary.priced)
        cost = f"{v.get('cost_usd', 0.0):>12.4f}" if priced else f"{'not priced':>12}"
        lines.append(f"{surface:<18}{int(v['requests']):>10}{int(v['images']):>8}{cost}")
    lines.append(f"{'total':<18}{summary.requests:>10}{summary.images:>8}{summary.cost_usd:>12.4f}")
    lines += ["", *_price_lines(summary)]
    lines.append(
        f"{summary.cases} rule x model cases need {summary.probes} distinct requests (shared where identical)."
    )
    if summary.unpriced_images:
        models = ", ".join(f"{s}/{m}" for s, m in sorted(summary.unpriced_models))
        lines.append(
            f"{summary.unpriced_images} images are for models whose documents give no price (not in "
            f"the cost): {models}."
        )
    if summary.unrun:
        lines.append(
            f"The budget leaves {len(summary.unrun)} cases unrun: {', '.join(summary.unrun[:10])}"
            + (" ..." if len(summary.unrun) > 10 else "")
        )
    return lines


def _price_lines(summary: PlanSummary) -> list[str]:
    """Priced images per model and resolution tier, with the documented price and its source."""
    if not summary.priced:
        return []
    lines = [
        f"{'surface / model':<40}{'tier':>8}{'images':>8}{'USD/image':>11}{'cost USD':>10}  source"
    ]
    for (surface, model, tier), (images, price, source) in sorted(summary.priced.items()):
        lines.append(f"{surface + ' / ' + model:<40}{tier:>8}{images:>8}{price:>11.6f}"
                     f"{images * price:>10.4f}  {source}")  # fmt: skip
    lines.append(
        "Each tier is billed on its own; where a document lists one price per image for a model, "
        "every tier is costed at that price (no per-tier price is documented)."
    )
    return [*lines, ""]
