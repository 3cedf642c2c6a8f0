"""How long a whole `pixelproof run` takes and how much memory it holds, against a bare httpx loop
sending the same requests.

The bare loop is the floor: it sends every distinct probe of the plan once (tasks polled until
done) to the same embedded stack, with no judging, no decoding and no pytest. pixelproof's own
cost is what lies above it. Every figure is a whole process tree (the run, its `-n` workers and
the embedded stack's process): wall time, CPU time (user + system, which moves less than wall time
when other jobs share the machine) and peak RSS, the largest sum of the tree's resident sets seen
by a 20 ms sampler, with the own peak (VmHWM) of the run's process and of the embedded stack's
beside it, and the tree's peak PSS (proportional set size, from /proc/PID/smaps_rollup, read every
0.25 s: it costs the kernel ~3 ms a process). `-n N`'s workers are forked from the run's process
and share its pages until they write them: the RSS sum counts each shared page once per process
that maps it, PSS divides it among them, so PSS is the memory the run really holds (the figure the
300 MB goal is about) and the RSS sum an upper bound. Each case runs once to warm up, then
``--repeat`` times, the cases taking turns round by round; the median is shown, and the ratios
round by round.

    python bench/bench_run.py [--repeat 3] [--only bare,serial-off]   # writes bench/last_run.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PAGE = os.sysconf("SC_PAGE_SIZE")
CASES = {
    "bare": ["bare"],
    "serial-full": ["run", "--fuzz", "full"],
    "n-auto-full": ["run", "--fuzz", "full", "-n", "auto"],
    "serial-off": ["run", "--fuzz", "off"],
    "n-auto-off": ["run", "--fuzz", "off", "-n", "auto"],
}
LABELS = {
    "bare": "bare httpx loop (same probes, no judging)",
    "serial-full": "pixelproof run (serial, fuzz full)",
    "n-auto-full": "pixelproof run -n auto (fuzz full)",
    "serial-off": "pixelproof run (serial, fuzz off)",
    "n-auto-off": "pixelproof run -n auto (fuzz off)",
}


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    todo += [int(c) for c in handle.read().split()]
        except OSError:
            continue
    return out


def _rss(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as handle:
                total += int(handle.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


def _pss(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as handle:
                line = next((x for x in handle if x.startswith("Pss:")), "Pss: 0 kB")
        except OSError:
            continue
        total += int(line.split()[1]) * 1024
    return total


def _hwm_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            line = next((x for x in handle if x.startswith("VmHWM:")), "VmHWM: 0 kB")
    except OSError:
        return 0
    return int(line.split()[1])


def _is_stack(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"pixelproof.mock.stack_process" in handle.read()
    except OSError:
        return False


def measure(args: list[str]) -> dict[str, float]:
    """Run one command; wall and CPU seconds of the whole tree, its sampled peak RSS and PSS, and
    the own peaks (VmHWM) of the run's process and of the embedded stack's process."""
    peak, pss, done, own = [0], [0], threading.Event(), {"run": 0, "stack": 0}
    started = time.perf_counter()
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=HERE.parent
    )

    def sample() -> None:
        turn = 0
        while not done.is_set():
            pids = _tree(proc.pid)
            peak[0] = max(peak[0], _rss(pids))
            if turn % 12 == 0:
                pss[0] = max(pss[0], _pss(pids))
            turn += 1
            own["run"] = max(own["run"], _hwm_kib(proc.pid))
            for pid in pids[1:]:
                if _is_stack(pid):
                    own["stack"] = max(own["stack"], _hwm_kib(pid))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if code != 0:
        raise SystemExit(f"{' '.join(args[2:])} failed ({code}):\n{err[-2000:]}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mib": peak[0] / 2**20,
        "peak_pss_mib": pss[0] / 2**20,
        "run_hwm_mib": own["run"] / 1024,
        "stack_hwm_mib": own["stack"] / 1024,
    }


def command(case: str, report_dir: str) -> list[str]:
    if case == "bare":
        return [sys.executable, str(HERE / "bare_loop.py")]
    return [sys.executable, "-m", "pixelproof.cli", *CASES[case], "--report-dir", report_dir]


def run_cases(cases: list[str], repeat: int) -> dict[str, dict[str, Any]]:
    """Each case once to warm up, then ``repeat`` rounds of every case in turn: a machine whose
    speed drifts between minutes (this VM's by 20-30%) drifts under every case alike, and the
    ratios below are taken within a round."""
    samples: dict[str, list[dict[str, float]]] = {case: [] for case in cases}
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            measure(command(case, tmp))  # warm-up: imports compiled, page cache filled
        for _ in range(repeat):
            for case in cases:
                samples[case].append(measure(command(case, tmp)))
    return {
        case: {key: round(statistics.median(s[key] for s in got), 2) for key in got[0]}
        | {"samples": got}
        for case, got in samples.items()
    }


def per_round(figures: dict[str, Any], over: str, under: str) -> list[float]:
    """``over``'s wall time divided by ``under``'s, round by round."""
    pairs = zip(figures[over]["samples"], figures[under]["samples"], strict=True)
    return [round(a["wall_s"] / b["wall_s"], 3) for a, b in pairs]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "last_run.json")
    parser.add_argument(
        "--only", default=",".join(CASES), help="comma-separated: " + ", ".join(CASES)
    )
    args = parser.parse_args(argv)
    cases = [c for c in args.only.split(",") if c]
    load_before = os.getloadavg()
    figures: dict[str, Any] = {"machine_cores": os.cpu_count(), "repeat": args.repeat}
    figures.update(run_cases(cases, args.repeat))
    figures["load_average_before_after"] = [round(x, 2) for x in (*load_before, *os.getloadavg())]
    head = (
        f"{'':<46}{'wall s':>8}{'cpu s':>8}{'tree peak RSS / PSS MiB':>25}{'run/stack VmHWM':>17}"
    )
    print(head)
    for case in cases:
        f = figures[case]
        own = f"{f['run_hwm_mib']:.0f}/{f['stack_hwm_mib']:.0f}"
        memory = f"{f['peak_rss_mib']:.0f} / {f['peak_pss_mib']:.0f}"
        print(f"{LABELS[case]:<46}{f['wall_s']:>8.2f}{f['cpu_s']:>8.2f}{memory:>25}{own:>17}")
    if "bare" in figures and "serial-off" in figures:
        wall = figures["serial-off"]["wall_s"] / figures["bare"]["wall_s"]
        cpu = figures["serial-off"]["cpu_s"] / figures["bare"]["cpu_s"]
        figures["ratio_serial_off_over_bare"] = {"wall": round(wall, 2), "cpu": round(cpu, 2)}
        print(f"pixelproof (serial, fuzz off) / bare loop: {wall:.2f}x wall, {cpu:.2f}x cpu")
    if "serial-full" in figures and "n-auto-full" in figures:
        speedup = figures["serial-full"]["wall_s"] / figures["n-auto-full"]["wall_s"]
        rounds = per_round(figures, "serial-full", "n-auto-full")
        figures["speedup_n_auto_over_serial_full"] = round(speedup, 2)
        figures["speedup_per_round"] = rounds
        print(f"-n auto speed-up over serial (fuzz full): {speedup:.2f}x "
              f"(round by round: {', '.join(f'{r:.2f}x' for r in rounds)}; "
              f"median {statistics.median(rounds):.2f}x)")  # fmt: skip
    print(f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}")
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
