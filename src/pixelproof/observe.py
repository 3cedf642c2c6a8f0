"""Observing a target: send each probe once, poll tasks, and fetch what reached the upstream.

Observations are cached by probe key for the whole session, so every rule that needs the same
request judges the same exchange. A 5xx or a malformed answer (2xx that is not JSON) is asked
once more: if it repeats, it is the target's answer and verdicts judge it (a broken promise);
if it does not, the case is unobservable (an error). No answer at all (refused, timeout,
a vanished task), or a 429 still there after the client's waits, is reported by ``unobservable``
as an error, never a failure; except where "not now" is itself the reply being judged
(``Observer._ask``).
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pixelproof.client import RATE_LIMITED, RUN_HEADER, Client, Clients, Exchange, retry_after
from pixelproof.deadline import Guard
from pixelproof.ledger import Ledger
from pixelproof.plan import KINDS, PROMPT_TAG, Probe, cases_for
from pixelproof.polling import TERMINAL, Cadence, PollClock, PollResult, RealTime, poll
from pixelproof.samples import sample_bytes
from pixelproof.surfaces import dialect
from pixelproof.surfaces.paths import FILE_AGE_HEADER

if TYPE_CHECKING:
    from pixelproof.catalogue import Catalogue
    from pixelproof.target import Profile

IMAGE_PATH_PREFIXES = ("/v1/images/", "/v1/edits", "/api/v3/images/", "/v1beta/models/")
MIME = {"png512": "image/png", "mask512": "image/png", "gif64": "image/gif"}


@dataclass
class Observation:
    probe: Probe
    nonce: str  # unique per send: what reached the upstream is matched per request
    exchange: Exchange | None = None  # the request (the submission, for tasks)
    task_id: str | None = None
    polls: list[Exchange] = field(default_factory=list)
    poll: PollResult | None = None
    skipped: str | None = None
    retried: str | None = None  # why the request was sent a second time (the first answer)
    unobservable: str | None = None  # a 5xx or malformed answer that did not repeat
    malformed: str | None = None  # a 2xx that is not JSON, twice: the target's answer
    window_since: int | None = (
        None  # recorder seq before sending (a request its prompt cannot trace)
    )
    unattributed: str | None = None  # upstream calls in that window no nonce tells the owner of
    # a 429 is the gateway's reply, judged (Observer._ask): to a request without valid
    # credentials once the asks are spent, to one made to fail upstream once it got there
    limit_is_an_answer: bool = False

    @property
    def final(self) -> Exchange | None:
        """The last answer: the last poll for tasks, else the exchange."""
        return self.polls[-1] if self.polls else self.exchange

    def all_exchanges(self) -> list[Exchange]:
        return [e for e in (self.exchange, *self.polls) if e is not None]


class TargetError(Exception):
    """The target could not be observed (an error of infrastructure, not a broken promise)."""


def ask_again(exchange: Exchange) -> str | None:
    """Why an answer is worth one more ask (a 5xx, or a 2xx that is not JSON); None if not."""
    if exchange.error or exchange.status is None:
        return None
    if exchange.status >= 500:
        return f"answered {exchange.status}"
    if exchange.ok and (exchange.content_type == "text/html" or not exchange.is_json()):
        kind = exchange.content_type or "no content type"
        return f"answered {exchange.status} with a body that is not JSON ({kind}, {len(exchange.body)} bytes)"
    return None


def unobservable(obs: Observation) -> str | None:
    """Why this observation cannot be judged (an error), or None. Answers, however wrong, are
    judged: only the absence of an answer, a 5xx/malformed answer that did not repeat, or a 429
    that outlasted its retries, is here."""
    if obs.unobservable:
        shown = obs.final.describe_request() if obs.final else ""
        return f"{obs.unobservable}\n  request: {shown}"
    for i, exchange in enumerate(obs.all_exchanges()):
        where = "submission" if i == 0 and obs.polls else ("poll" if i else "request")
        request = f"\n  request: {exchange.describe_request()}"
        status = exchange.status or 0
        if exchange.error:
            return f"{where}: {exchange.error}{request}"
        if status == RATE_LIMITED and not (i == 0 and obs.limit_is_an_answer):
            # "not now" says nothing of the promise (Client.send asked again)
            waits = ", ".join(f"{w:g}" for w in exchange.waited_s) or "none: the run deadline"
            return (f"{where} rate limited: answered 429 {exchange.sent} time(s) (waited {waits} s "
                    f"between): not judged{request}")  # fmt: skip
        if i > 0 and status == 404:
            return f"task {obs.task_id} vanished: the poll answered 404 after a successful submission{request}"
        if i > 0 and 400 <= status < 500:
            return f"poll answered {status}: {exchange.describe_response(200)}{request}"
    return None


class Observer:
    def __init__(self, catalogue: Catalogue, profile: Profile, run_id: str | None = None,
                 guard: Guard | None = None, clock: PollClock | None = None,
                 ledger: Ledger | None = None) -> None:  # fmt: skip
        self.catalogue = catalogue
        self.ledger = ledger or Ledger()  # the images bought, against the budget (ledger.py)
        self.profile = profile
        self.clock = clock or RealTime()  # what task polling waits with
        self.run_id = run_id or secrets.token_hex(4)
        self.guard = guard or Guard(profile.run_timeout_s, profile.breaker_after)
        auth, query = profile.credentials.auth()
        redactor = profile.credentials.redactor()
        self.clients = Clients(profile.surfaces, lambda s: Client(
            profile.base_url(s), auth, profile.timeout_s, headers=profile.headers_for(s),
            auth_query=query, redactor=redactor, guard=self.guard, surface=s, run=self.run_id))  # fmt: skip
        self.plain = Client("", None, profile.timeout_s, redactor=redactor, guard=self.guard,
                            surface="image downloads", run=self.run_id)  # fmt: skip
        self.recorder = (
            Client(str(profile.recorder).rstrip("/"), None, 30, redactor=redactor, guard=self.guard,
                   surface="recorder")
            if profile.recorder
            else None
        )  # fmt: skip
        self.cache: dict[str, Observation] = {}
        self.downloads: dict[str, Exchange] = {}
        self.decoded: dict[str, Any] = {}  # nonce -> images decoded from the final answer
        self.calls: dict[str, list[dict[str, Any]]] = {}  # nonce -> what reached the upstream
        self.images_sent = 0
        self.requests_sent = 0
        self.recorder_since = self._recorder_seq()
        self.stuck: dict[str, str] = {}  # surface -> a task that ran out its deadline there
        deadline_cases = cases_for(catalogue, profile, {"task_deadline"})
        self.deadline_probes = {p.key for case in deadline_cases for p in case.probes}
        injecting = cases_for(catalogue, profile, {k for k, kind in KINDS.items() if kind.injects})
        self.injecting = {p.key for case in injecting for p in case.probes}
        self.windowed = _untraced_by_prompt(catalogue, profile)

    # ------------------------------------------------------------------ sending
    def observe(self, probe: Probe) -> Observation:
        """The probe's observation: sent once per session (asked twice on a 5xx/malformed answer)."""
        cached = self.cache.get(probe.key)
        if cached is not None:
            return cached
        budget = self.profile.budget_images
        bought = (
            self.ledger.spend(probe.images, budget) if budget is not None and probe.images else None
        )
        if bought is not None:
            obs = Observation(probe, nonce=self._nonce(probe))
            obs.skipped = f"image budget of {budget} reached ({bought} bought); not sent"
        else:
            self.images_sent += probe.images
            obs = self._attempt(probe)
            why = ask_again(obs.exchange) if obs.exchange else None
            if why and probe.key in self.injecting and obs.exchange and obs.exchange.is_json():
                why = None  # the error a failure injected upstream calls for: judged as it is
            if why:
                obs = self._again(probe, why)
            obs = self._clear_window(probe, obs)
        self.cache[probe.key] = obs
        return obs

    def _clear_window(self, probe: Probe, obs: Observation) -> Observation:
        """A request no prompt can trace is proven not forwarded only by a window in which no
        untagged call arrived; other clients' untagged traffic (fuzzing on another worker) can
        fall in it, so a refused request is sent again, up to WINDOW_TRIES windows in all. A
        gateway that does forward it untagged fills every window: the case stays undecided."""
        for _ in range(WINDOW_TRIES - 1):
            status = (obs.exchange.status if obs.exchange else None) or 0
            if obs.window_since is None or not 400 <= status < 500:
                return obs
            if self.forwarded(obs) or obs.unattributed is None:
                return obs
            obs = self._attempt(probe)
        return obs

    def _nonce(self, probe: Probe) -> str:
        return f"{self.run_id}-{probe.key}-{secrets.token_hex(3)}"

    def _attempt(self, probe: Probe) -> Observation:
        obs = Observation(probe, nonce=self._nonce(probe))
        if probe.key in self.windowed and self.recorder is not None:
            obs.window_since = self._recorder_seq()
        obs.exchange = self._ask(probe, obs)
        if probe.op in ("task", "jimeng") and obs.exchange.ok and ask_again(obs.exchange) is None:
            self._poll(obs)
        return obs

    def _ask(self, probe: Probe, obs: Observation) -> Exchange:
        """The request, asked again after a 429 as its Retry-After says (``Client.send``). A 429
        is the reply itself, judged, in two places only: to a request without valid credentials
        once the asks are spent (a gateway throttling failed logins refuses them; a first-ask
        throttle answers the retry), and to a request made to fail upstream once it reached
        the upstream (the recorder saw its nonce): "try again later" is then the gateway's reply
        to that failure, judged at once; before it got there, it is a rate limit like any."""
        if probe.key not in self.injecting or self.recorder is None:
            exchange = self._send(probe, obs.nonce)
            obs.limit_is_an_answer = probe.credentials != "default"
            return exchange
        first = self._send(probe, obs.nonce, patient=False)
        if first.status != RATE_LIMITED or self._reached_upstream(obs):
            obs.limit_is_an_answer = True
            return first
        wait = retry_after(first.response_headers.get("retry-after"), 1.0)
        self.clients[probe.surface].sleep(wait)
        then = self._send(probe, obs.nonce)
        then.waited_s = [wait, *then.waited_s]  # (the first ask is counted: requests_sent)
        obs.limit_is_an_answer = then.status != RATE_LIMITED or self._reached_upstream(obs)
        return then

    def _reached_upstream(self, obs: Observation) -> bool:
        """Whether an image call of this request reached the upstream, read now (not cached)."""
        self.calls.pop(obs.nonce, None)
        try:
            return bool(self.forwarded(obs))
        finally:
            self.calls.pop(obs.nonce, None)

    def _again(self, probe: Probe, why: str) -> Observation:
        """The second ask: a repeat makes the answer the target's; anything else is unobservable."""
        obs = self._attempt(probe)
        obs.retried = why
        first = obs.exchange
        assert first is not None
        repeat = ask_again(first)
        if repeat is None and not first.error:
            obs.unobservable = (
                f"{why}, then {first.describe_response(120)} when asked again: "
                "a 5xx or malformed answer that does not repeat is not judged"
            )
        elif repeat is not None and (first.status or 0) < 500:
            obs.malformed = repeat
        return obs

    def _send(self, probe: Probe, nonce: str, patient: bool = True) -> Exchange:
        """One probe's request; ``requests_sent`` counts every ask it took."""
        client = self.clients[probe.surface]
        path = probe.path.replace("{nonce}", nonce)
        files = [(name, (f"{sample}.{MIME.get(sample, 'image/png').split('/')[1]}", sample_bytes(sample),
                         MIME.get(sample, "image/png"))) for name, sample in probe.files]  # fmt: skip
        exchange = client.send(
            probe.method, path, json_body=probe.json_body(nonce), files=files or None,
            data={k: v.replace("{nonce}", nonce) for k, v in probe.form} or None,
            params=dict(probe.query) or None, credentials=probe.credentials,
            headers={RUN_HEADER: f"{self.run_id} pp:{nonce}"}, patient=patient,
        )  # fmt: skip
        self.requests_sent += exchange.sent
        return exchange

    def _query(self, obs: Observation) -> Exchange:
        """One poll of the task's status (appended to the observation's polls)."""
        probe = obs.probe
        client = self.clients[probe.surface]
        if probe.op == "jimeng":
            body = {"req_key": (probe.json_body(obs.nonce) or {}).get("req_key"), "task_id": obs.task_id,
                    "req_json": json.dumps({"return_url": False})}  # fmt: skip
            params = {"Action": "CVSync2AsyncGetResult", "Version": "2022-08-31"}
            exchange = client.send("POST", probe.path, json_body=body, params=params)
        else:
            exchange = client.send("GET", f"/v1/tasks/{obs.task_id}")
        self.requests_sent += exchange.sent
        obs.polls.append(exchange)
        return exchange

    def _poll(self, obs: Observation) -> None:
        probe, submitted = obs.probe, obs.exchange
        assert submitted is not None
        obs.task_id = task_id_of(probe.surface, submitted.json())
        if obs.task_id is None:
            return

        def once() -> tuple[str | None, Exchange]:
            exchange = self._query(obs)
            why = ask_again(exchange)
            if why:  # asked again at once: a repeat is the answer, anything else unobservable
                exchange = self._query(obs)
                repeat = ask_again(exchange)
                if repeat is None and not exchange.error:
                    obs.unobservable = (
                        f"poll {why}, then {exchange.describe_response(120)}: not judged"
                    )
                elif repeat is not None and (exchange.status or 0) < 500:
                    obs.malformed = repeat
                return None, exchange
            if exchange.error or not exchange.ok:
                return None, exchange
            return task_status_of(probe.surface, exchange.json()), exchange

        obs.poll = poll(once, self._cadence(probe), self.clock.sleep, self.clock.monotonic)
        self._note_deadline(obs)

    def _cadence(self, probe: Probe) -> Cadence:
        """The documented cadence; only a few polls on a surface that has just left a task
        running past its deadline, unless a deadline rule judges this very request."""
        cadence = Cadence.for_surface(self.catalogue, self.profile, probe.surface)
        if probe.surface in self.stuck and probe.key not in self.deadline_probes:
            return cadence.impatient()
        return cadence

    def _note_deadline(self, obs: Observation) -> None:
        assert obs.poll is not None
        surface = obs.probe.surface
        if not obs.poll.deadline_exceeded:
            if obs.poll.status in TERMINAL:
                self.stuck.pop(surface, None)  # the surface finishes tasks again
            return
        stuck = self.stuck.get(surface)
        if stuck is not None and obs.probe.key not in self.deadline_probes:
            obs.unobservable = (
                f"task {obs.task_id} still {obs.poll.status!r} after {len(obs.poll.times)} polls; "
                f"not polled to the deadline: task {stuck} on {surface} already ran past it"
            )
        else:
            self.stuck[surface] = obs.task_id or "?"

    # ------------------------------------------------------------------ reading back
    def download(self, url: str) -> Exchange:
        """An image URL's answer. A 5xx is asked once more, as an API request's is: repeated, it
        is the answer (a download that fails); gone the second time, nothing is observed (the
        exchange's ``error`` says so)."""
        if url not in self.downloads:
            got = self.plain.download(url)
            self.requests_sent += got.sent
            if not got.error and got.status is not None and got.status >= 500:
                again = self.plain.download(url)
                self.requests_sent += again.sent
                if not again.error and (again.status or 0) < 500:
                    again.error = (f"answered {got.status}, then {again.status} when asked again:"
                                   " a 5xx that did not repeat, not judged")  # fmt: skip
                got = again
            self.downloads[url] = got
        return self.downloads[url]

    def download_aged(self, url: str, age_s: float) -> Exchange:
        """The URL fetched as if ``age_s`` seconds old (FILE_AGE_HEADER; only a pixelproof mock
        honours it, so only a profile with ``url_age_header`` asks)."""
        got = self.plain.download(url, headers={FILE_AGE_HEADER: f"{age_s:g}"})
        self.requests_sent += got.sent
        return got

    def _recorder_seq(self) -> int:
        if self.recorder is None:
            return 0
        answer = self.recorder.send("GET", "/__pixelproof/requests", params={"limit": "1"})
        body = answer.json() if answer.ok else None
        return int(body.get("last_seq", 0)) if isinstance(body, dict) else 0

    def forwarded(self, obs: Observation) -> list[dict[str, Any]]:
        """Image calls that reached the recorder for this very request (matched by its nonce,
        other traffic ignored); read once per observation. A dead recorder is a TargetError."""
        if obs.nonce in self.calls:
            return self.calls[obs.nonce]
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
        calls = [
            r
            for r in body.get("requests", [])
            if r.get("method") == "POST" and _is_image_call(r.get("path", ""))
        ]
        if obs.window_since is not None and not calls:
            calls, obs.unattributed = self._window(obs)
        self.calls[obs.nonce] = calls
        return calls

    def _window(self, obs: Observation) -> tuple[list[dict[str, Any]], str | None]:
        """The image calls that reached the recorder while ``obs`` was answered: those carrying
        its nonce in RUN_HEADER (a gateway that forwards the client's headers forwarded it), and
        why the others may include it though none names it (None: every other call is the
        harness's own, by a nonce in its body or a pixelproof header, so nothing was forwarded)."""
        assert self.recorder is not None
        assert obs.window_since is not None
        answer = self.recorder.send("GET", "/__pixelproof/requests",
                                    params={"since": str(obs.window_since), "method": "POST", "limit": "1000"})  # fmt: skip
        body = answer.json()
        if answer.error or not answer.ok or not isinstance(body, dict):
            raise TargetError(f"recorder unavailable: {answer.describe_response()}")
        calls = [r for r in body.get("requests", []) if _is_image_call(r.get("path", ""))
                 and (r.get("query") or {}).get("Action") != "CVSync2AsyncGetResult"]  # fmt: skip
        own = [r for r in calls if f"pp:{obs.nonce}" in _run_header(r)]
        if own:
            return own, None
        if body.get("more"):
            return (
                [],
                "more upstream calls arrived while it was answered than one recorder page holds",
            )
        orphans = [r for r in calls if not _harness_own(r)]
        if not orphans:
            return [], None
        paths = sorted({str(r.get("path")) for r in orphans})
        why = f"{len(orphans)} upstream call(s) without any pixelproof nonce ({', '.join(paths)}) arrived while it was answered"
        return [], why

    def close(self) -> None:
        for client in (*self.clients.values(), self.plain, self.recorder):
            if client is not None:
                client.close()


