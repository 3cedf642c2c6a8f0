from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest
from _pytest.assertion.rewrite import PYC_TAIL, _read_pyc

import warm_caches

TEST_SOURCE = "def test_it():\n    x = [1]\n    assert x == [2]\n"
MODULE_SOURCE = "VALUE = 41 + 1\n"


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    test = tmp_path / "test_sample.py"
    test.write_text(TEST_SOURCE)
    module = tmp_path / "sample_module.py"
    module.write_text(MODULE_SOURCE)
    return test, module


def test_the_warmed_files_are_the_ones_pytest_and_python_read(
    pytestconfig: pytest.Config, files: tuple[Path, Path]
) -> None:
    """The rewritten test's bytecode is found by pytest's own reader and carries the rewritten
    assertion (its explanation), the plain module's by Python's import; then nothing is stale."""
    test, module = files
    work = warm_caches.stale(pytestconfig, [module], [test])
    assert sorted(work) == sorted([(test, True), (module, False)])
    warm_caches.compile_all(pytestconfig, work)

    code = _read_pyc(test, test.parent / "__pycache__" / (test.stem + PYC_TAIL))
    assert code is not None, "pytest would compile the test again"
    namespace: dict[str, object] = {}
    exec(code, namespace)
    with pytest.raises(AssertionError, match=r"assert \[1\] == \[2\]"):
        namespace["test_it"]()  # type: ignore[operator]

    assert warm_caches.stale(pytestconfig, [module], [test]) == []
    # Python's import takes the bytecode without reading the source when its header matches: a
    # source changed behind it (same size, same mtime) still imports as the warmed bytecode.
    stat = module.stat()
    module.write_text(MODULE_SOURCE.replace("41", "40"))
    os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert _imported(module).VALUE == 42


def _imported(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_an_edited_source_is_stale_again(
    pytestconfig: pytest.Config, files: tuple[Path, Path]
) -> None:
    test, module = files
    warm_caches.compile_all(pytestconfig, warm_caches.stale(pytestconfig, [module], [test]))
    module.write_text(MODULE_SOURCE + "OTHER = 1\n")
    assert warm_caches.stale(pytestconfig, [module], [test]) == [(module, False)]


def test_nothing_is_written_where_python_writes_no_bytecode(
    pytestconfig: pytest.Config, files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    test, module = files
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    warm_caches.warm(pytestconfig, [module], [test])
    assert not (test.parent / "__pycache__").exists()


def test_test_files_are_rewritten_and_their_helpers_compiled_plainly(
    pytestconfig: pytest.Config, files: tuple[Path, Path]
) -> None:
    """pytest rewrites test files and conftests; a helper they import is imported plainly."""
    test, module = files
    (test.parent / "conftest.py").write_text("")
    rewritten = set(warm_caches.test_modules(pytestconfig, [test.parent], tests=True))
    assert rewritten == {test, test.parent / "conftest.py"}
    assert set(warm_caches.test_modules(pytestconfig, [test.parent], tests=False)) == {module}
