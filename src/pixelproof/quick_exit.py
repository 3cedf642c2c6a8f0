"""An xdist worker of a run ends without tearing its interpreter down.

Finalization frees every module and object one by one: ~0.5 s the controller waited for each
worker at the end of a run. By the time Python runs its exit handlers in a worker, xdist has sent
everything and allure's files are written (the plugin's unconfigure flushes them), so nothing of
the teardown is needed but the exit handlers themselves: coverage's data in a subprocess,
logging.shutdown, a user's plugin. Those still run, and the process exits with the status Python
would have used.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import Any, NoReturn

_UNCAUGHT = [0]  # 1 once an exception escaped the process's main code (Python exits with 1)


def end_worker_at_once() -> None:
    """Registers the quick exit, and notes an exception escaping the main code (Python prints it
    through sys.excepthook before it runs the exit handlers)."""
    hook = sys.excepthook

    def note(*exc_info: Any) -> None:
        _UNCAUGHT[0] = 1
        hook(*exc_info)

    sys.excepthook = note
    atexit.register(_exit_at_once)


def _exit_at_once() -> None:
    """Runs the exit handlers registered before this one (last registered first, as Python
    would), flushes stdio and ends the process with Python's status: 1 after an uncaught
    exception, else 0 (if stdio cannot be flushed, Python's own finalization exits with 120). A
    SystemExit cannot escape an execnet worker's main code: its task and serve loop catch it."""
    atexit.unregister(_exit_at_once)
    atexit._run_exitfuncs()
    sys.stdout.flush()  # if this raises, Python finalizes as usual, exiting with 120
    sys.stderr.flush()
    os._exit(_UNCAUGHT[0])


def end_command(code: int) -> NoReturn:
    """The end of the `pixelproof` command (its console script, ``python -m pixelproof.cli``):
    everything it wrote is closed by then (the reports, the JUnit file, allure's results flushed
    at unconfigure), so finalization's ~0.3-0.6 s of freeing every object of a run (the tail of
    every run, serial or not) buys nothing. As Python would, it waits for non-daemon threads,
    runs the exit handlers and flushes stdio, then exits with ``code``; if stdio cannot be
    flushed, Python's own exit takes over (status 120, as ever). Code calling ``main`` in
    process never comes here."""
    # Python's own first step at exit: threading's exit hooks (they stop idle
    # concurrent.futures workers, which would otherwise never end), then a join of every
    # non-daemon thread.
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    atexit._clear()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)
    os._exit(code)
