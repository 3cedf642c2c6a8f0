"""The run summary: per surface and rule kind, passed / failed / errors / waived / skipped."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from pixelproof.cli.exits import JUDGED
from pixelproof.report.facts import (
    Score,
    behaviours,
    broken_cases,
    filters_text,
    incomplete,
    level_scores,
    shorten,
    source_parts,
    totals,
)
from pixelproof.report.results import OUTCOMES, Results

if TYPE_CHECKING:
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
    return lines + _terminal_behaviours(results)


def _terminal_behaviours(results: Results) -> list[str]:
    """Broken promises grouped by behaviour, each with one expected/observed pair and its cases."""
    data = {"outcomes": [{**o.props, "outcome": o.outcome, "message": o.message}
                         for o in sorted(results.outcomes.values(), key=lambda o: o.nodeid)]}  # fmt: skip
    groups = [b for b in behaviours(data) if b.outcome in ("failed", "fixed")]
    if not groups:
        return []
    cases = sum(len(b.cases) for b in groups)
    lines = ["", f"broken promises: {len(groups)} behaviours, {cases} cases"]
    for b in groups:
        on = f" on {', '.join(b.models)}" if b.models else ""
        lines.append(f"  {b.kind} × {len(b.cases)}{on}  ({b.first.get('source', '')})")
        if b.first.get("expected") or b.first.get("observed"):
            lines.append(f"    expected: {shorten(b.first.get('expected'), 150)}")
            lines.append(f"    observed: {shorten(b.first.get('observed'), 150)}")
        lines += [f"    - {o.get('case')}" for o in b.cases]
    return lines


VERDICTS = {
    0: "all documented promises kept",
    1: "promises broken",
    3: "errors only: no promise broken, but cases could not be judged (see the errors)",
}
LIST_LIMIT = 50


def verdict(data: dict[str, Any]) -> str:
    """The headline: an interrupted run or one that judged nothing never reads as kept; one
    stopped early (-x) says so beside what it found."""
    short = incomplete(data)
    if short is not None and short[0] in ("interrupted", "incomplete"):
        return short[1]
    code = int(data["exit_code"])
    if short is not None:
        found = VERDICTS[code] if code in (1, 3) else "nothing broken so far: not a verdict"
        return f"{found}; {short[1]}"
    counts = data["counts"]
    if code in (0, 3) and not counts.get("error") and not any(counts.get(o, 0) for o in JUDGED):
        return "nothing judged (no case passed or failed): not a verdict"
    skipped = [o for o in data.get("outcomes") or [] if o.get("outcome") == "skipped"]
    if code == 0 and skipped:  # kept, but only where judged: say how much was not
        why, count = Counter(_skip_reason(o) for o in skipped).most_common(1)[0]
        most = "" if count == len(skipped) else f"{count} of them: "
        return (f"every promise judged was kept; {len(skipped)} case(s) skipped, not judged "
                f"({most}{why})")  # fmt: skip
    return VERDICTS.get(code, "see report")


def _skip_reason(outcome: dict[str, Any]) -> str:
    lines = str(outcome.get("message") or "skipped").splitlines() or ["skipped"]
    return shorten(lines[0].removeprefix("Skipped: "), 100)


def _cell(text: Any, limit: int = 160) -> str:
    """Table-safe text: one line, no pipes or backticks breaking the markdown."""
    return shorten(text, limit).replace("|", "\\|").replace("`", "'")


def _behaviour_rows(data: dict[str, Any]) -> list[str]:
    groups = behaviours(data)
    if not groups:
        return []
    cases = sum(len(b.cases) for b in groups)
    lines = [
        "",
        f"### What broke: {len(groups)} behaviours, {cases} cases",
        "",
        "| outcome | behaviour | source | models | cases |",
        "|---|---|---|---|---|",
    ]
    for b in groups:
        title, section, _ = source_parts(b.first)
        rules = ", ".join(f"`{r}`" for r in b.rules[:3]) + (
            f" +{len(b.rules) - 3} more" if len(b.rules) > 3 else ""
        )
        what = _cell(b.first.get("expected") or b.first.get("statement"), 100)
        models = _cell(", ".join(b.models) or "any model", 120)
        lines.append(
            f"| {b.outcome} | {b.kind}: {what} ({rules}) | {_cell(title, 60)} § {_cell(section, 60)} "
            f"| {models} | {len(b.cases)} |"
        )
    return lines


def _case_lines(data: dict[str, Any]) -> list[str]:
    broken = broken_cases(data)
    if not broken:
        return []
    lines = ["", "### Cases", ""]
    for o in broken[:LIST_LIMIT]:
        _, section, _ = source_parts(o)
        if o.get("expected") or o.get("observed"):
            why = f"expected {shorten(o.get('expected'), 120)}; observed {shorten(o.get('observed'), 120)}"
        else:
            why = shorten(first_line(o.get("message")), 200)
        lines.append(f"- **{o['outcome']}** `{o['case']}` (§ {section}): {why}")
    if len(broken) > LIST_LIMIT:
        lines.append(f"- … {len(broken) - LIST_LIMIT} more in run.json")
    return lines


def first_line(message: Any) -> str:
    """The line of a message that says what went wrong (not a traceback's file line)."""
    lines = [line for line in str(message or "").splitlines() if line.strip()]
    return next((line for line in reversed(lines) if "Error" in line), lines[-1] if lines else "")


def spent_text(data: dict[str, Any]) -> str:
    """What the run sent and bought; a lower bound when a worker crashed in a case (run.json's
    requests_uncounted): what that case sent and bought reached no count."""
    spent = f"{data['requests_sent']} requests, {data['images_bought']} images"
    uncounted = data.get("requests_uncounted") or []
    if not uncounted:
        return spent
    return f"at least {spent} (not counted: those of {len(uncounted)} case(s) whose worker crashed)"


def _level_text(score: Score) -> str:
    """A level's score; an interrupted run's says how far it got, with no percentage."""
    if score.partial:
        return f"{score.name} {score.sentence()}"
    return f"{score.name} {score.figure} ({score.sentence()})"


def render_markdown(data: dict[str, Any]) -> str:
    """summary.md: short enough for a CI comment, and says why each failure failed."""
    counts: dict[str, int] = data["counts"]
    target: dict[str, Any] = data["target"]
    lines = [
        f"## pixelproof: {target.get('name')} — {verdict(data)}",
        "",
        f"Run `{data['run_id']}`, pixelproof {data['pixelproof_version']}, {spent_text(data)}. "
        f"{totals(data).sentence()}.",
    ]
    notice = filters_text(data)
    if notice:
        lines += [
            "",
            "Run options: "
            + "; ".join(notice)
            + " (compare only with runs under the same options).",
        ]
    lines += [
        "",
        "| " + " | ".join(OUTCOMES) + " |",
        "|" + "---|" * len(OUTCOMES),
        "| " + " | ".join(str(counts.get(o, 0)) for o in OUTCOMES) + " |",
    ]
    levels = level_scores(data)
    if levels:
        short = incomplete(data)
        head = f"Per level, {short[0]}: " if short is not None else "Per level: "
        lines += ["", head + "; ".join(_level_text(s) for s in levels) + "."]
    return "\n".join(lines + _behaviour_rows(data) + _case_lines(data)) + "\n"
