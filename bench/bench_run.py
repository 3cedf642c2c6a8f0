"""How long a full `pixelproof run` takes, against the same requests sent by a bare httpx loop.

The bare loop is the floor: it sends every distinct probe of the plan once (tasks polled until
done) with no judging, no decoding and no pytest. The difference is pixelproof's own cost.

    python bench/bench_run.py            # prints a table, writes bench/last_run.json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from pixelproof.catalogue import default_catalogue
from pixelproof.mock.server import embedded_stack
from pixelproof.observe import task_id_of, task_status_of
from pixelproof.plan import cases_for, unique_probes
from pixelproof.samples import sample_bytes
from pixelproof.target import embedded_profile

HERE = Path(__file__).resolve().parent
KEY = "bench-key"


def time_cli(workers: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            sys.executable,
            "-m",
            "pixelproof.cli",
            "run",
            "--report-dir",
            tmp,
            "--fuzz",
            "off",
        ]
        if workers != "0":
            args += ["-n", workers]
        started = time.perf_counter()
        result = subprocess.run(args, capture_output=True, text=True, check=False, cwd=HERE.parent)
        elapsed = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(
                f"pixelproof run -n {workers} failed ({result.returncode}):\n{result.stdout[-2000:]}"
            )
        return elapsed


def time_bare_loop() -> tuple[float, int]:
    catalogue = default_catalogue()
    os.environ["BENCH_KEY"] = KEY
    with embedded_stack(api_key=KEY, time_scale=1000) as stack:
        profile = embedded_profile(
            catalogue, stack.gateway.url, stack.upstream.url, "BENCH_KEY", 1000
        )
        probes = list(unique_probes(cases_for(catalogue, profile)).values())
        headers = {"Authorization": f"Bearer {KEY}"}
        sent = 0
        started = time.perf_counter()
        with httpx.Client(timeout=60, headers=headers) as client:
            for probe in probes:
                base = profile.base_url(probe.surface)
                files = [(f, (s, sample_bytes(s), "image/png")) for f, s in probe.files] or None
                answer = client.request(
                    probe.method, base + probe.path.replace("{nonce}", "bench"),
                    json=probe.json_body("bench"), data=dict(probe.form) or None, files=files,
                    params=dict(probe.query) or None,
                )  # fmt: skip
                sent += 1
                task = (
                    task_id_of(probe.surface, answer.json())
                    if probe.op != "http" and answer.is_success
                    else None
                )
                while task:
                    time.sleep(0.003)
                    if probe.op == "jimeng":
                        poll = client.post(base + "/jm", params={"Action": "CVSync2AsyncGetResult", "Version": "2022-08-31"},
                                           json={"req_key": probe.json_body("b")["req_key"], "task_id": task})  # fmt: skip
                    else:
                        poll = client.get(f"{base}/v1/tasks/{task}")
                    sent += 1
                    if task_status_of(probe.surface, poll.json()) in (
                        "completed",
                        "failed",
                        "done",
                        None,
                    ):
                        break
        return time.perf_counter() - started, sent


def main() -> None:
    bare, sent = time_bare_loop()
    serial = time_cli("0")
    parallel = time_cli("auto")
    figures = {
        "machine_cores": os.cpu_count(),
        "bare_httpx_loop_s": round(bare, 2),
        "bare_requests": sent,
        "pixelproof_run_serial_s": round(serial, 2),
        "pixelproof_run_n_auto_s": round(parallel, 2),
        "overhead_serial_x": round(serial / bare, 2),
    }
    print(f"{'bare httpx loop (same probes, no judging)':<46}{bare:>8.2f} s  ({sent} requests)")
    print(f"{'pixelproof run (serial, fuzz off)':<46}{serial:>8.2f} s")
    print(f"{'pixelproof run -n auto (fuzz off)':<46}{parallel:>8.2f} s")
    (HERE / "last_run.json").write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
