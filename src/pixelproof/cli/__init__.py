"""The `pixelproof` command line."""

from __future__ import annotations

from pixelproof.cli.main import main

__all__ = ["main"]
