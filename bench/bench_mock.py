"""Benchmark of the built-in mock over a real loopback socket (vendor role, uvicorn in a thread).

Three figures: requests/second of a cached 1024x1024 gpt-image-2 b64_json generation over one
keep-alive connection; latency of a 3840x2160 PNG answer when the image is already rendered (warm);
and when it is not (cold: both render caches cleared before every sample, so nothing from an
earlier sample is reused; the shade follows the model, so a new prompt alone would stay warm).
Writes bench/last_mock.json next to this file.

    /tmp/venv/bin/python bench/bench_mock.py [--requests 500] [--warm 100] [--cold 16] [--profile]

``--profile`` also runs the warm 4K path under cProfile inside the server thread and prints where
the server's time goes.

``--raw`` compares servers instead, each in its own process, driven by the raw-socket client of
rawload.py at several concurrencies (``--concurrency 1,10,50``): the pixelproof vendor mock, and
Stoplight Prism's mock (through ``npx``, when node is installed) answering the very bytes the
pixelproof mock answered, from a one-operation OpenAPI document. The requests are distinct, as a
run's are: each prompt ends in its own 10-digit counter (rawload's ``NONCE``; same length every
time, so every body and every answer has the same size), which a mock that kept answers of
identical requests could not serve from memory; Prism answers its static example to each, so the
comparison stays the same answer against the same answer. Prints requests/second of each
and the ratio, each server's CPU per request (its process tree, from /proc) and the client's own
(it shares the machine's cores with the server it measures); writes bench/last_mock_raw.json.
Both servers are up at once and measured in alternating slices (``--slices``, the order swapped
each slice), so the machine's drift and other jobs fall on both alike; the ratio of each pair of
slices is printed too (its minimum and median).

    python bench/bench_mock.py --raw [--concurrency 1,10,50] [--seconds 3] [--slices 6]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import platform
import pstats
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import PIL
import uvicorn

from pixelproof.images import render, render_b64
from pixelproof.mock import MockConfig, create_app
from pixelproof.mock.server import bind, start, url_of

HERE = Path(__file__).resolve().parent
GENERATIONS = "/v1/images/generations"
SMALL = {"model": "gpt-image-2", "prompt": "bench small", "size": "1024x1024"}
FOUR_K = {"model": "gpt-image-2", "prompt": "bench 4k", "size": "3840x2160"}
GOAL_WARM_4K_P50_MS = 5.0
# --raw: the prompt's last 10 characters are rawload's NONCE, numbered anew on every send
RAW = SMALL | {"prompt": "bench small ##########"}


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    cuts = statistics.quantiles(ms, n=20, method="inclusive") if len(ms) > 1 else ms * 19
    return {
        "p50_ms": round(statistics.median(ms), 3),
        "p95_ms": round(cuts[18], 3),
        "min_ms": round(ms[0], 3),
        "max_ms": round(ms[-1], 3),
        "samples": len(ms),
    }


def timed_post(client: httpx.Client, body: dict[str, Any]) -> tuple[float, int]:
    start_ = time.perf_counter()
    response = client.post(GENERATIONS, json=body)
    elapsed = time.perf_counter() - start_
    if response.status_code != 200:
        raise SystemExit(f"mock answered {response.status_code}: {response.text[:300]}")
    return elapsed, len(response.content)


def throughput(client: httpx.Client, requests: int) -> dict[str, Any]:
    for _ in range(20):
        timed_post(client, SMALL)  # warm: connection open, image rendered and encoded
    latencies = []
    start_ = time.perf_counter()
    for _ in range(requests):
        latencies.append(timed_post(client, SMALL)[0])
    wall = time.perf_counter() - start_
    return {"requests": requests, "rps": round(requests / wall, 1), **percentiles(latencies)}


def warm_4k(client: httpx.Client, samples: int) -> dict[str, Any]:
    _, nbytes = timed_post(client, FOUR_K)
    latencies = [timed_post(client, FOUR_K)[0] for _ in range(samples)]
    return {"response_bytes": nbytes, **percentiles(latencies)}


def cold_4k(client: httpx.Client, samples: int) -> dict[str, Any]:
    """Each sample renders and encodes anew: both render caches are emptied before it."""
    latencies = []
    for i in range(samples):
        render.cache_clear()
        render_b64.cache_clear()
        latencies.append(timed_post(client, FOUR_K | {"prompt": f"bench cold {i}"})[0])
    return percentiles(latencies)


def machine() -> dict[str, Any]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu": model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "pillow": PIL.__version__,
        "httpx": httpx.__version__,
        "uvicorn": uvicorn.__version__,
    }


@contextmanager
def profiled_server() -> Iterator[tuple[str, cProfile.Profile]]:
    """The vendor mock served by uvicorn in a thread that runs under cProfile."""
    sock = bind()
    server = uvicorn.Server(
        uvicorn.Config(create_app(MockConfig()), log_level="warning", lifespan="off")
    )
    profile = cProfile.Profile()

    def run() -> None:
        profile.enable()
        try:
            server.run(sockets=[sock])
        finally:
            profile.disable()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield url_of(sock), profile
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def profile_warm_4k(samples: int) -> str:
    with profiled_server() as (url, profile), httpx.Client(base_url=url, timeout=120) as client:
        warm_4k(client, samples)
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(15)
    return out.getvalue()


def table(results: dict[str, Any]) -> str:
    rows = [
        ("cached 1024x1024 b64_json", results["throughput_1024_b64"], f"{results['throughput_1024_b64']['rps']:.0f} req/s"),
        ("warm 3840x2160 png", results["warm_4k_png"], f"{results['warm_4k_png']['response_bytes']:,} B"),
        ("cold 3840x2160 png", results["cold_4k_png"], ""),
    ]  # fmt: skip
    lines = [f"{'case':<28}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}  note", "-" * 68]
    for name, figures, note in rows:
        lines.append(
            f"{name:<28}{figures['samples']:>6}{figures['p50_ms']:>10.2f}{figures['p95_ms']:>10.2f}  {note}"
        )
    goal = results["goal"]
    lines.append(
        f"warm 4K p50 goal <= {goal['warm_4k_p50_ms']} ms: {'met' if goal['met'] else 'MISSED'}"
    )
    return "\n".join(lines)


def _measured(url: str, pid: int, c: int, seconds: float, warmup: float) -> dict[str, Any]:
    """One load of ``seconds`` on one server: its requests, the server's and the client's CPU."""
    from rawload import run_load
    from servers import tree_cpu_s

    before, client_before = tree_cpu_s(pid), time.process_time()
    load = run_load(url, GENERATIONS, RAW, c, seconds, warmup)
    return {"load": load, "server_cpu_s": tree_cpu_s(pid) - before,
            "client_cpu_s": time.process_time() - client_before}  # fmt: skip


def _summed(slices: list[dict[str, Any]], c: int) -> dict[str, Any]:
    """Slices of one server at one concurrency as one figure: rate over the summed time, CPU over
    the summed requests (warm-up ones included), the median slice's p50 and p95."""
    loads = [s["load"] for s in slices]
    total = max(sum(load.total for load in loads), 1)
    seconds = sum(load.seconds for load in loads)
    return {"concurrency": c, "requests": sum(load.requests for load in loads),
            "rps": round(sum(load.requests for load in loads) / seconds, 1),
            "response_bytes": loads[0].response_bytes,
            "p50_ms": statistics.median(load.p50_ms for load in loads),
            "p95_ms": statistics.median(load.p95_ms for load in loads),
            "server_cpu_us_per_request": round(sum(s["server_cpu_s"] for s in slices) / total * 1e6, 1),
            "client_cpu_us_per_request": round(sum(s["client_cpu_s"] for s in slices) / total * 1e6, 1)}  # fmt: skip


