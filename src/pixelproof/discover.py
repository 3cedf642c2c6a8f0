"""Discovery: which surfaces and models an endpoint serves, written as a draft target profile.

Onboarding starts here. Route probes cost nothing (an empty body a live route refuses with a JSON
4xx); ``GET /v1/models`` lists models where offered; then one cheap generation per candidate model
proves it is served, bounded by a budget of images. Routes only a unified gateway has (Jimeng /jm,
the /v1/edits alias, the task APIs) or only a vendor has (Ark's /api/v3, the visual API at /) tell
which design the endpoint is, and so which surfaces and level the draft claims.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pixelproof.surfaces import dialect
from pixelproof.surfaces.paths import ARK_PATH, jimeng_path

if TYPE_CHECKING:
    from pixelproof.catalogue import Catalogue
    from pixelproof.client import Client, Exchange

PROMPT = "pixelproof discover: a red cube on a wooden table"
SUBMIT = {"Action": "CVSync2AsyncSubmitTask", "Version": "2022-08-31"}
TASK_PREFIXES = {"tasks-action": ("/action", ""), "tasks-official": ("/official", "")}


@dataclass
class Found:
    """What discovery learned about one surface."""

    surface: str
    base_url: str
    served: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # model -> why
    untried: list[str] = field(default_factory=list)  # the budget ran out


@dataclass
class Discovery:
    url: str
    design: str  # gateway | vendor | pass-through
    routes: dict[str, bool]
    listed: list[str] | None
    surfaces: list[Found]
    images: int = 0


def _route(exchange: Exchange) -> bool:
    """A live route answers an empty request with a JSON refusal (or success), not a bare 404."""
    if exchange.error or exchange.status is None:
        return False
    if exchange.status in (404, 405) and not isinstance(exchange.json(), dict):
        return False
    return exchange.status < 500 and exchange.json() is not None


def probe_routes(client: Client) -> dict[str, bool]:
    """Which documented routes exist, each asked with an empty body (nothing is generated)."""
    asks = {
        "/v1/images/generations": ("POST", "/v1/images/generations", None),
        "/v1/edits": ("POST", "/v1/edits", None),
        "/v1beta/models": ("POST", "/v1beta/models/pixelproof-discover:generateContent", None),
        "/jm": ("POST", "/jm", SUBMIT),
        "/action": ("POST", "/action/v1/images/generations", None),
        "/official": ("POST", "/official/v1/images/generations", None),
        ARK_PATH: ("POST", ARK_PATH, None),
        "/ (visual API)": ("POST", "/", SUBMIT),
    }
    routes = {
        name: _route(client.send(method, path, json_body={}, params=params))
        for name, (method, path, params) in asks.items()
    }
    # an endpoint that answers JSON for any path (auth before routing, a catch-all) says nothing
    # about its routes: keep only the two every image API has, and let generations decide
    if _route(client.send("POST", "/pixelproof-no-such-route", json_body={})):
        routes = {name: name in ("/v1/images/generations", "/v1beta/models") for name in routes}
    return routes


def list_models(client: Client) -> list[str] | None:
    answer = client.send("GET", "/v1/models")
    body = answer.json() if answer.ok else None
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        return None
    return [str(item["id"]) for item in data if isinstance(item, dict) and item.get("id")]


def design_of(routes: dict[str, bool]) -> str:
    if routes["/jm"] or routes["/v1/edits"] or routes["/action"] or routes["/official"]:
        return "gateway"
    if routes[ARK_PATH] or routes["/ (visual API)"]:
        return "vendor"
    return "pass-through"


def _candidates(design: str, routes: dict[str, bool]) -> list[tuple[str, str]]:
    """(surface, path prefix) pairs worth a generation, in the order they are tried."""
    out: list[tuple[str, str]] = []
    if routes["/v1/images/generations"]:
        out += [("unified", "")] if design != "vendor" else [("openai", ""), ("xai", "")]
    if routes["/v1beta/models"]:
        out.append(("gemini" if design != "vendor" else "gemini-vendor", ""))
    if design == "gateway":
        out += [("jimeng-official", "")] if routes["/jm"] else []
        for surface, prefixes in TASK_PREFIXES.items():
            out += [(surface, p) for p in prefixes if not p or routes[p]][:1]
    if design == "vendor":
        out += [("ark", "")] if routes[ARK_PATH] else []
        out += [("jimeng-visual", "")] if routes["/ (visual API)"] else []
    return out


def _generate(client: Client, surface: str, prefix: str, model: str) -> Exchange:
    """One cheap generation of ``model`` in the surface's own dialect."""
    if surface in ("gemini", "gemini-vendor"):
        body = {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]}
        return client.send("POST", f"/v1beta/models/{model}:generateContent", json_body=body)
    if surface in ("jimeng-official", "jimeng-visual"):
        body = {"req_key": model, "prompt": PROMPT}
        return client.send("POST", jimeng_path(surface), json_body=body, params=SUBMIT)
    if surface == "tasks-official":
        body = {"model": model, "task_id": f"pp-discover-{dt.datetime.now().timestamp():.0f}-{model}",
                "params": {"prompt": PROMPT}}  # fmt: skip
        return client.send("POST", f"{prefix}/v1/images/generations", json_body=body)
    body = {"model": model, "prompt": PROMPT}
    if surface == "tasks-action":
        body["action"] = "generate"
    path = ARK_PATH if surface == "ark" else f"{prefix}/v1/images/generations"
    return client.send("POST", path, json_body=body)


