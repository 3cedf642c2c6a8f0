"""Peak RSS and wall time of whole `pixelproof run`s against hostile targets (the servers of
tests/hostile.py), each in its own child so the RSS is that run's. Writes bench/last_hostile.json.

The peak is the child's own VmHWM, sampled every 20 ms until it exits (as the tests read it), not
wait4's ru_maxrss: Linux seeds that with the forking parent's resident size, so a child of a big
parent reads as big whatever it used itself.

    .venv/bin/python bench/bench_hostile.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import hostile  # noqa: E402

CASES = {
    "drip": (hostile.drip, ["--fuzz", "off"]),
    "huge-chunked-300MB": (hostile.huge_chunked(300 * 1024 * 1024), ["--fuzz", "off"]),
    "huge-chunked-300MB+fuzz": (hostile.huge_chunked(300 * 1024 * 1024),
                                ["--rules", "fuzz.unified.*", "--fuzz", "negative", "--fuzz-budget", "20"]),
    "huge-content-length-10GB": (hostile.huge_length(10 * 1024**3), ["--fuzz", "off"]),
    "pixel-bomb-6000x4000": (hostile.status(200, hostile.b64_answer(hostile.png_bomb(6000, 4000))), ["--fuzz", "off"]),
    "pixel-bomb-4096x4096": (hostile.status(200, hostile.b64_answer(hostile.png_bomb(4096, 4096))), ["--fuzz", "off"]),
}  # fmt: skip


def measure(name: str, behaviour: hostile.Behaviour, extra: list[str]) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp, hostile.serve(behaviour) as url:
        profile = {"name": name, "surfaces": {"unified": {"base_url": url, "models": ["gpt-image-2"]}},
                   "timeout_s": 30}  # fmt: skip
        Path(tmp, "p.yaml").write_text(json.dumps(profile))
        args = [sys.executable, "-m", "pixelproof.cli.main", "run", "--target", f"{tmp}/p.yaml",
                "--rules", "size.gpt-image-2.1:1", "--report-dir", tmp, "--run-id", "r", *extra]  # fmt: skip
        started = time.monotonic()
        with open(f"{tmp}/out", "wb") as out:
            pid = os.posix_spawn(args[0], args, dict(os.environ), file_actions=[
                (os.POSIX_SPAWN_DUP2, out.fileno(), 1), (os.POSIX_SPAWN_DUP2, out.fileno(), 2)])  # fmt: skip
            status, usage, peak_kb = _wait_sampling(pid)
        return {"case": name, "exit": os.waitstatus_to_exitcode(status),
                "wall_s": round(time.monotonic() - started, 1), "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
                "peak_rss_mb": round(peak_kb / 1024)}  # fmt: skip


def _wait_sampling(pid: int) -> tuple[int, os.struct_rusage, int]:
    """Wait for ``pid``, reading its VmHWM (which never falls) every 20 ms until it exits."""
    peak = 0
    while True:
        peak = max(peak, hostile.high_water_kb(pid))
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return status, usage, peak
        time.sleep(0.02)


def main() -> None:
    rows = [measure(name, *spec) for name, spec in CASES.items()]
    for row in rows:
        print(
            f"{row['case']:<28} exit {row['exit']}  {row['wall_s']:>6} s wall  {row['cpu_s']:>5} s cpu"
            f"  {row['peak_rss_mb']:>5} MiB peak (VmHWM)"
        )
    (ROOT / "bench" / "last_hostile.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
