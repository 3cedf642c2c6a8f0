"""Contract fuzzing with schemathesis, from the same contracts and judged by the same rules.

The suites check what the documents state; fuzzing looks for what nobody stated: inputs a target
should refuse but takes, or takes and then answers with a server error or a shape outside its
contract. One fuzz *target* is (surface, operation, mode):

* ``negative``: requests outside the contract or refused by a rule (the issue's families first:
  rejected ratio/size rows, invalid ratios, n out of range, too many or malformed references,
  unknown enum values; then schemathesis' negative generation) must get a 4xx;
* ``positive``: documented requests (an anchor, then schemathesis' positive generation from the
  documented subset) must be accepted, with images that decode in the predicted number and size;
* ``stateful``: schemathesis' state machine follows the submit -> query links of the task APIs.

Cost is bounded, not estimated: each target gets an *allowance* (the run's budget split over the
planned targets, so the sum never exceeds it, however xdist spreads them), and every request
fuzzing sends (cases, polls, image downloads) takes one unit or is not sent. Examples are capped
at the allowance, shrinking is off and failures are collected, never raised inside Hypothesis, so
no phase replays requests behind the budget's back.
"""

from __future__ import annotations

import fnmatch
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pixelproof.fuzz.findings import Finding, curl_of

if TYPE_CHECKING:
    from pixelproof.catalogue import Catalogue
    from pixelproof.target import Profile

MODES = ("negative", "positive", "stateful")
LEVELS = {"off": (), "negative": ("negative",), "full": MODES}
TASK_LINKS = {
    "tasks-action": "POST /v1/images/generations -> GET /v1/tasks/{task_id}",
    "tasks-official": "POST /v1/images/generations -> GET /v1/tasks/{task_id}",
    "jimeng-official": "POST /jm -> POST /jm",
}
STATEMENTS = {
    "negative": "Requests outside the contract, or refused by a rule, get a 4xx with the documented error body; never a 5xx, never a 2xx.",
    "positive": "Documented requests are accepted; answers match the contract and carry decodable images of the predicted number and size.",
    "stateful": "Following the contract's links (submit, then query the task) yields answers inside the contract, and completed tasks carry the predicted images.",
}  # fmt: skip


def fuzz_level(option: str, profile: Profile) -> str:
    """``auto`` is ``full`` against a free target and ``negative`` against a paid one."""
    if option == "auto":
        return "negative" if profile.paid else "full"
    return option


