"""Preflight: one cheap reachability check per base URL and the recorder, before any suite runs.

A closed port or a dead recorder otherwise surfaces as hundreds of per-test connection errors
after many seconds. Here any HTTP answer from a base URL counts as reachable (a gateway may
well answer 404 at its root); the recorder must answer its read API with JSON, since every
forwarding rule depends on it. Nothing billable is sent and no credentials go out.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

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


def _get(http: httpx.Client, url: str) -> tuple[httpx.Response | None, str]:
    try:
        return http.get(url), ""
    except httpx.TimeoutException:
        return None, f"no answer within {READ_S:g} s"
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"


def _recorder_problem(http: httpx.Client, base: str) -> str:
    answer, why = _get(http, f"{base}/__pixelproof/requests?limit=1")
    if answer is None:
        return why
    try:
        body = answer.json()
    except ValueError:
        body = None
    if answer.status_code != 200 or not isinstance(body, dict) or "last_seq" not in body:
        return f"answered {answer.status_code}, not the pixelproof recorder API"
    return ""


def preflight(profile: Profile) -> list[Unreachable]:
    """What cannot be reached: one entry per distinct base URL, and one for the recorder."""
    by_url: dict[str, list[str]] = {}
    for surface in profile.surfaces:
        by_url.setdefault(profile.base_url(surface), []).append(surface)
    problems = []
    timeout = httpx.Timeout(READ_S, connect=CONNECT_S)
    with httpx.Client(timeout=timeout, headers=dict(profile.headers)) as http:
        for url, surfaces in by_url.items():
            answer, why = _get(http, url)
            if answer is None:
                label = "surface" if len(surfaces) == 1 else "surfaces"
                problems.append(Unreachable(f"{label} {', '.join(surfaces)}", url, why))
        if profile.recorder is not None:
            base = str(profile.recorder).rstrip("/")
            why = _recorder_problem(http, base)
            if why:
                problems.append(Unreachable("recorder", base, why))
    return problems
