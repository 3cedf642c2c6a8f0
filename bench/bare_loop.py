"""The floor for bench_run.py: every distinct probe of the embedded plan sent once by a bare httpx
loop (tasks polled until done), to the same embedded stack in its own process, nothing judged.

    python bench/bare_loop.py          # prints seconds and requests sent
"""

from __future__ import annotations

import os
import time

import httpx

from pixelproof.catalogue import default_catalogue
from pixelproof.mock.stack_process import stack_process
from pixelproof.observe import task_id_of, task_status_of
from pixelproof.plan import Probe, cases_for, unique_probes
from pixelproof.samples import sample_bytes
from pixelproof.streamed import has_streamed, json_stream
from pixelproof.target import embedded_profile

KEY = "bench-key"
DONE = ("completed", "failed", "done", None)


def send(client: httpx.Client, base: str, probe: Probe) -> httpx.Response:
    files = [(f, (s, sample_bytes(s), "image/png")) for f, s in probe.files] or None
    body, content, headers = probe.json_body("bench"), None, None
    if body is not None and has_streamed(body):  # a 41 MB sample, written as pixelproof writes it
        length, chunks = json_stream(body)
        body, content = None, chunks()
        headers = {"Content-Type": "application/json", "Content-Length": str(length)}
    return client.request(
        probe.method, base + probe.path.replace("{nonce}", "bench"), json=body, content=content,
        headers=headers, data=dict(probe.form) or None, files=files, params=dict(probe.query) or None,
    )  # fmt: skip


def poll(client: httpx.Client, base: str, probe: Probe, task: str) -> int:
    sent = 0
    while True:
        time.sleep(0.003)
        if probe.op == "jimeng":
            body = {"req_key": probe.json_body("b")["req_key"], "task_id": task}
            params = {"Action": "CVSync2AsyncGetResult", "Version": "2022-08-31"}
            answer = client.post(base + "/jm", params=params, json=body)
        else:
            answer = client.get(f"{base}/v1/tasks/{task}")
        sent += 1
        if task_status_of(probe.surface, _json(answer)) in DONE:
            return sent


def _json(answer: httpx.Response) -> object:
    """The answer's JSON, or None (the upstream-failure probes answer an HTML page on purpose)."""
    try:
        return answer.json()
    except ValueError:
        return None


def main() -> None:
    catalogue = default_catalogue()
    os.environ["BENCH_KEY"] = KEY
    with stack_process(api_key=KEY, time_scale=1000) as stack:
        profile = embedded_profile(
            catalogue, stack.gateway.url, stack.upstream.url, "BENCH_KEY", 1000
        )
        probes = list(unique_probes(cases_for(catalogue, profile)).values())
        sent, started = 0, time.perf_counter()
        with httpx.Client(timeout=60, headers={"Authorization": f"Bearer {KEY}"}) as client:
            for probe in probes:
                base = profile.base_url(probe.surface)
                answer = send(client, base, probe)
                sent += 1
                ok = probe.op != "http" and answer.is_success
                task = task_id_of(probe.surface, _json(answer)) if ok else None
                if task:
                    sent += poll(client, base, probe, task)
        print(f"{time.perf_counter() - started:.2f} s, {sent} requests")


if __name__ == "__main__":
    main()
