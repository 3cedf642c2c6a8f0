from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pixelproof.catalogue import Catalogue, contracts_dir, load_catalogue


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture
def contracts_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped contracts, for tests that break them on purpose."""
    target = tmp_path / "contracts"
    shutil.copytree(contracts_dir(), target)
    return target
