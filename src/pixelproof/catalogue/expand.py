"""Expansion of rule tables into flat rules: rows x models, grids, and derived fallback rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pixelproof.catalogue.rule import CatalogueError, Rule
from pixelproof.catalogue.schema import BehaviourRow, DefaultsFile, ModelsFile, SizeTable, Source
from pixelproof.geometry import Size


class _Values(dict[str, Any]):
    """format_map() values that say which placeholder a row lacks."""

    def __missing__(self, key: str) -> str:
        raise KeyError(key)


def _fill(template: str, values: _Values, path: Path, where: str) -> str:

    try:
        return template.format_map(values)
    except KeyError as exc:
        raise CatalogueError(path, where, f"placeholder {{{exc.args[0]}}} has no value") from None
    except (ValueError, IndexError) as exc:
        raise CatalogueError(path, where, f"bad template {template!r}: {exc}") from None


def _expect(table: SizeTable, cell: dict[str, Any], models: ModelsFile) -> dict[str, Any]:
    raw = str(cell.get("expect", ""))
    tier = table.compare_as or cell.get("tier") or table.tier
    compare = {"compare_tier": tier.lower()} if tier and table.kind == "size" else {}
    if raw == "rejected":
        return {"rejected": True, **compare}
    if table.kind == "size":
        return {"size": raw, **compare}
    if table.kind == "aspect_ratio":
        return {"ratio": raw}
    # gemini_size: the seeds give tiers, not pixels; judged by tier and ratio
    tolerance = {"ratio_tolerance": table.ratio_tolerance} if table.ratio_tolerance else {}
    return {"ratio": cell["ratio"], "tier": str(cell["result"]), **tolerance}


def expand_size_tables(tables: list[SizeTable], models: ModelsFile, path: Path) -> list[Rule]:

    rules: list[Rule] = []
    for t_index, table in enumerate(tables):
        for r_index, cell in enumerate(table.cells()):
            where = f"tables[{t_index}] ({table.table}).rows[{r_index}]"
            for model in [cell["model"]] if "model" in cell else list(table.models):
                raw_tier = cell.get("tier") or table.tier
                tier = raw_tier.lower() if raw_tier else None
                values = _Values(
                    {
                        **cell,
                        "model": model,
                        "tier": tier,
                        "resolution": raw_tier,
                        "surface": table.surface,
                    }
                )
                expect = _expect(table, cell, models)
                values.setdefault("size", values.get("expect"))
                template = cell.get("id") or table.id
                statement = table.statement
                if expect.get("rejected") and table.statement_rejected:
                    statement = table.statement_rejected
                rules.append(
                    Rule(
                        id=_fill(template, values, path, where + ".id"),
                        kind=table.kind,
                        statement=_fill(statement, values, path, where + ".statement"),
                        severity=table.severity,
                        source=Source(
                            doc=table.source.doc,
                            section=table.source.section,
                            quote=str(cell.get("quote") or table.quote),
                        ),
                        also_sources=(table.also_source,) if table.also_source else (),
                        surface=table.surface,
                        models=(model,),
                        tier=tier,
                        ratio=cell.get("ratio"),
                        request={
                            k: _fill(v, values, path, where + f".request.{k}")
                            if isinstance(v, str)
                            else v
                            for k, v in table.request.items()
                        },
                        expect=expect,
                        inferred=table.inferred,
                        table=table.table,
                    )
                )
    return rules


def with_fallbacks(rules: list[Rule], models: ModelsFile, defaults: DefaultsFile) -> list[Rule]:
    """Mark size rules whose size the upstream cannot take, and derive one fallback rule each."""

    entries = {(m.surface, m.model): m for m in models.models}
    out: list[Rule] = []
    derived: list[Rule] = []
    for rule in rules:
        size_text = rule.expect.get("size")
        entry = entries.get((rule.surface, rule.models[0])) if rule.models else None
        vendor = models.vendors.get(entry.upstream) if entry and entry.upstream else None
        native = vendor.native_sizes() if vendor else None
        if (
            rule.kind != "size"
            or not size_text
            or native is None
            or native.accepts(Size.parse(size_text))
        ):
            out.append(rule)
            continue
        target = Size.parse(size_text)
        closest = native.closest_official(target)
        why = native.why_not(target)
        assert entry is not None
        assert entry.upstream is not None
        out.append(
            rule.model_copy(
                update={
                    "expect": {
                        **rule.expect,
                        "native": False,
                        "fallback_size": str(closest),
                        "why": why,
                    }
                }
            )
        )
        values = _Values(
            model=entry.model, expect=size_text, upstream=entry.upstream, ratio=rule.ratio
        )
        derived.append(
            Rule(
                id="fallback." + rule.id.removeprefix("size."),
                kind="fallback",
                statement=defaults.fallback.statement.format_map(values),
                severity="SHOULD",  # inferred (below), so at most SHOULD
                source=defaults.fallback.sources[0],
                also_sources=(*defaults.fallback.sources[1:], rule.source),
                surface=rule.surface,
                models=rule.models,
                tier=rule.tier,
                ratio=rule.ratio,
                request=dict(rule.request),
                expect={
                    "target": size_text,
                    "ratio": rule.ratio,
                    "upstream": entry.upstream,
                    "closest_official": str(closest),
                    "why": why,
                },
                needs=("recorder",),
                inferred="'closer official size' read as: native to the upstream, same orientation, "
                "and no official size closer in aspect ratio.",
                table=rule.table,
            )
        )
    return out + derived


def expand_behaviours(rows: list[BehaviourRow], path: Path) -> list[Rule]:

    return [
        Rule(
            id=row.id,
            kind=row.kind,
            statement=row.statement,
            severity=row.severity,
            source=row.source,
            surface=row.surface,
            models=None if row.models == "*" else tuple(row.models),
            request=dict(row.request),
            expect=dict(row.expect),
            needs=(row.needs,) if row.needs else (),
            inferred=row.inferred,
            levels=row.levels or (),
        )
        for row in rows
    ]
