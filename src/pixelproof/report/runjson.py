"""run.json: the machine-readable record of a run; every other report is rendered from it."""

from __future__ import annotations

import datetime as dt
from importlib import metadata
from typing import Any

from pixelproof.report.results import OUTCOMES, Results

SCHEMA = "pixelproof.cli.runner/1"


def _version() -> str:
    try:
        return metadata.version("pixelproof")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_run_json(
    run_id: str, target: str | None, session: Any, results: Results, started: dt.datetime
) -> dict[str, Any]:
    profile = session.profile if session is not None else None
    catalogue = session.catalogue if session is not None else None
    outcomes = []
    for o in sorted(results.outcomes.values(), key=lambda o: o.nodeid):
        props = o.props
        outcomes.append({
            "case": props.get("case"), "rule": props.get("rule"), "kind": props.get("kind"),
            "surface": props.get("surface"), "model": props.get("model") or None,
            "severity": props.get("severity"), "source": props.get("source"), "statement": props.get("statement"),
            "outcome": o.outcome, "message": o.message, "duration_s": round(o.duration_s, 4),
            "requests": props.get("requests"), "images": props.get("images"), "test": o.nodeid,
            "expected": props.get("expected"), "observed": props.get("observed"),
            "request": props.get("request"), "response": props.get("response"),
            "thumbnails": props.get("thumbnails") or [],
        })  # fmt: skip
    counts = results.counts()
    return {
        "schema": SCHEMA,
        "run_id": run_id,
        "started": started.isoformat(),
        "finished": dt.datetime.now(dt.UTC).isoformat(),
        "pixelproof_version": _version(),
        "contracts": {"rules": len(catalogue) if catalogue is not None else 0},
        "target": {
            "name": profile.name if profile else None,
            "profile": target or "embedded",
            "surfaces": {s: profile.models(s) for s in profile.surfaces} if profile else {},
            "paid": profile.paid if profile else False,
        },
        "counts": {k: counts[k] for k in OUTCOMES},
        "requests_sent": sum(int(o.get("requests") or 0) for o in outcomes),
        "images_bought": sum(int(o.get("images") or 0) for o in outcomes),
        "exit_code": results.exit_code(),
        "outcomes": outcomes,
    }
