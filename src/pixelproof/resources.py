"""Where the shipped data lives: the contracts and the suites travel inside the package (wheel or
checkout alike) and are found through ``importlib.resources``, never relative to the working
directory or by walking up from a source file."""

from __future__ import annotations

import os
from importlib.resources import as_file, files
from pathlib import Path


def _package_dir(name: str) -> Path:
    resource = files("pixelproof") / name
    # pixelproof is installed as plain files (wheel or editable), so this is a real directory
    with as_file(resource) as path:
        return Path(path)


def contracts_dir() -> Path:
    """The contracts: ``$PIXELPROOF_CONTRACTS`` when set, else the ones shipped with pixelproof."""
    override = os.environ.get("PIXELPROOF_CONTRACTS")
    return Path(override) if override else _package_dir("contracts")


def suites_dir() -> Path:
    """The conformance suites shipped with pixelproof."""
    return _package_dir("suites")
