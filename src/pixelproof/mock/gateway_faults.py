"""Gateway-role faults that bend documented defaults and validation (issue 12's missing promises).

Kept apart from gateway.py so the reference gateway reads as the documented behaviour; each helper
here is a no-op unless its fault is on for the request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pixelproof.mock import faults
from pixelproof.mock.errors import Relayed

if TYPE_CHECKING:
    from pixelproof.mock.upstream import Upstream

DROPPED_LIVE = ("output_format", "output_compression", "moderation", "quality")


def dropped(name: str) -> bool:
    """Faults that lose pass-through fields on the way upstream."""
    if faults.active("passthrough-dropped") and name in ("background", "style"):
        return True
    return faults.active("unified-fields-dropped") and name in DROPPED_LIVE


def wrong_defaults(upstream: str, up: dict[str, Any]) -> dict[str, Any]:
    """Fault dall-e-defaults-wrong: defaults other than the documented ones for omitted fields."""
    if not faults.active("dall-e-defaults-wrong"):
        return {}
    wrong = {"openai/dall-e-3": {"size": "1792x1024", "quality": "hd"},
             "openai/dall-e-2": {"size": "256x256"}, "openai/gpt-image-1": {"quality": "high"}}  # fmt: skip
    return {k: v for k, v in wrong.get(upstream, {}).items() if k not in up}


def lenient_model(known: list[str], name: Any) -> Any:
    """Faults that resolve unknown names to documented models (prefix or punctuation look-alikes)."""
    if not isinstance(name, str) or name in known:
        return name
    for model in sorted(known, key=len, reverse=True):
        if faults.active("model-prefix-match") and name.startswith(model + "-"):
            return model
        squash = "".join(c for c in model if c.isalnum())
        if (
            faults.active("model-lookalike-accepted")
            and "".join(c for c in name if c.isalnum()) == squash
        ):
            return model
    return name


def upstream_failed(status: int | None, body: bytes = b"", media_type: str = "") -> Relayed | None:
    """Faults that answer a failed upstream (``status`` None: no answer at all) with something
    other than the gateway's JSON error: the upstream's page relayed, or an empty success."""
    if faults.active("upstream-failure-hidden"):
        return Relayed(200, b'{"created": 0, "data": []}', "application/json")
    if not faults.active("upstream-error-passed-through"):
        return None
    if status is None:
        return Relayed(502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html")
    return Relayed(status, body, media_type or "text/html")


async def forward_promptless(upstream: Upstream, body: dict[str, Any]) -> dict[str, Any] | None:
    """Fault prompt-forwarded: a request without prompt goes upstream as it came (every field,
    as a pass-through sends it), so the upstream's refusal is what the client gets."""
    if body.get("prompt") is not None or not faults.active("prompt-forwarded"):
        return None
    return await upstream.post("/v1/images/generations", json=body)


async def forward_unknown_model(
    upstream: Upstream, known: list[str], body: dict[str, Any]
) -> dict[str, Any] | None:
    """Fault model-forwarded: a request naming a model the gateway does not serve goes upstream
    as it came (as a pass-through sends it), so the upstream's refusal is what the client gets."""
    name = body.get("model")
    if (
        not faults.active("model-forwarded")
        or not isinstance(name, str)
        or not name
        or name in known
    ):
        return None
    return await upstream.post("/v1/images/generations", json=body)
