"""Give large freed buffers back to the system at once (glibc only; elsewhere nothing changes).

A run decodes images of up to 4096x4096 (48-64 MB of pixels each) and the mock reads bodies of up
to 41 MB. glibc serves the first such buffer from its own mapping, but then raises its mmap
threshold to that size, so later ones come from the heap and, freed among small live objects,
stay resident: the embedded stack grew from ~75 to ~150 MiB that way and the controller by tens
of MiB (measured with VmRSS sampled through whole runs, bench/bench_run.py). A fixed threshold
keeps every buffer over 128 KiB in its own mapping, unmapped when freed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
THRESHOLD = 128 * 1024  # glibc's own starting value, here kept fixed


@functools.cache
def return_big_buffers() -> bool:
    """Fix glibc's mmap threshold for this process; True if it took (once per process)."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): the default allocator stays
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD))


def keep_for_the_run() -> tuple[tuple[int, ...], bool]:
    """Exempt what is alive now from garbage collection: after collection that is the imports,
    the catalogue, the plan and the collected items, all alive until the run ends, and the
    collector walked all of it on each full collection (1.6 s of a default run's 2.2 s of GC,
    measured with gc.callbacks; bench/README.md). What is created later is collected as usual.
    The young generation is collected less often too: fuzzing makes objects by the million.
    Returns what ``release_after_the_run`` restores: the threshold, and whether the process had
    frozen objects already (a caller that froze its own). No full collection first: after
    collection it found ~140 objects of garbage among ~100,000 (kept frozen for the run: a few
    KB) and took 0.13-0.5 s of each process that runs tests (the controller, each xdist worker)."""
    before = (gc.get_threshold(), frozen())
    freeze()
    gc.set_threshold(GEN0_THRESHOLD, *before[0][1:])
    return before


def release_after_the_run(before: tuple[tuple[int, ...], bool]) -> None:
    """Undo ``keep_for_the_run`` once the run's session ends, for a process that goes on: code
    calling the runner in process, a test nesting runs. Without it each nested session's objects
    stayed frozen and the caller kept this run's threshold. A caller that had frozen objects of
    its own keeps them frozen (``gc.unfreeze`` cannot tell theirs from the run's)."""
    threshold, caller_froze = before
    if not caller_froze:
        unfreeze()
    gc.set_threshold(*threshold)


_FROZE: list[bool] = [False]  # whether objects frozen through ``freeze`` may still be frozen


def freeze() -> None:
    """``gc.freeze()``, remembered for ``frozen``."""
    gc.freeze()
    _FROZE[0] = True


def unfreeze() -> None:
    """``gc.unfreeze()``, remembered for ``frozen``."""
    gc.unfreeze()
    _FROZE[0] = False


def frozen() -> bool:
    """Whether this process holds frozen objects. ``gc.get_freeze_count()`` walks every one of
    them: ~20 ms in a test worker holding ~200,000 (its collection, and each run nested in it
    freezes its own), asked twice per nested run, ~0.6-0.8 CPU-s per worker over the suite's
    nested runs. What went through ``freeze`` is remembered instead, and only a process that
    froze nothing that way asks gc, which is cheap then unless someone else froze (walked once:
    what it finds is remembered too). ``gc.unfreeze()`` called directly leaves this True: the
    run then keeps its objects frozen as if the caller had frozen them (``unfreeze`` does not)."""
    if not _FROZE[0]:
        _FROZE[0] = gc.get_freeze_count() > 0
    return _FROZE[0]


GEN0_THRESHOLD = 10_000  # allocations between young collections (CPython's default: 700)