NONCE = re.compile(r"pp:\S+-[0-9a-f]{12}-[0-9a-f]{6}")
TAG_HEADER = "X-Pixelproof-Tag"  # fuzzing's tag (fuzz/runner.py): its requests are the harness's
WINDOW_TRIES = 3


def _untraced_by_prompt(catalogue: Catalogue, profile: Profile) -> set[str]:
    """Probes of rules promising nothing reaches the upstream whose prompt carries no nonce tag
    (a prompt-less request): only a window of the recorder can show that nothing arrived."""
    kinds = {r.kind for r in catalogue if r.expect.get("upstream") == "none"}
    return {
        p.key
        for case in cases_for(catalogue, profile, kinds)
        if case.rule.expect.get("upstream") == "none"
        for p in case.probes
        if PROMPT_TAG not in p.body + repr(p.form)
    }


def _run_header(record: dict[str, Any]) -> str:
    return str((record.get("headers") or {}).get(RUN_HEADER.lower(), ""))


def _harness_own(record: dict[str, Any]) -> bool:
    """A recorded call pixelproof itself sent or caused: it carries a nonce in its body, or a
    pixelproof header (its own requests sent to the recorder directly, fuzzing tagged by run, or
    forwarded by a gateway that passes the client's headers on)."""
    headers = record.get("headers") or {}
    if _run_header(record) or headers.get(TAG_HEADER.lower()):
        return True
    return bool(NONCE.search(json.dumps([record.get("json"), record.get("form")], default=str)))


def _is_image_call(path: str) -> bool:
    return path == "/" or path.startswith(IMAGE_PATH_PREFIXES)


def task_id_of(surface: str, body: Any) -> str | None:
    return dialect(surface).task_id(body)


def task_status_of(surface: str, body: Any) -> str | None:
    return dialect(surface).task_status(body)
