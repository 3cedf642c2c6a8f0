"""The controller's CPU for the fuzz phase alone, as a serial `pixelproof run --fuzz full` spends it.

The embedded stack runs in its own process (``stack_process``, as a run starts it), task polling
waits on its jumping clock (``StackClock``), and this process plans the run's fuzz targets with
the default budget and runs each one through a ``FuzzSession``, as suites/test_fuzz.py does. The
figures are this process's CPU seconds (``time.process_time``, the stack's are not in them): the
session's first use of each surface (loading and tailoring its contract), and the targets
themselves. Each repeat prints a fingerprint of every case sent (operation, parameters, body),
so a change meant to make generation cheaper can show it sends the very same cases (in
deterministic mode). ``--select`` keeps the targets whose id contains one of the given strings (the budget
is still split over the whole plan, as in a run); ``--profile FILE`` writes a cProfile of the
targets' part.

    python bench/bench_fuzz.py [--repeat 3] [--select positive] [--profile /tmp/fuzz.prof]
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import os
import re
import statistics
import time
from typing import Any

from pixelproof.catalogue import default_catalogue
from pixelproof.fuzz.runner import FuzzSession
from pixelproof.fuzz.targets import plan_targets, run_target
from pixelproof.mock.stack_process import stack_process
from pixelproof.stack_clock import StackClock
from pixelproof.target import embedded_profile

KEY_ENV = "PIXELPROOF_BENCH_FUZZ_KEY"
KEY = "pp-bench-fuzz-key"
LOOPBACK = re.compile(r"http://127\.0\.0\.1:\d+")


def _canonical(value: Any, tasks: dict[str, float]) -> Any:
    """A case's part as comparable text: file contents as their digest, a task id the stack
    handed out and the stack's address (fresh each repeat) as placeholders."""
    if isinstance(value, bytes | bytearray):
        return "bytes:" + hashlib.sha256(value).hexdigest()[:16]
    if isinstance(value, dict):
        return {str(k): _canonical(v, tasks) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v, tasks) for v in value]
    if isinstance(value, str):
        return "<task>" if value in tasks else LOOPBACK.sub("<stack>", value)
    if value is None or isinstance(value, int | float):
        return value
    return f"<{type(value).__name__}>"  # schemathesis' NOT_SET: its repr holds an address


def fingerprint(session: FuzzSession) -> Any:
    """Hashes every case the session sends (operation, parameters, body), in order."""
    digest = hashlib.sha256()
    original = session.send

    def send(run: Any, case: Any) -> Any:
        parts = (
            case.method,
            case.path,
            case.path_parameters,
            case.query,
            case.media_type,
            case.body,
        )
        digest.update(repr(_canonical(parts, run.submitted)).encode())
        return original(run, case)

    session.send = send  # type: ignore[method-assign]
    return digest


def once(profile_out: str | None, select: list[str], budget: int) -> tuple[float, float, int, str]:
    """(CPU-s loading contracts, CPU-s running targets, requests sent, fingerprint of the cases)
    of one fresh session."""
    catalogue = default_catalogue()
    with stack_process(api_key=KEY) as stack:
        profile = embedded_profile(catalogue, stack.gateway.url, stack.upstream.url, KEY_ENV, 1000)
        clock = StackClock((stack.gateway.url, stack.upstream.url), 1000, KEY)
        session = FuzzSession(catalogue, profile, run_id="bench", clock=clock)
        digest = fingerprint(session)
        targets = [t for t in plan_targets(catalogue, profile, "full", budget)
                   if not select or any(part in t.id for part in select)]  # fmt: skip
        started = time.process_time()
        for surface in dict.fromkeys(t.surface for t in targets):
            session.surface(surface)
        loaded = time.process_time()
        profiler = cProfile.Profile(time.process_time) if profile_out else None
        if profiler:
            profiler.enable()
        results = [run_target(session, t) for t in targets]
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile_out)
        ran = time.process_time()
        session.close()
        clock.close()
    bad = [r.report() for r in results if r.findings or r.errors]
    if bad:
        raise SystemExit("the clean stack got findings:\n" + "\n".join(bad))
    return loaded - started, ran - loaded, sum(r.requests for r in results), digest.hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--select", action="append", default=[])
    parser.add_argument("--budget", type=int, default=400)
    parser.add_argument("--profile", default=None, help="cProfile output of the last repeat")
    args = parser.parse_args()
    os.environ[KEY_ENV] = KEY
    rows = []
    for i in range(args.repeat):
        rows.append(once(args.profile if i == args.repeat - 1 else None, args.select, args.budget))
        print(f"run {i + 1}: load {rows[-1][0]:.2f} CPU-s, targets {rows[-1][1]:.2f} CPU-s, "
              f"{rows[-1][2]} requests, cases {rows[-1][3]}", flush=True)  # fmt: skip
    print(f"median: load {statistics.median(r[0] for r in rows):.2f} CPU-s, "
          f"targets {statistics.median(r[1] for r in rows):.2f} CPU-s")  # fmt: skip


if __name__ == "__main__":
    main()
