"""Conformance levels: every rule has levels, a subset's rules are the superset's too, a profile's
claimed level decides what is judged and what is reported "not claimed", and vendor surfaces can be
claimed and are held to their own rule sets."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pixelproof.catalogue import Catalogue, CatalogueError, load_catalogue
from pixelproof.mock.faults import CATALOGUE as FAULTS
from pixelproof.plan import cases_for
from pixelproof.target import Profile, ProfileError, load_profile

VENDOR_LEVELS = {"openai", "xai", "ark", "jimeng-visual", "gemini-vendor"}
# "rejected by the gateway itself, nothing reaching the upstream": a gateway's promise only
RESTRICTED = {"auth.missing.not-forwarded", "auth.wrong.not-forwarded"}


def _profile(**extra: object) -> Profile:
    data = {
        "surfaces": {
            "unified": {"base_url": "http://127.0.0.1:9", "models": ["gpt-image-2", "dall-e-3"]}
        }
    }
    return Profile.model_validate({**data, **extra})


def test_every_rule_has_a_level_and_the_subset_lies_inside_the_superset(
    catalogue: Catalogue,
) -> None:
    assert [r.id for r in catalogue if not r.levels] == []
    subset = [r.id for r in catalogue if "openai-images" in r.levels]
    assert subset, "openai-images has rules"
    assert [r for r in subset if "unified-gateway" not in catalogue.rule(r).levels] == []


def test_levels_follow_the_surface_of_a_rule(catalogue: Catalogue) -> None:
    for rule in catalogue:
        if rule.surface == "*" and rule.id not in RESTRICTED:
            assert set(rule.levels) == set(catalogue.levels.levels), rule.id  # auth: everywhere
        elif rule.surface == "*":
            assert set(rule.levels) == {"unified-gateway"}, rule.id
        elif catalogue.surfaces[rule.surface].role == "vendor":
            assert set(rule.levels) & VENDOR_LEVELS == {rule.levels[0]}, rule.id
            assert rule.surface in catalogue.levels.levels[rule.levels[0]].surfaces
        else:
            assert set(rule.levels) <= {"openai-images", "unified-gateway"}, rule.id


# Read off DOMAIN.md and the seeds by hand: what OpenAI itself does (openai-images) and what only the
# unified layer promises (the fallback, n = 0 as 1, the base64 alias, URL output for GPT image).
ASSIGNED = {
    "n.default.omitted": True,
    "n.default.zero": False,
    "response_format.base64": False,
    "response_format.url": False,
    "edits.alias": False,
    "variations.not-implemented": False,
    "size.gpt-image-2.4:3": True,  # 1536x1152: both sides divisible by 16, native to gpt-image-2
    "size.gpt-image-2.16:9": False,  # 1920x1080: only the gateway's fallback serves it
    "fallback.gpt-image-2.16:9": False,
    "size.dall-e-3.rejects-512x512": True,
    "openai_images.response_format.url": True,
    "auth.missing": True,  # a 4xx JSON error: OpenAI answers a missing key with one
    "auth.missing.not-forwarded": False,  # a pass-through forwards it; the vendor refuses it
    "auth.missing.401": True,
}


@pytest.mark.parametrize(("rule_id", "in_subset"), ASSIGNED.items())
def test_openai_images_membership(catalogue: Catalogue, rule_id: str, in_subset: bool) -> None:
    assert ("openai-images" in catalogue.rule(rule_id).levels) is in_subset


LEVEL_BREAKAGES = [
    ("gateway_default: unified-gateway", "gateway_default: unified", "unknown level 'unified'"),
    ("includes: [openai-images]", "includes: [openai-image]", "unknown level 'openai-image'"),
    ("rules: [n.default.omitted, n.explicit.2]", "rules: [n.default.omited]", "matches no rule"),
    ("surfaces: [xai]", "surfaces: [grok]", "unknown surface 'grok'"),
    (
        "rules: [auth.missing.not-forwarded, auth.wrong.not-forwarded]",
        "rules: [auth.mising]",
        "'auth.mising' matches no rule",
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "message"), LEVEL_BREAKAGES, ids=[b[2] for b in LEVEL_BREAKAGES]
)
def test_a_broken_levels_file_is_rejected_with_its_location(
    contracts_copy: Path, old: str, new: str, message: str
) -> None:
    path = contracts_copy / "rules" / "levels.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text, "the breakage no longer matches the file: update the test"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(CatalogueError) as info:
        load_catalogue(contracts_copy)
    assert "levels.yaml" in info.value.path
    assert message in str(info.value)


def test_a_rule_naming_an_unknown_level_is_rejected(contracts_copy: Path) -> None:
    path = contracts_copy / "rules" / "openai-images.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("levels: [openai-images]", "levels: [openai-imagez]", 1), encoding="utf-8"
    )
    with pytest.raises(CatalogueError, match="unknown level 'openai-imagez'"):
        load_catalogue(contracts_copy)


def test_rules_above_the_claimed_level_are_planned_not_claimed_and_send_nothing(
    catalogue: Catalogue,
) -> None:
    held = cases_for(catalogue, _profile(level="openai-images"))
    full = cases_for(catalogue, _profile())
    assert {c.id for c in held} == {c.id for c in full}, "a lower level hides no case"
    unclaimed = [c for c in held if not c.claimed]
    assert unclaimed
    assert all(c.probes == () for c in unclaimed)
    assert {c.rule.id for c in unclaimed} >= {"n.default.zero", "response_format.base64"}
    assert all("openai-images" not in c.rule.levels for c in unclaimed)
    assert all(c.claimed for c in full)
    assert [c.id for c in held if c.claimed and "openai-images" not in c.rule.levels] == []


def test_a_vendor_surface_can_be_claimed_and_defaults_to_its_own_level(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    path = tmp_path / "vendor.yaml"
    path.write_text(yaml.safe_dump({"surfaces": {"ark": {"base_url": "http://127.0.0.1:9",
                                                         "models": ["doubao-seedream-4-0-250828"]}}}))  # fmt: skip
    profile = load_profile(path, catalogue)
    assert profile.level_of("ark", catalogue) == "ark"
    cases = cases_for(catalogue, profile)
    assert {c.rule.id for c in cases} >= {
        "ark.watermark.default",
        "ark.response.shape",
        "auth.missing.401",
    }
    assert {c.rule.id for c in cases if not c.claimed} == RESTRICTED  # a gateway's promise
    assert {c.rule.surface for c in cases} <= {"ark", "*"}


@pytest.mark.parametrize(
    ("profile", "key", "message"),
    [
        ({"level": "gold"}, "level", "unknown level 'gold'"),
        ({"level": "ark"}, "level", "applies to none of the claimed surfaces"),
        (
            {
                "surfaces": {
                    "unified": {
                        "base_url": "http://127.0.0.1:9",
                        "models": ["dall-e-3"],
                        "level": "openai",
                    }
                }
            },
            "surfaces.unified.level",
            "cannot be claimed on unified",
        ),
        (
            {
                "surfaces": {
                    "openai": {"base_url": "http://127.0.0.1:9", "models": ["grok-4-2-image"]}
                }
            },
            "surfaces.openai.models",
            "not documented on openai",
        ),
    ],
)
def test_bad_levels_in_a_profile_name_the_key(
    catalogue: Catalogue, tmp_path: Path, profile: dict[str, object], key: str, message: str
) -> None:
    data = {
        "surfaces": {"unified": {"base_url": "http://127.0.0.1:9", "models": ["gpt-image-2"]}},
        **profile,
    }
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ProfileError) as info:
        load_profile(path, catalogue)
    assert info.value.key == key
    assert message in info.value.message


def test_headers_per_surface_override_the_profile_wide_ones() -> None:
    profile = _profile(
        headers={"x-provider": "default", "x-trace": "1"},
        surfaces={
            "unified": {"base_url": "http://127.0.0.1:9", "models": ["gpt-image-2"],
                        "headers": {"x-provider": "openai", "x-upstream-host": "api.example"}},
            "gemini": {"base_url": "http://127.0.0.1:9", "models": ["gemini-3-pro-image-preview"]},
        },
    )  # fmt: skip
    assert profile.headers_for("unified") == {
        "x-provider": "openai",
        "x-trace": "1",
        "x-upstream-host": "api.example",
    }
    assert profile.headers_for("gemini") == {"x-provider": "default", "x-trace": "1"}


def test_every_vendor_rule_kind_is_broken_by_a_vendor_fault(catalogue: Catalogue) -> None:
    """Each kind the vendor rule sets use was seen to fail on the vendor mock (tests/test_selfcheck.py)."""
    vendor_surfaces = {n for n, s in catalogue.surfaces.items() if s.role == "vendor"}
    kinds = {r.kind for r in catalogue if r.surface in vendor_surfaces}
    caught = {
        catalogue.rule(rule_id).kind
        for fault in FAULTS.values()
        if fault.role in ("upstream", "any") and not fault.infrastructure
        for rule_id in fault.breaks
        if catalogue.rule(rule_id).surface in vendor_surfaces | {"*"}
    }
    assert sorted(kinds - caught) == []


def test_fuzz_sends_and_shows_the_headers_of_the_surface(catalogue: Catalogue) -> None:
    """A reproduction line a gateway routes by headers needs them; the key stays redacted."""
    from pixelproof.fuzz.findings import curl_of
    from pixelproof.fuzz.runner import FuzzSession

    profile = _profile(
        surfaces={"unified": {"base_url": "http://127.0.0.1:9", "models": ["gpt-image-2"],
                              "headers": {"X-Provider": "openai"}}},
        headers={"X-Team": "images"},
    )  # fmt: skip
    session = FuzzSession(catalogue, profile, mode="deterministic", run_id="r1")
    try:
        sent = session.headers("unified")
    finally:
        session.close()
    assert sent["X-Provider"] == "openai"
    assert sent["X-Team"] == "images"
    headers = {**sent, "Authorization": "Bearer sk-secret", "User-Agent": "python-httpx"}
    line = curl_of("POST", "http://127.0.0.1:9/v1/images/generations", headers, {"n": 1}, "application/json",
                   shown=tuple(h.lower() for h in profile.headers_for("unified")))  # fmt: skip
    assert "'X-Provider: openai'" in line
    assert "'X-Team: images'" in line
    assert "sk-secret" not in line
    assert "User-Agent" not in line
