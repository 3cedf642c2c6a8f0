"""What every report says about a run, computed once from run.json so the words and counts agree.

Vocabulary: a *rule* is a catalogue entry; a *case* is one rule judged for one model (or one fuzz
target). Scores count cases: kept / judged, where judged excludes waived and skipped cases; the
scores of a run that did not reach its end (interrupted, or stopped early by ``-x``/``--maxfail``)
count the cases passed so far, and never say kept.
Every function here is a pure function of the run.json dict (renderers and `merge` share them).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

JUDGED = ("passed", "failed", "error", "fixed")
BROKEN = ("failed", "fixed", "error")  # in the order reports list them
FILTER_NAMES = {"rules": "--rules", "faults": "--fault", "level": "level", "fuzz": "fuzz",
                "fuzz_mode": "fuzz mode", "budget": "budget"}  # fmt: skip
DEFAULT_FILTERS = {"rules": [], "faults": [], "level": None, "fuzz": "full",
                   "fuzz_mode": "deterministic", "budget": None}  # fmt: skip


def shorten(text: Any, limit: int = 160) -> str:
    """One line, at most ``limit`` characters, saying how much was cut."""
    flat = re.sub(r"\s+", " ", str(text if text is not None else "")).strip()
    if len(flat) <= limit + 20:  # cutting a few characters saves nothing
        return flat
    return flat[: limit - 1].rstrip() + f"… (+{len(flat) - limit + 1} chars)"


def source_parts(o: dict[str, Any]) -> tuple[str, str, str]:
    """(document title, section, quote); older run.json files only have "doc § section"."""
    doc, _, section = str(o.get("source") or "").partition(" § ")
    title = o.get("source_title") or doc
    return str(title), str(o.get("section") or section), str(o.get("quote") or "")


@dataclass
class Totals:
    cases: int
    rule_cases: int
    rules_judged: int
    fuzz_targets: int
    catalogue_rules: int

    def sentence(self) -> str:
        text = (
            f"{self.cases} cases: {self.rule_cases} rule × model cases from {self.rules_judged} "
            f"of the catalogue's {self.catalogue_rules} rules"
        )
        return text + (f", and {self.fuzz_targets} fuzz targets" if self.fuzz_targets else "")


def totals(data: dict[str, Any]) -> Totals:
    outcomes = data["outcomes"]
    rule_cases = [o for o in outcomes if o.get("kind") != "fuzz"]
    return Totals(
        cases=len(outcomes),
        rule_cases=len(rule_cases),
        rules_judged=len({o.get("rule") for o in rule_cases}),
        fuzz_targets=len(outcomes) - len(rule_cases),
        catalogue_rules=int((data.get("contracts") or {}).get("rules") or 0),
    )


INCOMPLETE = {"interrupted": "interrupted", "stopped_early": "stopped early"}  # run.json keys


def incomplete(data: dict[str, Any]) -> tuple[str, str] | None:
    """How the run fell short of its plan, as (what, the report's sentence): interrupted (Ctrl-C;
    run.json's ``interrupted`` or its exit 130), stopped early (pytest's ``-x``/``--maxfail``:
    ``stopped_early``) or a merge of shards that are not the whole run (``merge_problems``);
    None for a run that reached its end."""
    for key, what in INCOMPLETE.items():
        record = data.get(key)
        if isinstance(record, dict):
            return what, str(record.get("text") or what)
    problems = data.get("merge_problems")
    if problems:  # shards missing, repeated or unreadable: the merged run is not the whole run
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return "incomplete", f"merge incomplete: {shorten(problems[0], 200)}{more}: not a verdict"
    if data.get("exit_code") == 130:
        return "interrupted", "interrupted: not a verdict"
    return None


def interrupted(data: dict[str, Any]) -> bool:
    """The run did not reach its end (``incomplete``): its scores are how far it got."""
    return incomplete(data) is not None


@dataclass
class Score:
    name: str
    kept: int
    judged: int
    partial: bool = False  # an incomplete run's: how far it got, not a verdict

    @property
    def percent(self) -> float:
        return 100.0 * self.kept / self.judged if self.judged else 0.0

    @property
    def figure(self) -> str:
        """The score's headline; an incomplete run's percentage would read as a verdict."""
        return "incomplete" if self.partial else f"{self.percent:.1f}%"

    def sentence(self) -> str:
        if self.partial:
            return f"{self.kept} of {self.judged} cases judged so far passed"
        return f"{self.kept} of {self.judged} cases kept"


def _scores(outcomes: list[dict[str, Any]], keys_of: Any, partial: bool) -> list[Score]:
    kept: Counter[str] = Counter()
    judged: Counter[str] = Counter()
    for o in outcomes:
        if o["outcome"] in JUDGED:
            for key in keys_of(o):
                judged[key] += 1
                kept[key] += o["outcome"] == "passed"
    return [Score(k, kept[k], judged[k], partial) for k in sorted(judged)]


def surface_scores(data: dict[str, Any]) -> list[Score]:
    return _scores(data["outcomes"], lambda o: [str(o.get("surface"))], interrupted(data))


def level_scores(data: dict[str, Any]) -> list[Score]:
    """A score per conformance level, when the run's rules carry levels (empty otherwise)."""
    return _scores(data["outcomes"], lambda o: o.get("levels") or [], interrupted(data))


