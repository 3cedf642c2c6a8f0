"""run.json: the machine-readable record of a run; every other report is rendered from it.

Renderers (summary, HTML, diff, trend, merge) read only this record, so it carries what they need
to explain a failure without the catalogue at hand: the source document's title, the section and
the quoted sentence, the run's filters (a filtered run is not comparable to a full one) and the
identity of the profile's claims (two profiles never share a trend line).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from importlib import metadata
from typing import Any

from pixelproof.report.results import OUTCOMES, Results

SCHEMA = "pixelproof.cli.runner/1"


def _version() -> str:
    try:
        return metadata.version("pixelproof")
    except metadata.PackageNotFoundError:
        return "unknown"


def claims_hash(claims: dict[str, Any]) -> str:
    """A short, stable fingerprint of what a profile claims (surfaces, models, levels), not where
    it lives: the embedded stack gets new ports every run but makes the same claims."""
    text = json.dumps(claims, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def profile_claims(profile: Any) -> dict[str, Any]:
    """Models per surface, the profile's level and any per-surface level."""
    surfaces = {
        s: {"models": sorted(profile.models(s)), "level": getattr(claim, "level", None)}
        for s, claim in sorted(profile.surfaces.items())
    }
    return {"surfaces": surfaces, "level": getattr(profile, "level", None)}


def _source_fields(catalogue: Any, rule_id: str | None) -> dict[str, Any]:
    """Title, section and quote of the rule's source, and its levels when rules carry them."""
    if catalogue is None or not rule_id:
        return {}
    try:
        rule = catalogue.rule(rule_id)
    except KeyError:
        return {}  # fuzz targets and other non-catalogue cases
    document = catalogue.sources.documents.get(rule.source.doc)
    fields: dict[str, Any] = {
        "source_doc": rule.source.doc,
        "source_title": document.title if document else rule.source.doc,
        "section": rule.source.section,
        "quote": rule.source.quote,
    }
    levels = getattr(rule, "levels", None)
    if levels:
        fields["levels"] = sorted(levels)
    return fields


def _outcome(o: Any, catalogue: Any) -> dict[str, Any]:
    props = o.props
    return {
        "case": props.get("case"), "rule": props.get("rule"), "kind": props.get("kind"),
        "surface": props.get("surface"), "model": props.get("model") or None,
        "severity": props.get("severity"), "source": props.get("source"), "statement": props.get("statement"),
        **_source_fields(catalogue, props.get("rule")),
        "outcome": o.outcome, "message": o.message, "duration_s": round(o.duration_s, 4),
        "requests": props.get("requests"), "images": props.get("images"), "test": o.nodeid,
        "expected": props.get("expected"), "observed": props.get("observed"),
        "request": props.get("request"), "response": props.get("response"),
        "thumbnails": props.get("thumbnails") or [],
        "level": props.get("level") or None,  # the level the target claims where this case ran
    }  # fmt: skip


def scores_by_level(outcomes: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Outcome counts per conformance level: every case counts towards each level of its rule."""
    table: dict[str, dict[str, int]] = {}
    for o in outcomes:
        for level in o.get("levels") or []:
            row = table.setdefault(level, dict.fromkeys(OUTCOMES, 0))
            row[o["outcome"]] = row.get(o["outcome"], 0) + 1
    return table


def build_run_json(
    run_id: str,
    target: str | None,
    session: Any,
    results: Results,
    started: dt.datetime,
    filters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    profile = session.profile if session is not None else None
    catalogue = session.catalogue if session is not None else None
    outcomes = [
        _outcome(o, catalogue) for o in sorted(results.outcomes.values(), key=lambda o: o.nodeid)
    ]
    counts = results.counts()
    surfaces = {s: profile.models(s) for s in profile.surfaces} if profile else {}
    level = getattr(profile, "level", None) if profile else None
    return {
        "schema": SCHEMA,
        "run_id": run_id,
        "started": started.isoformat(),
        "finished": dt.datetime.now(dt.UTC).isoformat(),
        "pixelproof_version": _version(),
        "contracts": {"rules": len(catalogue) if catalogue is not None else 0},
        "target": {
            "name": profile.name if profile else (target or "embedded reference gateway"),
            "profile": target or "embedded",
            "surfaces": surfaces,
            "paid": profile.paid if profile else False,
            "level": level,
            "levels": {s: profile.level_of(s, catalogue) for s in profile.surfaces}
            if profile and catalogue is not None
            else {},
            "claims_hash": claims_hash(profile_claims(profile)) if profile else None,
        },
        "filters": filters or {},
        "levels": scores_by_level(outcomes),
        "counts": {k: counts[k] for k in OUTCOMES},
        "requests_sent": sum(int(o.get("requests") or 0) for o in outcomes),
        # cases whose worker crashed in them: what they sent is not in requests_sent
        "requests_uncounted": sorted(
            str(o.props.get("case")) for o in results.outcomes.values() if o.props.get("crashed")
        ),
        "images_bought": sum(int(o.get("images") or 0) for o in outcomes),
        "exit_code": results.exit_code(),
        "outcomes": outcomes,
    }
