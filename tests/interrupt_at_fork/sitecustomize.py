"""For test_fork_workers: with $PP_INTERRUPT_AT_FORK set, a Ctrl-C (SIGINT to this process alone)
arrives while a process forks for the first time: in `pixelproof run -n N`, the fork of its
fork server. (Its copies, the server and workers, inherit the flag: no second signal.)"""

from __future__ import annotations

import os
import signal

_sent: list[int] = []


def _interrupt() -> None:
    if not _sent:
        _sent.append(os.getpid())
        os.kill(os.getpid(), signal.SIGINT)


if os.environ.get("PP_INTERRUPT_AT_FORK"):
    os.register_at_fork(before=_interrupt)
