"""Exit codes, defined once for every subcommand (the README's exit-code paragraph says the same)."""

from __future__ import annotations

EXIT_OK = 0  # every judged promise kept
EXIT_BROKEN = 1  # a promise broken (or a waiver expired, or a waived rule now passes)
EXIT_USAGE = 2  # bad usage, profile or contract file: nothing was judged
EXIT_INFRA = 3  # only infrastructure errors: the harness could not observe
EXIT_INTERRUPTED = 130  # Ctrl-C: the partial report is still written
