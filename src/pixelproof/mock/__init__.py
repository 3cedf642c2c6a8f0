"""The built-in mock: a vendor-role upstream and a reference gateway (Starlette apps).

Its names load on first use: a run's controller imports ``pixelproof.mock.faults`` and
``pixelproof.mock.stack_process`` only (the stack serves from a child process), and the apps'
imports (Starlette, the vendors, the gateway) cost it ~50 ms it never needed.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pixelproof.mock.app import app_state, create_app
    from pixelproof.mock.faults import CATALOGUE as FAULTS
    from pixelproof.mock.state import MockConfig

__all__ = ["FAULTS", "MockConfig", "app_state", "create_app"]
_WHERE = {
    "FAULTS": ("pixelproof.mock.faults", "CATALOGUE"),
    "MockConfig": ("pixelproof.mock.state", "MockConfig"),
    "app_state": ("pixelproof.mock.app", "app_state"),
    "create_app": ("pixelproof.mock.app", "create_app"),
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'pixelproof.mock' has no attribute {name!r}")
    module, attribute = _WHERE[name]
    return getattr(import_module(module), attribute)
