"""The built-in mock: a vendor-role upstream and a reference gateway (Starlette apps)."""

from __future__ import annotations

from pixelproof.mock.app import app_state, create_app
from pixelproof.mock.faults import CATALOGUE as FAULTS
from pixelproof.mock.state import MockConfig

__all__ = ["FAULTS", "MockConfig", "app_state", "create_app"]
