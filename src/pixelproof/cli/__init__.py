"""The `pixelproof` command line."""

from __future__ import annotations

import pixelproof.boot  # noqa: F401  (before httpx: see boot.py)
from pixelproof.cli.main import main

__all__ = ["main"]
