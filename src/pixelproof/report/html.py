"""report.html: one self-contained page (no network, no external assets) rendered from run.json.

The conformance matrix (models x rule kinds), a headline score per surface, and a drill-down per
failure with expected vs observed, the request, and thumbnails of the returned images.
"""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from typing import Any

COLOURS = {
    "passed": "#2e7d32", "failed": "#c62828", "error": "#ef6c00", "waived": "#6a1b9a",
    "fixed": "#1565c0", "skipped": "#9e9e9e",
}  # fmt: skip
WORST = ("error", "failed", "fixed", "waived", "skipped", "passed")
STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#212121;max-width:1400px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.meta{color:#616161;margin-bottom:16px}.scores{display:flex;gap:12px;flex-wrap:wrap}
.score{border:1px solid #e0e0e0;border-radius:8px;padding:10px 14px;min-width:150px}
.score b{font-size:22px;display:block}
table{border-collapse:collapse;font-size:12px}th,td{border:1px solid #e0e0e0;padding:4px 6px;text-align:center}
th{background:#fafafa;position:sticky;top:0}td.m{text-align:left;white-space:nowrap}
td.c{color:#fff;font-weight:600;min-width:44px}td.n{background:#f5f5f5;color:#bdbdbd}
.legend span{display:inline-block;padding:2px 8px;margin-right:6px;border-radius:4px;color:#fff;font-size:12px}
details{border:1px solid #e0e0e0;border-radius:6px;margin:6px 0;padding:6px 10px}
summary{cursor:pointer;font-weight:600}pre{white-space:pre-wrap;word-break:break-all;background:#fafafa;padding:8px;font-size:12px}
.tag{display:inline-block;border-radius:4px;color:#fff;padding:0 6px;font-size:11px;margin-right:6px}
img.thumb{max-width:160px;max-height:160px;border:1px solid #e0e0e0;margin:4px}
"""


def _e(value: Any) -> str:
    return html.escape(str(value if value is not None else ""))


def _worst(counts: Counter[str]) -> str:
    return next((o for o in WORST if counts.get(o)), "passed")


def scores(data: dict[str, Any]) -> dict[str, tuple[int, int, float]]:
    """Per surface: (kept, judged, percent); waived and skipped rules are not judged."""
    kept: Counter[str] = Counter()
    judged: Counter[str] = Counter()
    for o in data["outcomes"]:
        if o["outcome"] in ("passed", "failed", "error", "fixed"):
            judged[o["surface"]] += 1
            kept[o["surface"]] += o["outcome"] == "passed"
    return {
        s: (kept[s], judged[s], 100.0 * kept[s] / judged[s] if judged[s] else 0.0)
        for s in sorted(judged)
    }


def _matrix(data: dict[str, Any]) -> str:
    cells: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    kinds = sorted({o["kind"] for o in data["outcomes"] if o.get("kind")})
    rows = sorted(
        {(o["surface"], o.get("model") or "*") for o in data["outcomes"] if o.get("kind")}
    )
    for o in data["outcomes"]:
        if o.get("kind"):
            cells[(f"{o['surface']}|{o.get('model') or '*'}", o["kind"])][o["outcome"]] += 1
    head = "".join(f"<th>{_e(k)}</th>" for k in kinds)
    body = []
    for surface, model in rows:
        tds = []
        for kind in kinds:
            counts = cells.get((f"{surface}|{model}", kind))
            if not counts:
                tds.append('<td class="n">·</td>')
                continue
            worst = _worst(counts)
            total = sum(counts.values())
            title = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            tds.append(
                f'<td class="c" style="background:{COLOURS[worst]}" title="{_e(title)}">{counts["passed"]}/{total}</td>'
            )
        body.append(
            f'<tr><td class="m">{_e(surface)}</td><td class="m">{_e(model)}</td>{"".join(tds)}</tr>'
        )
    return f'<div style="overflow-x:auto"><table id="matrix"><thead><tr><th>surface</th><th>model</th>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _drilldown(data: dict[str, Any]) -> str:
    items = [o for o in data["outcomes"] if o["outcome"] in ("failed", "error", "fixed")]
    if not items:
        return "<p>No failures and no errors.</p>"
    out = []
    for o in items:
        thumbs = "".join(
            f'<img class="thumb" alt="returned image" src="data:image/jpeg;base64,{t}">'
            for t in o.get("thumbnails") or []
        )
        fields = "".join(
            f"<p><b>{label}:</b> {_e(o.get(key))}</p>" for key, label in (("statement", "statement"), ("source", "source"),
                                                                          ("expected", "expected"), ("observed", "observed"))
            if o.get(key)
        )  # fmt: skip
        request = (
            f"<pre>{_e(o.get('request'))}\n{_e(o.get('response'))}</pre>"
            if o.get("request")
            else ""
        )
        raw = "" if o.get("expected") else f"<pre>{_e(o.get('message'))}</pre>"
        out.append(
            f'<details class="failure"><summary><span class="tag" style="background:{COLOURS[o["outcome"]]}">{_e(o["outcome"])}</span>'
            f"{_e(o['case'])}</summary>{fields}{request}{raw}{thumbs}</details>"
        )
    return "".join(out)


def render_html(data: dict[str, Any], trend_svg: str = "") -> str:
    counts = data["counts"]
    target = data["target"]
    score_html = "".join(
        f'<div class="score">{_e(s)}<b>{p:.1f}%</b>{k} of {n} rules kept</div>'
        for s, (k, n, p) in scores(data).items()
    )
    legend = "".join(
        f'<span style="background:{c}">{o} {counts.get(o, 0)}</span>' for o, c in COLOURS.items()
    )
    trend = f"<h2>Trend</h2>{trend_svg}" if trend_svg else ""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>pixelproof: {_e(target.get("name"))} ({_e(data["run_id"])})</title><style>{STYLE}</style></head><body>
<h1>pixelproof conformance report: {_e(target.get("name"))}</h1>
<div class="meta">run {_e(data["run_id"])} · {_e(data["started"])} · pixelproof {_e(data["pixelproof_version"])} ·
{_e(data["contracts"].get("rules"))} rules in the catalogue · {_e(data["requests_sent"])} requests · {_e(data["images_bought"])} images ·
exit {_e(data["exit_code"])}</div>
<h2>Conformance per surface</h2><div class="scores" id="scores">{score_html}</div>
<h2>Matrix: models × rule kinds</h2><p class="legend">{legend}</p>
<p>Each cell: rules kept / rules judged for that model and kind, coloured by its worst outcome.</p>
{_matrix(data)}{trend}
<h2>Failures and errors</h2><div id="failures">{_drilldown(data)}</div>
</body></html>
"""
