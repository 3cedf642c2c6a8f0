"""Verdicts on what images are: their size, tier, ratio and pixel count, and the fallback a
gateway sends its upstream when a documented size is not native to it.

Kept apart from verdicts.py (one module a concern); registered there against their kinds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pixelproof.geometry import Size, ratio_distance, ratio_matches
from pixelproof.judging.expect import nearest_tier
from pixelproof.judging.failures import RuleFailure, check, literal
from pixelproof.judging.steps import accepted_images, fields_of, forwarded, raw_images, rejected
from pixelproof.plan import PROMPT

if TYPE_CHECKING:
    from pixelproof.judging.evidence import Evidence


def _fallback_ok(j: Evidence, got: Size, target: Size) -> bool:
    entry = j.catalogue.model(j.case.surface, j.case.model or "")
    native = j.catalogue.native_sizes(entry.upstream) if entry and entry.upstream else None
    if native is None or not native.accepts(got) or got.orientation != target.orientation:
        return False
    best = native.closest_official(target)
    return (
        ratio_distance(got.ratio, target.ratio) <= ratio_distance(best.ratio, target.ratio) + 1e-9
    )


def size(j: Evidence) -> None:
    rule = j.rule
    if rule.rejected:
        rejected(j, openai_shape=j.case.surface == "unified")
        return
    if "size" not in rule.expect:
        tier_and_ratio(j)
        return
    target = Size.parse(rule.expect["size"])
    for img in accepted_images(j):
        assert img.image is not None
        got = img.image.size
        if got == target:
            continue
        if rule.expect.get("native") is False and _fallback_ok(j, got, target):
            continue
        also = (
            f" (or the fallback: a native {target.orientation} size no farther in ratio than {rule.expect.get('fallback_size')})"
            if rule.expect.get("native") is False
            else ""
        )
        raise RuleFailure(j.case, f"{target}{also}", f"{got}", j.obs.final, raw_images(img))


def tier_and_ratio(j: Evidence) -> None:
    """Documented tiers and ratios, no pixel table: the nearest tier by area, the ratio loosely."""
    expect = j.rule.expect
    tolerance = float(expect.get("ratio_tolerance", j.catalogue.defaults.ratio_tolerance))
    for img in accepted_images(j):
        assert img.image is not None
        got = img.image.size
        check(ratio_matches(got, expect["ratio"], tolerance) and nearest_tier(got) == expect["tier"], j.case,
              f"tier {expect['tier']} at ratio {expect['ratio']} (±{tolerance:.1%})",
              f"{got} (tier {nearest_tier(got)})", j.obs.final, raw_images(img))  # fmt: skip


def aspect_ratio(j: Evidence) -> None:
    rule = j.rule
    if rule.rejected:
        rejected(j)
        return
    tolerance = j.catalogue.defaults.ratio_tolerance
    for img in accepted_images(j):
        assert img.image is not None
        if rule.expect["ratio"] != "any":
            check(ratio_matches(img.image.size, rule.expect["ratio"], tolerance), j.case,
                  f"aspect ratio {rule.expect['ratio']} (±{tolerance:.1%})", f"{img.image.size}", j.obs.final, raw_images(img))  # fmt: skip


def pixel_ceiling(j: Evidence) -> None:
    ceiling = int(j.rule.expect["max_pixels"])
    for img in accepted_images(j):
        assert img.image is not None
        check(img.image.size.pixels <= ceiling, j.case, f"at most {ceiling:,} pixels per image",
              f"{img.image.size} = {img.image.size.pixels:,} pixels", j.obs.final, raw_images(img))  # fmt: skip


def fallback(j: Evidence) -> None:
    expect = j.rule.expect
    target = Size.parse(expect["target"])
    for call in forwarded(j):
        fields = fields_of(call)
        sent = fields.get("size")
        observed = f"forwarded size {literal(sent)}, prompt {literal(fields.get('prompt'))}"
        try:
            got = Size.parse(str(sent))
        except ValueError:
            raise RuleFailure(
                j.case, f"a native size instead of {target}", observed, j.obs.final
            ) from None
        check(_fallback_ok(j, got, target), j.case,
              f"a size native to {expect['upstream']}, {target.orientation}, no farther in ratio than {expect['closest_official']}",
              observed, j.obs.final)  # fmt: skip
        prompt = str(fields.get("prompt", ""))
        original = PROMPT.replace("{nonce}", j.obs.nonce)
        check(original in prompt and expect["ratio"] in prompt.replace(original, ""), j.case,
              f"the prompt carries the ratio intent {expect['ratio']} besides the original prompt", observed, j.obs.final)  # fmt: skip
