"""Verdicts that compare an answer with another observation of the same promise: the same
request asked another documented way (an alias path, an omitted default), or the same URL fetched
again as if later.

Kept apart from verdicts.py (one module a concern); registered there against their kinds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pixelproof.judging.failures import check, literal, status_text
from pixelproof.judging.steps import accepted_images, is_4xx, rejected

if TYPE_CHECKING:
    from pixelproof.judging.evidence import Evidence


def edits_alias(j: Evidence) -> None:
    canonical, alias = j.observations
    a, b = canonical.exchange, alias.exchange
    check(a is not None and b is not None and a.status == b.status, j.case, f"/v1/edits answers as /v1/images/edits ({status_text(a)})",
          status_text(b), b)  # fmt: skip
    # two equal refusals of a documented edit prove nothing about the alias: the edit must work
    check(a is not None and a.ok, j.case, "/v1/images/edits and /v1/edits accept the documented edit",
          f"both answered {status_text(a)}", a)  # fmt: skip
    if a is not None and a.ok:
        sizes_a = [str(i) for i in accepted_images(j, canonical)]
        sizes_b = [str(i) for i in accepted_images(j, alias)]
        check(sizes_a == sizes_b, j.case, f"the same images ({sizes_a})", f"{sizes_b}", b)


def equivalent(j: Evidence) -> None:
    """The request behaves as the one it is documented to equal: both served, the same number of
    images of the same sizes (or, where the rule allows it, the request refused with a 4xx)."""
    asked, same_as = j.observations
    refused_late = asked.poll is not None and asked.poll.status == "failed"
    if j.rule.expect.get("or_rejected") and (is_4xx(asked) or refused_late):
        rejected(
            j, asked
        )  # a 4xx, or (tasks) the task failed with a reason, as the other rows allow
        return
    want = [str(i) for i in accepted_images(j, same_as)]
    got = [str(i) for i in accepted_images(j, asked)]
    check(sorted(got) == sorted(want), j.case,
          f"what the same request with {literal(j.rule.expect['same_as'])} answers: {want}",
          f"{got}", asked.final)  # fmt: skip


def url_validity(j: Evidence) -> None:
    """The URL fetched again serves the very image it served (the same bytes), not merely an image
    of the same size: a placeholder or an error picture of the right size is not "still valid"."""
    first = accepted_images(j)
    fresh = {i.image.sha256 for i in first if i.image is not None}
    shown = ", ".join(str(i) for i in first)
    age = int(j.rule.expect["age_s"])
    assert j.aged is not None, "url_validity evidence carries the URLs fetched again (observe_case)"
    for img in j.aged:
        same = img.image is not None and img.image.sha256 in fresh
        check(same, j.case,
              f"every result URL still serves its image, byte for byte ({shown}) at {age // 3600} h {age % 3600 // 60} min old",
              f"{img}" + ("" if img.image is None else f", sha256 {img.image.sha256[:12]}… not among the first answers"),
              j.obs.final)  # fmt: skip
