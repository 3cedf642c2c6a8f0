"""The subcommand registry: each cli_* module registers its subcommands here on import."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Register = Callable[[Any], None]
REGISTRY: list[Register] = []


def register(func: Register) -> Register:
    REGISTRY.append(func)
    return func


def load_all() -> list[Register]:
    """Import the command modules (registration happens on import) and return the registry."""
    from pixelproof.cli import mock, reports, run  # noqa: F401

    return REGISTRY
