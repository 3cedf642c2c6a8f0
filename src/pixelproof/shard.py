"""Sharding a run across CI runners: a deterministic split of the collected tests by request group.

Cases that share a probe (one billable request) must run on the same shard, or two runners would
each buy the same image and the merged run would count it twice. So the unit of the split is the
*request group*: the connected cases of the "shares a probe with" relation (a fuzz target or any
other test is a group of its own). Groups are dealt to shards greedily by cost (distinct probes,
or a fuzz target's request allowance), largest first, ties broken by name: every runner collects
the same tests and so computes the same split, with no coordination between runners.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

SHARD_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


class ShardError(ValueError):
    """A --shard value that is not K/N with 1 <= K <= N."""


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    total: int

    def __str__(self) -> str:
        return f"{self.index}/{self.total}"


def parse_shard(text: str) -> Shard:
    match = SHARD_RE.match(text or "")
    if not match:
        raise ShardError(f"--shard takes K/N (e.g. 2/3), not {text!r}")
    index, total = int(match.group(1)), int(match.group(2))
    if total < 1 or not 1 <= index <= total:
        raise ShardError(f"--shard {text}: K must be between 1 and N (N >= 1)")
    return Shard(index, total)


def _probe_keys(item: Any) -> list[str]:
    callspec = getattr(item, "callspec", None)
    case = callspec.params.get("case") if callspec else None
    return [p.key for p in getattr(case, "probes", ())]


def _cost(item: Any, keys: list[str]) -> int:
    callspec = getattr(item, "callspec", None)
    fuzzed = callspec.params.get("fuzzed") if callspec else None
    allowance = getattr(fuzzed, "allowance", None)
    return int(allowance) if isinstance(allowance, int) and allowance > 0 else max(len(keys), 1)


def key_components(key_lists: Iterable[Iterable[str]]) -> dict[str, str]:
    """Each key -> the smallest key of its component, keys joined when they appear in one list
    (union-find). One request group of a run: the xdist group of its cases (schedule.py), the
    unit a shard takes whole (below)."""
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key

    for keys in key_lists:
        ordered = sorted(keys)
        for key in ordered[1:]:
            a, b = root(ordered[0]), root(key)
            parent[max(a, b)] = min(a, b)
        for key in ordered:
            root(key)
    return {key: root(key) for key in parent}


def request_groups(items: list[Any]) -> list[list[Any]]:
    """Items joined when they share a probe key, in a stable order (an item without probes is a
    group of its own)."""
    keys = [_probe_keys(item) for item in items]
    roots = key_components(keys)
    groups: dict[Any, list[Any]] = {}
    for i, item in enumerate(items):
        groups.setdefault(roots[keys[i][0]] if keys[i] else i, []).append(item)
    return sorted(groups.values(), key=lambda g: min(it.nodeid for it in g))


def assign(items: list[Any], total: int) -> list[list[Any]]:
    """The items of each shard (index 0 = shard 1): greedy by group cost, deterministic."""
    weighted = []
    for group in request_groups(items):
        keys = {k for it in group for k in _probe_keys(it)}
        cost = len(keys) if keys else sum(_cost(it, []) for it in group)
        weighted.append((cost, min(it.nodeid for it in group), group))
    weighted.sort(key=lambda w: (-w[0], w[1]))
    loads = [0] * total
    shards: list[list[Any]] = [[] for _ in range(total)]
    for cost, _, group in weighted:
        target = min(range(total), key=lambda s: (loads[s], s))
        loads[target] += cost
        shards[target].extend(group)
    return shards


def select(items: list[Any], shard: Shard) -> tuple[list[Any], list[Any]]:
    """(kept, dropped) for this shard, each in collection order."""
    mine = {id(it) for it in assign(items, shard.total)[shard.index - 1]}
    kept = [it for it in items if id(it) in mine]
    return kept, [it for it in items if id(it) not in mine]
