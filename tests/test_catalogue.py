"""The rule catalogue: complete (every row of every seed table), traceable, and strict."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from pixelproof.catalogue import Catalogue, CatalogueError, contracts_dir, load_catalogue
from pixelproof.catalogue.conflicts import find_conflicts
from pixelproof.catalogue.schema import Source


def _norm(text: str) -> str:
    text = re.sub(r"[\s|`*]+", "", text).lower()
    return text.replace("×", "x").replace("—", "-").replace("–", "-")


def _quoted(source: Source) -> bool:
    """Each '...'-separated fragment of the quote appears, in order, in the cited document."""
    document = _norm((contracts_dir() / "sources" / source.doc).read_text(encoding="utf-8"))
    position = 0
    for fragment in source.quote.split("..."):
        found = document.find(_norm(fragment), position)
        if found < 0:
            return False
        position = found + len(_norm(fragment))
    return True


def test_rule_ids_are_unique(catalogue: Catalogue) -> None:
    counts = Counter(rule.id for rule in catalogue)
    assert [rule_id for rule_id, n in counts.items() if n > 1] == []


def test_every_rule_quotes_its_source_verbatim(catalogue: Catalogue) -> None:
    missing = [
        (rule.id, src.doc, src.quote)
        for rule in catalogue
        for src in (rule.source, *rule.also_sources)
        if not src.quote or not _quoted(src)
    ]
    assert missing == []


def test_models_and_vendor_facts_quote_their_sources(catalogue: Catalogue) -> None:
    sources = [(m.model, m.source) for m in catalogue.models]
    sources += [(name, v.source) for name, v in catalogue.vendors.items()]
    assert [(who, s.quote) for who, s in sources if not _quoted(s)] == []


def test_every_cited_document_ships_with_the_contracts(catalogue: Catalogue) -> None:
    for doc in catalogue.sources.documents:
        assert (contracts_dir() / "sources" / doc).is_file(), doc


# Values below are read off the seed documents by hand, not from the code.
SPOT_CHECKS = {
    "size.gpt_image_2_official.21:9.2k": {"size": "2688x1152"},
    "size.gpt_image_2_official.9:21.4k": {"size": "1648x3840"},
    "size.gpt_image_2_official.1:1.4k": {"rejected": True},
    "size.gpt-image-2-pro.3:2.2k": {"size": "2560x1712"},
    "size.dall-e-3.1792x1024": {"size": "1792x1024"},
    "size.gpt-image-2.16:9": {"size": "1920x1080"},
    "size.gpt-image-2.4:3": {"size": "1536x1152"},
    "size.gpt_image_2_official.4:3.1k": {"size": "1024x768"},
    "size.doubao-seedream-4-0-250828.16:9": {"size": "2560x1440"},
    "size.grok-4-2-image.1:1": {"size": "2048x2048"},
}


@pytest.mark.parametrize(("rule_id", "expected"), SPOT_CHECKS.items(), ids=list(SPOT_CHECKS))
def test_spot_checks_from_the_documents(
    catalogue: Catalogue, rule_id: str, expected: dict[str, object]
) -> None:
    rule = catalogue.rule(rule_id)
    assert {k: rule.expect.get(k) for k in expected} == expected


def test_every_table_row_is_present(catalogue: Catalogue) -> None:
    def count(kind: str, surface: str, model: str) -> int:
        return len([r for r in catalogue.rules(kind, surface, model) if r.table])

    assert count("size", "tasks-official", "gpt_image_2_official") == 13 * 3
    rejected = [r.id for r in catalogue.rules("size", "tasks-official") if r.rejected]
    assert sorted(rejected) == sorted(
        f"size.gpt_image_2_official.{r}.4k"
        for r in ["1:1", "3:2", "2:3", "4:3", "3:4", "5:4", "4:5"]
    )
    assert count("size", "unified", "gpt-image-2") == 6
    assert count("size", "unified", "gpt-image-2-pro") == 6 + 12
    for model in ("doubao-seedream-5-0-260128", "grok-4-2-image"):
        assert count("size", "unified", model) == 3
    assert count("size", "unified", "dall-e-2") == 3 + 1
    assert count("size", "unified", "dall-e-3") == 3 + 1
    ratios = {r.ratio for r in catalogue.rules("aspect_ratio", "tasks-action", "gpt-image-2")}
    assert len(ratios) == 14
    tiers = {r.tier for r in catalogue.rules("aspect_ratio", "tasks-action", "gpt-image-2")}
    assert tiers == {"1k", "2k", "4k"}
    four_k_ok = {
        r.ratio
        for r in catalogue.rules("aspect_ratio", "tasks-action", "gpt-image-2")
        if r.tier == "4k" and not r.rejected
    }
    assert four_k_ok == {"16:9", "9:16", "2:1", "1:2", "21:9", "9:21"}


def test_gemini_flash_previews_fall_back_to_1k(catalogue: Catalogue) -> None:
    rule = catalogue.rule("size.gemini-2.5-flash-image-preview.16:9.2k")
    assert rule.request["imageSize"] == "2K"
    assert rule.expect["tier"] == "1K"
    assert catalogue.rule("size.gemini-3-pro-image-preview.16:9.2k").expect["tier"] == "2K"


def test_non_native_sizes_are_exactly_the_fallback_cases(catalogue: Catalogue) -> None:
    # DOMAIN.md: gpt-image-2 takes WxH with sides divisible by 16 and at most 8,294,400 px.
    not_native = {r.id for r in catalogue.rules("size") if r.expect.get("native") is False}
    assert not_native == {
        "size.gpt-image-2.16:9",
        "size.gpt-image-2.9:16",
        "size.gpt-image-2-pro.16:9",
        "size.gpt-image-2-pro.9:16",
        "size.gpt-image-2-pro.4:3.4k",
        "size.gpt-image-2-pro.3:2.4k",
        "size.gpt-image-2-pro.2:3.4k",
    }
    fallbacks = {r.id.removeprefix("fallback.") for r in catalogue.rules("fallback")}
    assert fallbacks == {rule_id.removeprefix("size.") for rule_id in not_native}
    assert catalogue.rule("fallback.gpt-image-2.16:9").expect["closest_official"] == "1536x1024"
    assert all(r.needs == ("recorder",) for r in catalogue.rules("fallback"))


def test_conflicts_name_the_documented_disagreements(catalogue: Catalogue) -> None:
    topics = {c.topic: c for c in find_conflicts(catalogue) if c.kind == "disagreement"}
    four_three = topics["openai/gpt-image-2 4:3 @ 1k"]
    assert {s.value for s in four_three.sides} == {"1536x1152", "1024x768"}
    assert {s.value for s in topics["openai/gpt-image-2 reference images"].sides} == {"16", "9"}
    assert "14 ratios on tasks-action" in topics["openai/gpt-image-2 aspect ratios"].detail
    assert "13 ratios on tasks-official" in topics["openai/gpt-image-2 aspect ratios"].detail
    for conflict in topics.values():
        assert len({s.source for s in conflict.sides}) >= 2


def test_query_all_size_rules_for_a_model_on_a_surface(catalogue: Catalogue) -> None:
    rules = catalogue.rules(kind="size", surface="unified", model="dall-e-3")
    assert {r.id for r in rules} == {
        "size.dall-e-3.1024x1024",
        "size.dall-e-3.1024x1792",
        "size.dall-e-3.1792x1024",
        "size.dall-e-3.rejects-512x512",
        "default.size.dall-e",
    }
    # "*"-scoped behaviour rules apply to every model; listed ones only to theirs.
    assert catalogue.rule("n.default.zero") in catalogue.rules(surface="unified", model="dall-e-3")
    assert catalogue.rule("n.explicit.2") not in catalogue.rules(
        surface="unified", model="dall-e-3"
    )


BREAKAGES = [
    ("rules/sizes.yaml", "severity: MUST", "severity: MAYBE", "sizes.yaml", "severity"),
    (
        "rules/behaviours.yaml",
        "id: n.default.zero\n",
        "id: n.default.omitted\n",
        "behaviours.yaml",
        "duplicate rule id",
    ),
    (
        "rules/behaviours.yaml",
        "doc: 003_b5acb95c50aa9785.txt",
        "doc: 999_nope.txt",
        "behaviours.yaml",
        "unknown document",
    ),
    (
        "rules/models.yaml",
        "upstream: xai/grok-4-2-image",
        "upstream: xai/grok-9",
        "models.yaml",
        "unknown vendor",
    ),
    (
        "rules/sizes.yaml",
        'id: "size.{model}.{ratio}.{tier}"',
        'id: "size.{model}.{colour}"',
        "sizes.yaml",
        "placeholder {colour}",
    ),
    ("rules/sizes.yaml", "tables:", "tables: [", "sizes.yaml", "invalid YAML"),
    (
        "rules/behaviours.yaml",
        "models: [dall-e-2]",
        "models: [dall-e-9]",
        "behaviours.yaml",
        "not a model of unified",
    ),
    (
        "rules/sizes.yaml",
        "expect: 2048x2048, quote",
        "expect: 2048by2048, quote",
        "sizes.yaml",
        "must be WxH",
    ),
]


@pytest.mark.parametrize(
    ("file", "old", "new", "named_file", "message"), BREAKAGES, ids=[b[4] for b in BREAKAGES]
)
def test_malformed_rule_files_are_rejected_with_file_location_and_field(
    contracts_copy: Path, file: str, old: str, new: str, named_file: str, message: str
) -> None:
    path = contracts_copy / file
    text = path.read_text(encoding="utf-8")
    assert old in text, "the breakage no longer matches the file: update the test"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(CatalogueError) as info:
        load_catalogue(contracts_copy)
    assert named_file in info.value.path
    assert message in str(info.value)
    assert info.value.location  # a place in the file, not just its name


def test_an_inference_is_marked_and_at_most_should(catalogue: Catalogue) -> None:
    """Standards: an inference is marked ``inferred`` and never a MUST."""
    assert [r.id for r in catalogue if r.inferred and r.severity == "MUST"] == []
    assert all(r.inferred.strip() for r in catalogue if r.inferred is not None)


def test_the_lint_lists_the_six_conflicts_of_issue_12(catalogue: Catalogue) -> None:
    """Each named by hand from the documents (issue 12), not from the lint's output."""
    topics = {c.topic: c for c in find_conflicts(catalogue) if c.kind == "disagreement"}
    three_four = topics["gpt-image-2, gpt-image-2-pro 3:4 without a size"]
    assert {s.rule_id for s in three_four.sides} == {
        "ratio.gpt-image-2.3:4",
        "size.gpt-image-2.1:1",
    }
    ceiling = topics["openai/gpt-image-2 pixel ceiling"]
    assert {s.value for s in ceiling.sides} >= {"3840x2880", "3840x2560", "2560x3840"}
    assert "2880x2880" not in {s.value for s in ceiling.sides}  # 8,294,400 px is not over it
    exact = topics["size.gpt_image_2_official.1:1.4k over the pixel limit"]
    assert "2880x2880 = 8,294,400 px, exactly" in exact.detail
    for topic, docs in {
        "transparency on the official channel vs pass-through": {"002", "003"},
        'url-only Seedream / Grok vs "will use Base64"': {"000", "001"},
        "resolution spelled 1k/2k/4k vs 1K/2K/4K": {"000", "002", "004"},
    }.items():
        assert {s.source[:3] for s in topics[topic].sides} == docs, topic


def test_noted_conflicts_quote_their_sources_verbatim(catalogue: Catalogue) -> None:
    sides = [s for note in catalogue.defaults.conflicts for s in note.sides]
    assert len(sides) >= 6
    missing = [
        (s.doc, s.quote)
        for s in sides
        if not _quoted(Source(doc=s.doc, section=s.section, quote=s.quote))
    ]
    assert missing == []
