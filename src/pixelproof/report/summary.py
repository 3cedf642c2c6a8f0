"""The run summary: per surface and rule kind, passed / failed / errors / waived / skipped."""

from __future__ import annotations

from pixelproof.results import OUTCOMES, Results
from pixelproof.target import Profile


def render_terminal(results: Results, profile: Profile) -> list[str]:
    table = results.by("surface", "kind")
    header = f"{'surface':<16} {'rule kind':<18} " + " ".join(f"{o:>7}" for o in OUTCOMES)
    lines = [f"pixelproof: {profile.name}", header, "-" * len(header)]
    for (surface, kind), counts in sorted(table.items()):
        lines.append(f"{surface:<16} {kind:<18} " + " ".join(f"{counts[o]:>7}" for o in OUTCOMES))
    totals = results.counts()
    lines.append("-" * len(header))
    lines.append(f"{'total':<35} " + " ".join(f"{totals[o]:>7}" for o in OUTCOMES))
    failed = [o for o in results.outcomes.values() if o.outcome in ("failed", "fixed")]
    if failed:
        lines.append("")
        lines.append("broken promises:")
        lines += [f"  {o.props.get('case', o.nodeid)}  ({o.props.get('source', '')})" for o in sorted(failed, key=lambda o: o.nodeid)]
    return lines
