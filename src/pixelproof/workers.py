"""`-n`'s value (`pixelproof run -n`, ``--pixelproof-workers``, pytest-xdist's own words): a positive
count, or ``auto`` / ``logical``: the CPUs this process may use. One reading for the command's usage
check, the embedded stack's switch interval (stack_process.several_senders) and the forked workers
(lanes.py). No pytest here: the command reads it before it imports pytest."""

from __future__ import annotations

import os


def worker_count(value: object) -> int:
    """The number of workers ``value`` asks for; ValueError where it is none of the forms above."""
    if value in ("auto", "logical"):
        if hasattr(os, "sched_getaffinity"):
            return len(os.sched_getaffinity(0))
        return os.cpu_count() or 1
    text = str(value)
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"not a positive number of workers, 'auto' or 'logical': {value!r}")
    return int(text)
