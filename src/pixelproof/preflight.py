"""Preflight: one cheap reachability check per base URL and the recorder, before any suite runs.

A closed port or a dead recorder otherwise surfaces as hundreds of per-test connection errors
after many seconds. Here any HTTP answer from a base URL counts as reachable (a gateway may
well answer 404 at its root); the recorder must answer its read API with JSON, since every
forwarding rule depends on it. Nothing billable is sent and no credentials go out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pixelproof.client import Client, Exchange
from pixelproof.deadline import Guard

if TYPE_CHECKING:
    from pixelproof.target import Profile

CONNECT_S = 3.0
READ_S = 5.0


@dataclass(frozen=True)
class Unreachable:
    what: str  # "surface unified", "surfaces unified, gemini", "recorder"
    url: str
    why: str

    def line(self) -> str:
        return f"{self.what} at {self.url} unreachable: {self.why}"


PROBE_BYTES = 1024 * 1024  # a reachability answer needs no more (a huge one still counts)


def _get(http: Client, url: str) -> tuple[Exchange | None, str]:
    answer = http.send("GET", url, credentials="none")
    if answer.status is None:  # no answer at all: refused, reset, TLS, deadline
        return None, str(answer.error)
    return answer, ""


def _recorder_problem(http: Client, base: str) -> str:
    answer, why = _get(http, f"{base}/__pixelproof/requests?limit=1")
    if answer is None:
        return why
    body = answer.json()
    if answer.status != 200 or not isinstance(body, dict) or "last_seq" not in body:
        return f"answered {answer.status}, not the pixelproof recorder API"
    return ""


def preflight(profile: Profile) -> list[Unreachable]:
    """What cannot be reached: one entry per distinct base URL, and one for the recorder.
    Each check is bounded as a whole (connect to last byte) and reads at most PROBE_BYTES."""
    by_url: dict[str, list[str]] = {}
    for surface in profile.surfaces:
        by_url.setdefault(profile.base_url(surface), []).append(surface)
    problems = []
    http = Client("", None, min(CONNECT_S + READ_S, profile.timeout_s), headers=dict(profile.headers),
                  redactor=profile.credentials.redactor(), max_body=PROBE_BYTES,
                  guard=Guard(breaker_after=0))  # fmt: skip
    shown = profile.credentials.redactor()  # a URL's userinfo password is not for the report
    try:
        for url, surfaces in by_url.items():
            answer, why = _get(http, url)
            if answer is None:
                label = "surface" if len(surfaces) == 1 else "surfaces"
                what = f"{label} {', '.join(surfaces)}"
                problems.append(Unreachable(what, shown.url(url), shown.text(why)))
        if profile.recorder is not None:
            base = str(profile.recorder).rstrip("/")
            why = _recorder_problem(http, base)
            if why:
                problems.append(Unreachable("recorder", shown.url(base), shown.text(why)))
    finally:
        http.close()
    return problems