def served(surface: str, answer: Exchange) -> bool:
    """The answer carries an image, or (async surfaces) a task id that will carry one."""
    body = answer.json() if answer.ok else None
    if not isinstance(body, dict):
        return False
    if surface in ("gemini", "gemini-vendor"):  # (fileData URLs count at the gateway entry)
        return bool(dialect(surface).images(body))
    if surface in ("jimeng-official", "jimeng-visual"):
        return body.get("code") == 10000 and bool((body.get("data") or {}).get("task_id"))
    if surface == "tasks-action":
        return isinstance(body.get("task_id"), str)
    if surface == "tasks-official":
        data = body.get("data")
        return (
            isinstance(data, list)
            and bool(data)
            and isinstance(data[0], dict)
            and "task_id" in data[0]
        )
    items = body.get("data")
    return isinstance(items, list) and any(isinstance(i, dict) and (i.get("b64_json") or i.get("url")) for i in items)  # fmt: skip


def _reason(answer: Exchange) -> str:
    return answer.describe_response(160)


def discover(url: str, catalogue: Catalogue, client: Client, budget: int) -> Discovery:
    routes = probe_routes(client)
    design = design_of(routes)
    listed = list_models(client)
    found: list[Found] = []
    spent = 0
    claimed_models: set[str] = set()
    for surface, prefix in _candidates(design, routes):
        documented = catalogue.models_on(surface)
        models = [m for m in documented if listed is None or m in listed]
        entry = Found(surface, url.rstrip("/") + prefix)
        for model in models:
            if surface in ("openai", "xai") and model in claimed_models:
                continue
            if spent >= budget:
                entry.untried.append(model)
                continue
            answer = _generate(client, surface, prefix, model)
            spent += 1
            if served(surface, answer):
                entry.served.append(model)
                claimed_models.add(model)
            else:
                entry.refused[model] = _reason(answer)
        if entry.served or entry.untried:
            found.append(entry)
    return Discovery(url, design, routes, listed, found, spent)


def level_for(design: str) -> str | None:
    return {"gateway": "unified-gateway", "pass-through": "openai-images"}.get(design)


def _flow(items: list[str]) -> str:
    return "[" + ", ".join(items) + "]"


def render_profile(found: Discovery, key_env: str | None, today: dt.date | None = None) -> str:
    """The draft profile as commented YAML: what was seen is said next to what it claims."""
    today = today or dt.date.today()
    level = level_for(found.design)
    answered = ", ".join(name for name, ok in found.routes.items() if ok) or "none"
    lines = [
        f"# Draft target profile written by `pixelproof discover {found.url}` on {today}.",
        f"# It looks like a {found.design}: routes that answered: {answered}.",
        f"# {found.images} image(s) bought to confirm models; models listed by GET /v1/models: "
        + (", ".join(found.listed) if found.listed is not None else "not offered") + ".",
        "# Review it, then: pixelproof plan --target THIS_FILE; pixelproof run --target THIS_FILE",
        f"name: discovered {found.url}",
    ]  # fmt: skip
    if level:
        lines.append(
            f"level: {level}   # what it looks like; openai-images for a plain pass-through"
        )
    lines.append("surfaces:")
    for entry in found.surfaces:
        if not entry.served:
            lines.append(
                f"  # {entry.surface}: nothing confirmed; untried (budget): {', '.join(entry.untried)}"
            )
            continue
        lines += [f"  {entry.surface}:", f"    base_url: {entry.base_url}",
                  f"    models: {_flow(entry.served)}   # each answered one generation"]  # fmt: skip
        if entry.untried:
            lines.append(f"    # untried (budget ran out): {', '.join(entry.untried)}")
        for model, why in entry.refused.items():
            lines.append(f"    # refused {model}: {' '.join(why.split())[:160]}")
    if not any(e.served for e in found.surfaces):
        lines.append("  {}   # no surface confirmed: raise --budget or check the URL and key")
    if key_env:
        lines += ["credentials:", f"  env: {key_env}   # the key itself never goes in this file"]
    lines.append(
        "# recorder: http://127.0.0.1:8700   # a pixelproof mock behind the target enables forwarding rules"
    )
    return "\n".join(lines) + "\n"


def to_dict(found: Discovery) -> dict[str, Any]:
    return {
        "design": found.design,
        "surfaces": {e.surface: e.served for e in found.surfaces if e.served},
    }
