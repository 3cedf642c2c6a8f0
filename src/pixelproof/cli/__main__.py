from __future__ import annotations

from pixelproof.cli import console

console()
