"""First thing loaded in each process of a run: the `pixelproof` command imports it before
anything else, and `pixelproof run` names it with ``-p`` so every xdist worker loads it before
the plugins it finds through entry points (the pixelproof plugin, which brings httpx).

httpx imports its command-line client at import when rich and click are installed (pixelproof
brings both): ~65 ms of each process's start-up (the controller and every worker) for a module
a run never uses. Marked missing, httpx takes its documented fallback (a stub ``httpx.main``).
The embedded stack's child does the same in its boot line (mock/stack_process.py). Nothing else
changes: a process that imported httpx already keeps its ``httpx.main``.
"""

from __future__ import annotations

import sys

sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
