"""Memory the run gives back and keeps: big freed buffers leave the process, what lives for the
run is frozen out of the collector's walks, and a run nested in a process that goes on leaves the
collector as it found it (memory.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import pixelproof_inprocess, served_profile

_BIG_BUFFERS = """
import sys
from pixelproof.memory import return_big_buffers
def rss():
    with open("/proc/self/statm") as h:
        return int(h.read().split()[1]) * 4096 // 2**20
took = return_big_buffers() if sys.argv[1] == "fixed" else None
base, kept = rss(), []
for mb in (24, 20, 16, 12):  # freeing the first raises glibc's threshold; the rest came from the heap
    buf = b"\\x01" * (mb << 20)
    kept.append(b"\\x02" * 1000)  # a small live malloc'd object above it: the heap cannot shrink
    del buf
print(took, rss() - base)
"""


def test_big_freed_buffers_leave_the_process_once_the_threshold_is_fixed() -> None:
    def grown(mode: str) -> tuple[str, int]:
        out = subprocess.run([sys.executable, "-c", _BIG_BUFFERS, mode], capture_output=True,
                             text=True, check=True).stdout.split()  # fmt: skip
        return out[0], int(out[1])

    took, fixed = grown("fixed")
    if took != "True":
        pytest.skip("not glibc: mallopt is not there to call")
    _, default = grown("default")
    if default < 12:
        pytest.skip(f"this glibc returns freed buffers by itself ({default} MiB stayed)")
    assert fixed < 4, f"{fixed} MiB of freed buffers stayed resident (default: {default} MiB)"


def test_what_lives_for_the_run_is_exempt_from_collection_and_the_rest_is_not() -> None:
    """After collection the run freezes what is alive (memory.keep_for_the_run): a cycle made
    later is still collected, so memory does not grow with the run; a frozen one is left be."""
    import gc
    import weakref

    from pixelproof.memory import GEN0_THRESHOLD, keep_for_the_run, unfreeze

    class Node:
        ref: Any = None

    before_threshold = gc.get_threshold()
    old = Node()
    old.ref = old
    old_ref = weakref.ref(old)
    keep_for_the_run()
    try:
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == GEN0_THRESHOLD
        new = Node()
        new.ref = new
        new_ref = weakref.ref(new)
        del old, new
        gc.collect()
        assert new_ref() is None, "a cycle made after the freeze is collected"
        assert old_ref() is not None, "a frozen one is not"
    finally:
        unfreeze()
        gc.set_threshold(*before_threshold)


def test_whether_objects_are_frozen_is_known_without_walking_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """memory.frozen: what went through memory.freeze is remembered (gc.get_freeze_count walks
    every frozen object, twice per nested run, ~20 ms each in a worker); what nobody froze
    through it is asked of gc, so a foreign gc.freeze is seen, and an unfreeze is too."""
    import gc

    from pixelproof import memory

    memory.unfreeze()  # this worker's own freeze (conftest), given back below
    try:
        assert memory.frozen() is False
        gc.freeze()  # not through memory: found by asking gc
        assert memory.frozen() is True
        memory.unfreeze()
        assert memory.frozen() is False
        memory.freeze()
        with monkeypatch.context() as patch:
            patch.setattr(gc, "get_freeze_count", lambda: pytest.fail("walked the frozen objects"))
            assert memory.frozen() is True
    finally:
        memory.freeze()


def test_a_run_in_process_leaves_the_collector_as_it_found_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run nested in a process that goes on (a test, code calling the runner) unfreezes what it
    froze and gives the collector its threshold back when its session ends: each nested run's
    objects stayed frozen for the rest of the process before, and later code ran on the run's
    threshold."""
    monkeypatch.setenv("PP_GC_KEY", "pp-gc-key-0123456789")
    # the reference stack served here (--target): the run's own stack process is no part of
    # what it leaves in this one (test_reports' runs start theirs)
    with served_profile(tmp_path, "PP_GC_KEY", "pp-gc-key-0123456789") as target:
        _run_and_check_the_collector(tmp_path, target)


def _run_and_check_the_collector(tmp_path: Path, target: Path) -> None:
    import gc

    from pixelproof.memory import freeze, unfreeze

    unfreeze()  # this worker's own freeze (conftest): a process that froze nothing
    before = gc.get_threshold()
    try:
        done = pixelproof_inprocess("run", "--target", str(target), "--rules", "size.gpt-image-2.1:1",
                                    "--fuzz", "off", "--report-dir", str(tmp_path), "--run-id", "gc")  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        assert gc.get_freeze_count() == 0
        assert gc.get_threshold() == before
    finally:
        freeze()
