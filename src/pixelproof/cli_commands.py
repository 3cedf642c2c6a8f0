"""Subcommands other than `rules`, registered here so cli.py stays a table of contents."""

from __future__ import annotations

import argparse
from collections.abc import Callable

Register = Callable[[argparse._SubParsersAction], None]  # type: ignore[type-arg]

REGISTRY: list[Register] = []
