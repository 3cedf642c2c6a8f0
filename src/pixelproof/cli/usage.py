"""Usage checks made before anything runs: a typo in a CI job is exit 2 with one clear line.

A glob that matches no rule, a worker count pytest-xdist would reject, or a filter naming a kind,
surface or model the catalogue does not have would otherwise run nothing and report "all kept",
or leak pytest's usage text. Each check returns the one line to print, or None.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pixelproof.plan import Case


class UsageProblem(Exception):
    """A usage error: the message is the one line the CLI prints before exiting 2."""


def closest(word: str, choices: Iterable[str], n: int = 3) -> str:
    """' (closest: a, b, c)': the nearest choices by similarity (a glob by its literal stem)."""
    pool = sorted(set(choices))
    stem = word.split("*")[0].split("?")[0].split("[")[0] or word
    near = difflib.get_close_matches(word, pool, n=n, cutoff=0.5)
    if not near:
        ranked = sorted(pool, key=lambda c: -difflib.SequenceMatcher(None, stem, c).ratio())
        near = ranked[:n]
    return f" (closest: {', '.join(near)})" if near else ""


def check_workers(value: str | None) -> None:
    """`-n` takes a positive count, `auto` or `logical` (pixelproof.workers)."""
    from pixelproof.workers import worker_count

    if value is None:
        return
    try:
        worker_count(value)
    except ValueError:
        raise UsageProblem(
            f"-n/--workers must be a positive number of workers, 'auto' or 'logical', not {value!r}"
        ) from None


def _matches(glob: str, case: Case) -> bool:
    return fnmatch.fnmatchcase(case.rule.id, glob) or fnmatch.fnmatchcase(case.id, glob)


def check_rule_globs(
    globs: list[str], rule_ids: Iterable[str], cases: list[Case], fuzz_ids: Iterable[str] = ()
) -> None:
    """Every `--rules` glob must select at least one case (or fuzz target) the target claims."""
    fuzzed = set(fuzz_ids)
    ids = sorted(set(rule_ids) | fuzzed)
    for glob in globs:
        if any(_matches(glob, c) for c in cases) or fnmatch.filter(fuzzed, glob):
            continue
        if any(fnmatch.fnmatchcase(i, glob) for i in ids):
            raise UsageProblem(
                f"--rules {glob!r} matches only rules the target does not claim "
                "(check the profile's surfaces and models)"
            )
        raise UsageProblem(f"--rules {glob!r} matches no rule{closest(glob, ids)}")


def check_choice(option: str, value: str | None, choices: Iterable[str]) -> None:
    """A filter value must be one the catalogue knows."""
    pool = set(choices)
    if value is not None and value not in pool:
        raise UsageProblem(f"{option} {value!r} is not in the catalogue{closest(value, pool)}")


def profile_or_embedded(target: str | None, need_key: bool = True) -> tuple[Any, Any]:
    """The catalogue and the profile a command works on: ``target``'s, or the embedded stack's
    (placeholder URLs: nothing is sent). ``need_key=False`` for commands that send nothing."""
    from pixelproof.catalogue import default_catalogue
    from pixelproof.target import embedded_profile, load_profile

    catalogue = default_catalogue()
    if target:
        return catalogue, load_profile(target, catalogue, need_key=need_key)
    return catalogue, embedded_profile(
        catalogue, "http://127.0.0.1:0", "http://127.0.0.1:0", "PIXELPROOF_EMBEDDED_KEY", 1000
    )


def check_report_dir(root: Path) -> None:
    """--report-dir must be a directory pixelproof can create and write (not a file)."""
    existing = next((p for p in (root, *root.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise UsageProblem(f"--report-dir {root}: {existing} is a file, not a directory")
    if existing is not None and not os.access(existing, os.W_OK):
        raise UsageProblem(f"--report-dir {root}: {existing} is not writable")