def _alternated(servers: dict[str, tuple[str, int]], c: int, seconds: float, slices: int) -> dict[str, Any]:  # fmt: skip
    """Each server in turn, ``slices`` times (the order swapped every slice), ``seconds`` in all
    each: both see the machine's same moments, so its drift (other jobs, the VM) moves both."""
    for url, pid in servers.values():
        _measured(url, pid, c, 0.5, 0.5)  # warm: connections, caches, node's JIT
    got: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
    for i in range(slices):
        for name in list(servers)[:: 1 if i % 2 == 0 else -1]:
            url, pid = servers[name]
            got[name].append(_measured(url, pid, c, seconds / slices, 0.2))
    out = {name: _summed(got[name], c) for name in servers}
    if len(servers) == 2:
        ratios = sorted(a["load"].rps / b["load"].rps for a, b in zip(*got.values(), strict=True)
                        if b["load"].rps)  # fmt: skip
        out["slice_ratios"] = [round(r, 2) for r in ratios]
    return out


def raw_comparison(concurrency: list[int], seconds: float, slices: int = 6) -> dict[str, Any]:
    """pixelproof's mock vs Prism's, same answer, same raw keep-alive client, separate processes,
    both up at once and measured in alternating slices."""
    import tempfile

    from rawload import NONCE, numbered
    from servers import PRISM, pixelproof_mock, prism_mock, prism_unavailable

    assert RAW["prompt"].endswith(NONCE)
    first = numbered(RAW, 0)  # the answer to a numbered request: the size every answer has
    out: dict[str, Any] = {"request": RAW, "distinct_requests": True, "pixelproof": {},
                           "prism": {}, "prism_package": PRISM, "slices": slices,
                           "slice_ratios": {}}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, pixelproof_mock(GENERATIONS, first) as (url, pid):
        answer = httpx.post(url + GENERATIONS, json=first, timeout=60).content
        out["answer_bytes"] = len(answer)
        servers = {"pixelproof": (url, pid)}
        why = prism_unavailable()
        with contextlib.ExitStack() as stack:
            if why is None:
                try:
                    servers["prism"] = stack.enter_context(
                        prism_mock(GENERATIONS, first, answer, Path(tmp))
                    )
                except RuntimeError as exc:
                    log = Path(tmp) / "prism.log"
                    tail = log.read_text(errors="replace")[-400:] if log.exists() else ""
                    why = f"Prism did not serve: {exc}; its log ends: {tail!r}"
            for c in concurrency:
                got = _alternated(servers, c, seconds, slices)
                for name in servers:
                    out[name][c] = got[name]
                if "slice_ratios" in got:
                    out["slice_ratios"][c] = got["slice_ratios"]
        out["prism_unavailable"] = why
    return out