@dataclass
class Behaviour:
    """Cases that broke the same documented promise: same outcome, rule kind and source."""

    outcome: str
    kind: str
    cases: list[dict[str, Any]] = field(default_factory=list)

    @property
    def first(self) -> dict[str, Any]:
        return self.cases[0]

    @property
    def rules(self) -> list[str]:
        return sorted({str(o.get("rule")) for o in self.cases})

    @property
    def models(self) -> list[str]:
        return sorted({str(o.get("model")) for o in self.cases if o.get("model")})


def behaviours(data: dict[str, Any]) -> list[Behaviour]:
    """Broken cases grouped by behaviour, failures first, the largest groups first."""
    groups: dict[tuple[str, str, str], Behaviour] = {}
    for o in data["outcomes"]:
        if o["outcome"] not in BROKEN:
            continue
        key = (o["outcome"], str(o.get("kind")), str(o.get("source")))
        groups.setdefault(key, Behaviour(o["outcome"], str(o.get("kind")))).cases.append(o)
    return sorted(groups.values(), key=lambda b: (BROKEN.index(b.outcome), -len(b.cases), b.kind))


def broken_cases(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Failed, fixed and errored cases, in the order of their behaviours."""
    return [o for b in behaviours(data) for o in b.cases]


def filters_text(data: dict[str, Any]) -> list[str]:
    """The filters that narrowed this run, as "name: value" (nothing for a full run)."""
    out = []
    for key, value in (data.get("filters") or {}).items():
        if value in (None, [], "") or DEFAULT_FILTERS.get(key, object()) == value:
            continue
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        out.append(f"{FILTER_NAMES.get(key, key)}: {shown}")
    if data.get("shard"):
        out.append(f"shard {data['shard']}")  # one shard of a split run (see `pixelproof merge`)
    return out


def comparable_key(data: dict[str, Any]) -> tuple[str, str]:
    """(profile identity, filter set): runs compare in a trend or diff only when both agree."""
    target = data.get("target") or {}
    identity = str(target.get("claims_hash") or target.get("name") or "?")
    filters = data.get("filters") or {}
    shown = {k: v for k, v in filters.items() if k not in ("budget",)}
    return identity, repr((sorted(shown.items()), data.get("shard")))


def matrix(data: dict[str, Any]) -> dict[str, dict[tuple[str, str], Counter[str]]]:
    """Per surface: (kind, model or "any model") -> outcome counts."""
    out: dict[str, dict[tuple[str, str], Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for o in data["outcomes"]:
        if o.get("kind"):
            out[str(o.get("surface"))][(str(o["kind"]), o.get("model") or "any model")][
                o["outcome"]
            ] += 1
    return out
