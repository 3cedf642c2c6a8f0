"""Observing a target: send each probe once, poll tasks, and fetch what reached the upstream.

Observations are cached by probe key for the whole session, so every rule that needs the same
request judges the same exchange. Infrastructure problems (refused, timeouts, 5xx, non-JSON, a
vanished task) are reported by ``infra_problem`` so suites can raise them as errors, not failures.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from pixelproof.catalogue import Catalogue
from pixelproof.client import Client, Exchange
from pixelproof.deadline import Guard
from pixelproof.plan import Probe
from pixelproof.polling import Cadence, PollResult, poll
from pixelproof.samples import sample_bytes
from pixelproof.surfaces import dialect
from pixelproof.target import Profile

IMAGE_PATH_PREFIXES = ("/v1/images/", "/v1/edits", "/api/v3/images/", "/v1beta/models/")
MIME = {"png512": "image/png", "mask512": "image/png", "gif64": "image/gif"}


@dataclass
class Observation:
    probe: Probe
    nonce: str
    exchange: Exchange | None = None  # the request (the submission, for tasks)
    task_id: str | None = None
    polls: list[Exchange] = field(default_factory=list)
    poll: PollResult | None = None
    skipped: str | None = None

    @property
    def final(self) -> Exchange | None:
        """The last answer: the last poll for tasks, else the exchange."""
        return self.polls[-1] if self.polls else self.exchange

    def all_exchanges(self) -> list[Exchange]:
        return [e for e in (self.exchange, *self.polls) if e is not None]


class TargetError(Exception):
    """The target could not be observed (an error of infrastructure, not a broken promise)."""


def infra_problem(obs: Observation, tolerate_5xx: bool = False) -> str | None:
    for i, exchange in enumerate(obs.all_exchanges()):
        where = "submission" if i == 0 and obs.polls else ("poll" if i else "request")
        request = f"\n  request: {exchange.describe_request()}"
        if exchange.error:
            return f"{where}: {exchange.error}{request}"
        status = exchange.status or 0
        if status >= 500 and not (tolerate_5xx and i == 0):
            return f"{where}: target answered {status}{request}\n  response: {exchange.describe_response()}"
        if exchange.content_type == "text/html":
            return f"{where}: target answered an HTML page ({status}), not the API{request}"
        if not exchange.is_json() and (
            200 <= status < 300 or exchange.content_type.endswith("json")
        ):
            return f"{where}: answer is not valid JSON ({exchange.content_type or 'no content type'}, {len(exchange.body)} bytes){request}"
        if i > 0 and status == 404:
            return f"task {obs.task_id} vanished: the poll answered 404 after a successful submission{request}"
        if i > 0 and status >= 400:
            return f"poll answered {status}: {exchange.describe_response(200)}{request}"
    return None


class Observer:
    def __init__(self, catalogue: Catalogue, profile: Profile, run_id: str | None = None,
                 guard: Guard | None = None) -> None:  # fmt: skip
        self.catalogue = catalogue
        self.profile = profile
        self.run_id = run_id or secrets.token_hex(4)
        self.guard = guard or Guard(profile.run_timeout_s, profile.breaker_after)
        auth, query = profile.credentials.auth()
        redactor = profile.credentials.redactor()
        self.clients = {
            s: Client(profile.base_url(s), auth, profile.timeout_s, headers=profile.headers,
                      auth_query=query, redactor=redactor, guard=self.guard, surface=s)
            for s in profile.surfaces
        }  # fmt: skip
        self.plain = Client("", None, profile.timeout_s, redactor=redactor, guard=self.guard,
                            surface="image downloads")  # fmt: skip
        self.recorder = (
            Client(str(profile.recorder).rstrip("/"), None, 30, redactor=redactor, guard=self.guard,
                   surface="recorder")
            if profile.recorder
            else None
        )  # fmt: skip
        self.cache: dict[str, Observation] = {}
        self.downloads: dict[str, Exchange] = {}
        self.images_sent = 0
        self.requests_sent = 0
        self.recorder_since = self._recorder_seq()

    # ------------------------------------------------------------------ sending
    def observe(self, probe: Probe) -> Observation:
        cached = self.cache.get(probe.key)
        if cached is not None:
            return cached
        obs = Observation(probe, nonce=f"{self.run_id}-{probe.key}")
        budget = self.profile.budget_images
        if budget is not None and probe.images and self.images_sent + probe.images > budget:
            obs.skipped = f"image budget of {budget} reached ({self.images_sent} bought); not sent"
        else:
            self.images_sent += probe.images
            obs.exchange = self._send(probe, obs.nonce)
            if probe.op in ("task", "jimeng") and obs.exchange.ok:
                self._poll(obs)
        self.cache[probe.key] = obs
        return obs

    def _send(self, probe: Probe, nonce: str) -> Exchange:
        self.requests_sent += 1
        client = self.clients[probe.surface]
        path = probe.path.replace("{nonce}", nonce)
        files = [(name, (f"{sample}.{MIME.get(sample, 'image/png').split('/')[1]}", sample_bytes(sample),
                         MIME.get(sample, "image/png"))) for name, sample in probe.files]  # fmt: skip
        return client.send(
            probe.method, path, json_body=probe.json_body(nonce), files=files or None,
            data={k: v.replace("{nonce}", nonce) for k, v in probe.form} or None,
            params=dict(probe.query) or None, credentials=probe.credentials,
        )  # fmt: skip

    def _poll(self, obs: Observation) -> None:
        probe, submitted = obs.probe, obs.exchange
        assert submitted is not None
        obs.task_id = task_id_of(probe.surface, submitted.json())
        if obs.task_id is None:
            return
        client = self.clients[probe.surface]
        query_body = {"req_key": (probe.json_body(obs.nonce) or {}).get("req_key"), "task_id": obs.task_id,
                      "req_json": json.dumps({"return_url": False})}  # fmt: skip

        def once() -> tuple[str | None, Exchange]:
            self.requests_sent += 1
            if probe.op == "jimeng":
                params = {"Action": "CVSync2AsyncGetResult", "Version": "2022-08-31"}
                exchange = client.send("POST", "/jm", json_body=query_body, params=params)
            else:
                exchange = client.send("GET", f"/v1/tasks/{obs.task_id}")
            obs.polls.append(exchange)
            if exchange.error or not exchange.ok:
                return None, exchange
            return task_status_of(probe.surface, exchange.json()), exchange

        obs.poll = poll(once, Cadence.for_surface(self.catalogue, self.profile, probe.surface))

    # ------------------------------------------------------------------ reading back
    def download(self, url: str) -> Exchange:
        if url not in self.downloads:
            self.requests_sent += 1
            self.downloads[url] = self.plain.download(url)
        return self.downloads[url]

    def _recorder_seq(self) -> int:
        if self.recorder is None:
            return 0
        answer = self.recorder.send("GET", "/__pixelproof/requests", params={"limit": "1"})
        body = answer.json() if answer.ok else None
        return int(body.get("last_seq", 0)) if isinstance(body, dict) else 0

    def forwarded(self, obs: Observation) -> list[dict[str, Any]]:
        """Image calls that reached the recorder for this observation (other traffic ignored)."""
        if self.recorder is None:
            raise TargetError("the profile names no recorder")
        answer = self.recorder.send(
            "GET",
            "/__pixelproof/requests",
            params={"contains": f"pp:{obs.nonce}", "since": str(self.recorder_since)},
        )
        body = answer.json()
        if answer.error or not answer.ok or not isinstance(body, dict):
            raise TargetError(f"recorder unavailable: {answer.describe_response()}")
        return [
            r
            for r in body.get("requests", [])
            if r.get("method") == "POST" and _is_image_call(r.get("path", ""))
        ]

    def close(self) -> None:
        for client in (*self.clients.values(), self.plain, self.recorder):
            if client is not None:
                client.close()


def _is_image_call(path: str) -> bool:
    return path == "/" or path.startswith(IMAGE_PATH_PREFIXES)


def task_id_of(surface: str, body: Any) -> str | None:
    return dialect(surface).task_id(body)


def task_status_of(surface: str, body: Any) -> str | None:
    return dialect(surface).task_status(body)
