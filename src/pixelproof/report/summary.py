"""The run summary: per surface and rule kind, passed / failed / errors / waived / skipped."""

from __future__ import annotations

from pixelproof.report.results import OUTCOMES, Results
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
        lines += [
            f"  {o.props.get('case', o.nodeid)}  ({o.props.get('source', '')})"
            for o in sorted(failed, key=lambda o: o.nodeid)
        ]
    return lines


def render_markdown(data: dict[str, object]) -> str:
    """summary.md: short enough for a CI comment."""
    counts: dict[str, int] = data["counts"]  # type: ignore[assignment]
    outcomes: list[dict[str, object]] = data["outcomes"]  # type: ignore[assignment]
    target: dict[str, object] = data["target"]  # type: ignore[assignment]
    verdict = {
        0: "all documented promises kept",
        1: "promises broken",
        3: "errors only (target unreachable?)",
    }
    lines = [
        f"## pixelproof: {target.get('name')} — {verdict.get(int(data['exit_code']), 'see report')}",  # type: ignore[arg-type]
        "",
        f"Run `{data['run_id']}`, pixelproof {data['pixelproof_version']}, {data['requests_sent']} requests, {data['images_bought']} images.",
        "",
        "| " + " | ".join(OUTCOMES) + " |",
        "|" + "---|" * len(OUTCOMES),
        "| " + " | ".join(str(counts.get(o, 0)) for o in OUTCOMES) + " |",
    ]
    broken = [o for o in outcomes if o["outcome"] in ("failed", "fixed", "error")]
    if broken:
        lines += ["", "| outcome | rule | source |", "|---|---|---|"]
        lines += [f"| {o['outcome']} | `{o['case']}` | {o['source']} |" for o in broken[:50]]
        if len(broken) > 50:
            lines.append(f"| … | {len(broken) - 50} more in run.json | |")
    return "\n".join(lines) + "\n"
