"""Exit codes, defined once for every subcommand (the README's exit-code paragraph says the same)."""

from __future__ import annotations

EXIT_OK = 0  # every judged promise kept
EXIT_BROKEN = 1  # a promise broken (or a waiver expired, or a waived rule now passes)
EXIT_USAGE = 2  # bad usage, profile or contract file: nothing was judged
EXIT_INFRA = 3  # only infrastructure errors, or nothing judged at all: no verdict
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM: the partial report is still written

JUDGED = ("passed", "failed", "fixed")  # outcomes that are verdicts (skipped and waived are not)


def verdict_exit(counts: dict[str, int]) -> int:
    """A run's (or merged shards') exit code from its outcome counts: 1 a promise broken (or a
    waived rule now passing); 3 errors only, or no case judged at all (every one skipped:
    ``--budget 0``, rules that cannot be judged on this target), which is no verdict; else 0."""
    if counts.get("failed") or counts.get("fixed"):
        return EXIT_BROKEN
    if counts.get("error") or not any(counts.get(o) for o in (*JUDGED, "waived")):
        return EXIT_INFRA  # (a waived case was judged: its deviation is known and accepted)
    return EXIT_OK
