"""What a command-line option may take (argparse types for the CLI and the pytest plugin's
options alike): a value no run could mean is refused by the parser, exit 2 with one line naming
the option, not taken. `--budget -1` bought nothing and said kept; `--time-scale 0` ended in
pytest's INTERNALERROR; `--run-id ../../x` wrote the report outside --report-dir. Nothing heavy is
imported here: the plugin reads these at pytest's start."""

from __future__ import annotations

import argparse
import re

RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def count(text: str) -> int:
    """A whole number, 0 or more (a budget of 0 buys nothing)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def positive(text: str) -> float:
    """A number above 0 (a clock speed, a timeout)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number above 0, not {text}")
    return value


def run_id(text: str) -> str:
    """A run directory's name: one path component of letters, digits, '.', '_' and '-'."""
    if not RUN_ID.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"a plain name (letters, digits, '.', '_', '-'; at most 128), not {text!r}"
        )
    return text
