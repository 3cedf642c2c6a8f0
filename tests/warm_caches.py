"""Bytecode for every process of the suite, written once before pytest-xdist starts its workers.

In a fresh clone no module of ours has bytecode yet (an editable install compiles nothing), nor
does any module pytest rewrites for its assertions: the test files, the conftests, the suites a
``pixelproof run`` collects, and the plugins pytest marks for rewriting (those named with ``-p``;
with plugin autoloading, which the suite now turns off, every module of every distribution that
declares one: pip's bytecode is not the rewritten kind). The workers start together, so each compiled all of it from source, and so did every CLI subprocess
and nested run the tests started until the first writer's file landed. A fresh clone's first
run of the whole suite cost ~24 CPU-s more than its second (119.8 against 95.8; each worker's
collection 4.6-5.1 CPU-s against 1.2). Here the controller writes that bytecode first, split
between forked children, one a core. The files are what Python and pytest themselves write and
read (same names, same headers); a run whose caches are warm only checks ~900 headers.
"""

from __future__ import annotations

import contextlib
import fnmatch
import gc
import importlib.util
import os
import py_compile
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

HEADER = 16  # magic, flags, source mtime, source size: PEP 552's timestamp form, pytest's too
TIMESTAMP = (
    py_compile.PycInvalidationMode.TIMESTAMP
)  # what import writes, whatever SOURCE_DATE_EPOCH says


def fresh(source: Path, cached: Path) -> bool:
    """Python's and pytest's own test: a timestamp header matching the source's mtime and size."""
    try:
        stat = source.stat()
        with cached.open("rb") as fp:
            head = fp.read(HEADER)
    except OSError:
        return False
    return (
        len(head) == HEADER
        and head[:4] == importlib.util.MAGIC_NUMBER
        and head[4:8] == b"\0\0\0\0"
        and int.from_bytes(head[8:12], "little") == int(stat.st_mtime) & 0xFFFFFFFF
        and int.from_bytes(head[12:16], "little") == stat.st_size & 0xFFFFFFFF
    )


def python_files(root: Path) -> Iterator[Path]:
    """Every ``.py`` file under ``root``, or ``root`` itself."""
    if root.is_file():
        yield root
    elif root.is_dir():
        yield from sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def marked_modules(config: pytest.Config) -> Iterator[Path]:
    """The source files of the modules pytest marked for rewriting on import: plugins named with
    ``-p`` (and, when plugins autoload, every distribution declaring one)."""
    hook = getattr(config.pluginmanager, "rewrite_hook", None)
    for name in sorted(getattr(hook, "_must_rewrite", ())):
        with contextlib.suppress(ImportError, ValueError, AttributeError):
            spec = importlib.util.find_spec(name)
            if spec is None:
                continue
            if spec.submodule_search_locations:
                for location in spec.submodule_search_locations:
                    yield from python_files(Path(location))
            elif spec.origin and spec.origin.endswith(".py"):
                yield Path(spec.origin)


def test_modules(config: pytest.Config, roots: Iterable[Path], *, tests: bool) -> Iterator[Path]:
    """Under ``roots``, the files pytest rewrites as tests (conftests and ``python_files``), or,
    with ``tests=False``, the others (helpers the tests import plainly)."""
    patterns = [*config.getini("python_files"), "conftest.py"]
    for root in roots:
        for path in python_files(root):
            if any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns) == tests:
                yield path


def stale(config: pytest.Config, plain: Iterable[Path], rewritten: Iterable[Path]) -> list:
    """What has no current bytecode: (path, True) to rewrite, (path, False) to compile plainly."""
    from _pytest.assertion.rewrite import PYC_TAIL, get_cache_dir

    work: dict[tuple[Path, bool], int] = {}
    for path in plain:
        if not fresh(path, Path(importlib.util.cache_from_source(str(path)))):
            work[(path, False)] = path.stat().st_size
    for path in rewritten:
        if not fresh(path, get_cache_dir(path) / (path.name[:-3] + PYC_TAIL)):
            work[(path, True)] = path.stat().st_size
    return sorted(work, key=work.__getitem__, reverse=True)


def compile_all(config: pytest.Config, work: Iterable[tuple[Path, bool]]) -> None:
    """Write each file's bytecode as Python's import (plain) or pytest's rewriting hook does."""
    from _pytest.assertion import rewrite

    state = config.stash.get(rewrite.assertstate_key, None)
    for path, rewritten in work:
        with contextlib.suppress(Exception):  # a file that does not compile is the test's to report
            if not rewritten:
                py_compile.compile(str(path), doraise=True, invalidation_mode=TIMESTAMP)
                continue
            cache = rewrite.get_cache_dir(path)
            if state is not None and rewrite.try_makedirs(cache):
                source_stat, code = rewrite._rewrite_test(path, config)
                rewrite._write_pyc(
                    state, code, source_stat, cache / (path.name[:-3] + rewrite.PYC_TAIL)
                )


def in_parallel(config: pytest.Config, work: list[tuple[Path, bool]]) -> None:
    """Biggest first, dealt round-robin to one forked child a core (this process takes a share)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    shares = max(1, min(cores or 1, len(work) // 20 or 1)) if hasattr(os, "fork") else 1
    children = []
    for share in range(1, shares):
        pid = os.fork()
        if pid == 0:  # the child: compile its share and leave without pytest's exit handlers
            try:
                compile_all(config, work[share::shares])
            finally:
                os._exit(0)
        children.append(pid)
    compile_all(config, work[0::shares])
    for pid in children:
        os.waitpid(pid, 0)


def warm(config: pytest.Config, plain_roots: Iterable[Path], test_roots: Iterable[Path]) -> None:
    """Write the bytecode the workers and the tests' subprocesses would each compile again.
    Nothing is written where Python would write none (PYTHONDONTWRITEBYTECODE, ``-B``); on a
    pytest whose rewriting internals moved, nothing is warmed and the run goes on as before."""
    if sys.dont_write_bytecode or config.getoption("assertmode", "rewrite") != "rewrite":
        return
    try:
        test_roots = list(test_roots)
        plain = [p for root in plain_roots for p in python_files(root)]
        plain += test_modules(config, test_roots, tests=False)
        rewritten = [*test_modules(config, test_roots, tests=True), *marked_modules(config)]
        work = stale(config, plain, rewritten)
    except (ImportError, AttributeError, KeyError, OSError):
        return
    if work:
        # No collection while compiling: a burst of short-lived ASTs, in a controller (and its forked
        # children) holding every import of the conftest; 4.9-5.0 -> 4.0-4.5 CPU-s cold.
        collecting = gc.isenabled()
        gc.disable()
        try:
            in_parallel(config, work)
        finally:
            if collecting:
                gc.enable()
