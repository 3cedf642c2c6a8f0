"""Evidence as data: dump what was observed for a case to JSON and load it back, unchanged.

Because verdicts are pure functions of (rule, evidence), a recorded case can be judged again
without any server: the project's tests judge recorded evidence of every rule kind (one kept
promise and one broken), and a puzzling verdict can be replayed from its evidence file.
Request bodies are shortened (a verdict never reads them); answers and images are kept whole.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from pixelproof.client import Exchange
from pixelproof.images import ImageError, decode
from pixelproof.judging.evidence import Evidence
from pixelproof.judging.failures import ImageResult
from pixelproof.observe import Observation
from pixelproof.plan import Case, cases_for
from pixelproof.polling import PollResult
from pixelproof.target import embedded_profile

if TYPE_CHECKING:
    from pixelproof.catalogue import Catalogue

FORMAT = "pixelproof.evidence/1"
EXCHANGE_FIELDS = ("method", "url", "request_headers", "request_json", "request_files", "status",
                   "response_headers", "elapsed_s", "error")  # fmt: skip


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > 120:
        return value[:60] + f"...({len(value)} chars)"
    if isinstance(value, list):
        return [_short(v) for v in value]
    if isinstance(value, dict):
        return {k: _short(v) for k, v in value.items()}
    return value


def _exchange_out(ex: Exchange | None) -> dict[str, Any] | None:
    if ex is None:
        return None
    out = {name: getattr(ex, name) for name in EXCHANGE_FIELDS}
    out["request_json"] = _short(ex.request_json)
    out["body"] = base64.b64encode(ex.body).decode()
    return out


def _exchange_in(data: dict[str, Any] | None) -> Exchange | None:
    if data is None:
        return None
    kept = {name: data[name] for name in EXCHANGE_FIELDS}
    return Exchange(**kept, body=base64.b64decode(data["body"]))


def _observation_out(obs: Observation) -> dict[str, Any]:
    poll = obs.poll
    return {
        "nonce": obs.nonce, "exchange": _exchange_out(obs.exchange), "task_id": obs.task_id,
        "polls": [_exchange_out(p) for p in obs.polls], "skipped": obs.skipped,
        "retried": obs.retried, "unobservable": obs.unobservable, "malformed": obs.malformed,
        "poll": None if poll is None else {"status": poll.status, "times": poll.times,
                                           "deadline_exceeded": poll.deadline_exceeded},
    }  # fmt: skip


def _observation_in(data: dict[str, Any], case: Case, i: int) -> Observation:
    obs = Observation(
        case.probes[i], data["nonce"], _exchange_in(data["exchange"]), data["task_id"]
    )
    obs.polls = [e for e in (_exchange_in(p) for p in data["polls"]) if e is not None]
    obs.skipped, obs.retried = data["skipped"], data["retried"]
    obs.unobservable, obs.malformed = data["unobservable"], data["malformed"]
    if data["poll"] is not None:
        obs.poll = PollResult(
            data["poll"]["status"],
            list(obs.polls),
            data["poll"]["times"],
            data["poll"]["deadline_exceeded"],
        )
    return obs


def _image_out(img: ImageResult) -> dict[str, Any]:
    return {"source": img.source, "problem": img.problem, "declared": img.declared,
            "data": base64.b64encode(img.data).decode() if img.data else None}  # fmt: skip


def _image_in(data: dict[str, Any]) -> ImageResult:
    raw = base64.b64decode(data["data"]) if data["data"] else None
    img = ImageResult(data["source"], problem=data["problem"], declared=data["declared"], data=raw)
    if raw is not None:
        try:
            img.image = decode(raw)
        except ImageError as exc:
            img.problem = str(exc)
    return img


def dump(evidence: Evidence) -> dict[str, Any]:
    case = evidence.case
    return {
        "format": FORMAT, "rule": case.rule.id, "surface": case.surface, "model": case.model,
        "observations": [_observation_out(o) for o in evidence.observations],
        "images": [[_image_out(i) for i in imgs] for imgs in evidence.images],
        "calls": evidence.calls,
        "aged": None if evidence.aged is None else [_image_out(i) for i in evidence.aged],
    }  # fmt: skip


def _case(catalogue: Catalogue, rule: str, surface: str, model: str | None) -> Case:
    """The case as the plan builds it for the embedded stack (probes carry op and surface)."""
    profile = embedded_profile(catalogue, "http://127.0.0.1:0", "http://127.0.0.1:0", "UNSET", 1)
    for case in cases_for(catalogue, profile, {catalogue.rule(rule).kind}):
        if (case.rule.id, case.surface, case.model) == (rule, surface, model):
            return case
    raise KeyError(f"no case {rule} on {surface} for {model}")


def load(data: dict[str, Any], catalogue: Catalogue) -> Evidence:
    if data.get("format") != FORMAT:
        raise ValueError(f"not recorded evidence ({data.get('format')!r}, expected {FORMAT})")
    case = _case(catalogue, data["rule"], data["surface"], data["model"])
    observations = [_observation_in(o, case, i) for i, o in enumerate(data["observations"])]
    images = [[_image_in(i) for i in imgs] for imgs in data["images"]]
    aged = data.get("aged")  # absent in evidence recorded before URL lifetimes were judged
    aged_images = None if aged is None else [_image_in(i) for i in aged]
    return Evidence(case, catalogue, observations, images, data["calls"], aged_images)
