"""The `pixelproof` command line."""

from __future__ import annotations

import pixelproof.boot  # noqa: F401  (before httpx: see boot.py)
from pixelproof.cli.main import main

__all__ = ["console", "main"]


def console() -> None:
    """The console script's entry: ``main``, then the process ends without its teardown."""
    from pixelproof.quick_exit import end_command

    end_command(main())