@dataclass(frozen=True)
class FuzzTarget:
    surface: str
    label: str  # "POST /v1/images/generations", or "A -> B" for a stateful target
    operation_id: str
    mode: str
    allowance: int = 0
    contract: str = ""

    @property
    def id(self) -> str:
        return f"{self.surface} {self.label} {self.mode}"

    @property
    def rule_id(self) -> str:
        return f"fuzz.{self.surface}.{self.operation_id}.{self.mode}"

    def properties(self) -> list[tuple[str, Any]]:
        """The rule metadata suites attach to their items, so reports group fuzz with the rest."""
        return [("rule", self.rule_id), ("case", self.id), ("kind", "fuzz"), ("surface", self.surface),
                ("model", ""), ("severity", "MUST"), ("source", f"{self.contract} § {self.operation_id}"),
                ("statement", STATEMENTS[self.mode])]  # fmt: skip


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(label, operationId, takes input beyond a path id) for each operation of a document."""
    return [
        (f"{method.upper()} {path}", op["operationId"],
         "requestBody" in op or any(p.get("in") == "query" for p in op.get("parameters", [])))
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict)
    ]  # fmt: skip


def plan_targets(catalogue: Catalogue, profile: Profile, level: str, budget: int,
                 patterns: list[str] | tuple[str, ...] = ()) -> list[FuzzTarget]:  # fmt: skip
    """Every (surface, operation, mode) the target's claims allow, with the budget split over
    them (the first ones get the remainder). ``patterns`` filter by rule id, as ``--rules``."""
    if not LEVELS[level]:  # off: no contract is read, schemathesis is not even imported
        return []
    from pixelproof.fuzz.contracts import TAILORS, fuzz_document

    planned: list[FuzzTarget] = []
    for surface in profile.surfaces:
        if surface not in TAILORS:
            continue  # a vendor surface is judged by its rule set; fuzzing it needs a tailor first
        contract = catalogue.surfaces[surface].openapi
        ops = _operations(fuzz_document(catalogue, surface))
        for mode in LEVELS[level]:
            if mode == "stateful":
                if surface in TASK_LINKS:
                    ids = "->".join(dict.fromkeys(i for _, i, _ in ops))
                    planned.append(
                        FuzzTarget(surface, TASK_LINKS[surface], ids, mode, contract=contract)
                    )
                continue
            # a negative path id only addresses another (missing) resource: nothing to refuse
            planned += [FuzzTarget(surface, label, op_id, mode, contract=contract)
                        for label, op_id, has_input in ops if has_input or mode != "negative"]  # fmt: skip
    if patterns:
        planned = [t for t in planned if any(fnmatch.fnmatchcase(t.rule_id, p) for p in patterns)]
    share, extra = divmod(max(budget, 0), len(planned)) if planned else (0, 0)
    return [FuzzTarget(t.surface, t.label, t.operation_id, t.mode, share + (i < extra), t.contract)
            for i, t in enumerate(planned)]  # fmt: skip


@dataclass
class FuzzResult:
    """What one target's run found, and what it cost."""

    target: FuzzTarget
    findings: list[Finding] = field(default_factory=list)
    requests: int = 0
    images: int = 0  # images the target produced for fuzzing (what positive fuzzing bought)
    examples: int = 0
    errors: list[str] = field(default_factory=list)
    seed: int | None = None
    elapsed_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    answers: Counter[str] = field(default_factory=Counter)  # "expected->status class": how often
    rate_limited: int = 0  # cases still answered 429 after the client's waits: not judged

    def distinct(self) -> list[tuple[Finding, int]]:
        """Findings grouped by (operation, check, expected), first request kept, with a count."""
        groups: dict[tuple[str, str, str], list[Finding]] = {}
        for f in self.findings:
            groups.setdefault((f.operation, f.check, f.expected), []).append(f)
        return [(items[0], len(items)) for items in groups.values()]

    def report(self, limit: int = 6) -> str:
        groups = self.distinct()
        lines = [f"fuzzing {self.target.id} found {len(groups)} broken promise(s) in {self.requests} "
                 f"request(s) ({self.examples} cases{'' if self.seed is None else f', seed {self.seed}'}):"]  # fmt: skip
        for i, (finding, count) in enumerate(groups[:limit], 1):
            lines.append(f"[{i}] " + finding.render(count))
        if len(groups) > limit:
            lines.append(f"... and {len(groups) - limit} more")
        return "\n".join(lines)


class Allowance:
    """The requests one target may still send; a request that does not fit is not sent."""

    def __init__(self, total: int) -> None:
        self.total, self.used = total, 0

    def take(self) -> bool:
        if self.used >= self.total:
            return False
        self.used += 1
        return True

    def charge(self, requests: int) -> None:
        """Requests sent beyond the one taken (a 429 asked again, a redirect followed), within
        what was left (the client is told the most it may send): counted, never past it."""
        self.used += requests

    @property
    def left(self) -> int:
        return self.total - self.used


def new_seed(mode: str) -> int | None:
    """None in deterministic mode (derandomized, fixed); when exploring, a fresh seed, reported
    with the results, or ``$PIXELPROOF_FUZZ_SEED`` to replay a nightly run's examples."""
    if mode == "deterministic":
        return None
    fixed = os.environ.get("PIXELPROOF_FUZZ_SEED")
    return int(fixed) if fixed else random.SystemRandom().randrange(2**32)


def run_target(session: Any, target: FuzzTarget) -> FuzzResult:
    """Run one target with a ``FuzzSession`` (see ``fuzz_runner``)."""
    started = time.perf_counter()
    result = session.run(target)
    result.elapsed_s = time.perf_counter() - started
    return result


__all__ = [
    "Finding",
    "FuzzResult",
    "FuzzTarget",
    "curl_of",
    "fuzz_level",
    "plan_targets",
    "run_target",
]


class BudgetSpent(Exception):
    """Raised inside Hypothesis when the allowance is gone: stops generation at once (an
    ``assume`` would make Hypothesis draw hundreds of discarded cases first)."""