def raw_table(raw: dict[str, Any]) -> str:
    lines = [f"same {raw['answer_bytes']:,}-byte answer to distinct requests (a counter in each prompt), raw keep-alive"
             " client, servers in their own processes",
             f"{'c':>4}{'pixelproof req/s':>18}{'prism req/s':>14}{'ratio':>8}{'pp p50 ms':>11}{'prism p50 ms':>14}"
             f"{'pp cpu us/req':>15}{'prism cpu us/req':>18}{'prism/pp cpu':>14}{'client us/req pp/prism':>24}"
             f"{'slice ratios min/median':>25}"]  # fmt: skip
    for c, mine in raw["pixelproof"].items():
        theirs = raw["prism"].get(c)
        ratio = f"{mine['rps'] / theirs['rps']:.2f}x" if theirs and theirs["rps"] else "-"
        their_cpu = (theirs or {}).get("server_cpu_us_per_request", float("nan"))
        cpu_ratio = f"{their_cpu / mine['server_cpu_us_per_request']:.2f}x" if theirs else "-"
        lines.append(f"{c:>4}{mine['rps']:>18.0f}{(theirs or {}).get('rps', float('nan')):>14.0f}{ratio:>8}"
                     f"{mine['p50_ms']:>11.2f}{(theirs or {}).get('p50_ms', float('nan')):>14.2f}"
                     f"{mine['server_cpu_us_per_request']:>15.0f}{their_cpu:>18.0f}{cpu_ratio:>14}"
                     f"{mine['client_cpu_us_per_request']:>18.0f} / {(theirs or {}).get('client_cpu_us_per_request', float('nan')):<4.0f}"
                     f"{_slice_ratios(raw.get('slice_ratios', {}).get(c)):>25}")  # fmt: skip
    if raw.get("prism_unavailable"):
        lines.append(f"Prism not measured: {raw['prism_unavailable']}")
    return "\n".join(lines)


def _slice_ratios(ratios: list[float] | None) -> str:
    if not ratios:
        return "-"
    return f"{min(ratios):.2f}x / {statistics.median(ratios):.2f}x"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500, help="throughput requests")
    parser.add_argument("--warm", type=int, default=100, help="warm 4K samples")
    parser.add_argument("--cold", type=int, default=16, help="cold 4K samples")
    parser.add_argument("--profile", action="store_true", help="profile the warm 4K path")
    parser.add_argument(
        "--out",
        type=Path,
        help="where the figures go (default bench/last_mock.json, with --raw"
        " bench/last_mock_raw.json)",
    )
    parser.add_argument("--raw", action="store_true", help="raw-socket client: pixelproof vs Prism")
    parser.add_argument(
        "--concurrency", default="1,10,50", help="--raw: connections, comma-separated"
    )
    parser.add_argument(
        "--seconds", type=float, default=3.0, help="--raw: measured seconds per point and server"
    )
    parser.add_argument(
        "--slices", type=int, default=6, help="--raw: alternations of the two servers per point"
    )
    return parser


def _write(figures: dict[str, Any], out: Path) -> None:
    figures["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")


def _in_process(args: argparse.Namespace) -> dict[str, Any]:
    running = start(create_app(MockConfig(role="upstream")))
    try:
        with httpx.Client(base_url=running.url, timeout=120) as client:
            steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [
                ("throughput_1024_b64", lambda: throughput(client, args.requests)),
                ("warm_4k_png", lambda: warm_4k(client, args.warm)),
                ("cold_4k_png", lambda: cold_4k(client, args.cold)),
            ]
            results: dict[str, Any] = {name: step() for name, step in steps}
    finally:
        running.stop()
    warm_p50 = results["warm_4k_png"]["p50_ms"]
    results["goal"] = {
        "warm_4k_p50_ms": GOAL_WARM_4K_P50_MS,
        "met": warm_p50 <= GOAL_WARM_4K_P50_MS,
    }
    results["machine"] = machine()
    return results


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.raw:
        raw = raw_comparison(
            [int(c) for c in args.concurrency.split(",")], args.seconds, args.slices
        )
        raw["machine"] = machine() | {"load_average": os.getloadavg()}
        print(raw_table(raw))
        _write(raw, args.out or HERE / "last_mock_raw.json")
        return 0
    results = _in_process(args)
    print(table(results))
    _write(results, args.out or HERE / "last_mock.json")
    if args.profile:
        print(profile_warm_4k(args.warm))
    return 0


if __name__ == "__main__":
    sys.exit(main())
