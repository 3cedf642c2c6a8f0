"""Evidence: everything observed for one case, gathered before any verdict runs.

Shared by the pytest plugin (setup phase) and by ``evaluate``, the harness's in-process runner.

``observe_case`` (the setup phase of a suite test, or ``evaluate``) sends the probes, polls the
tasks, downloads and decodes the returned images and reads what reached the upstream. Whatever
cannot be observed becomes an error (``TargetError``) or a skip (``NotJudged``) with its reason
here, so a verdict is a pure function of (rule, evidence): it never does I/O, and a harness-side
problem (a dead recorder, an image URL that gives no answer) can never look like a broken promise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pixelproof.judging.failures import ImageResult, aged_images_in, images_in
from pixelproof.observe import Observation, Observer, TargetError, unobservable
from pixelproof.plan import KINDS, Case

if TYPE_CHECKING:
    from pixelproof.catalogue import Catalogue


class NotJudged(Exception):
    """The case cannot be judged for a stated reason (no recorder, budget spent): a skip."""


@dataclass
class Evidence:
    """What a verdict judges: the case, one observation per probe, the images each final answer
    carried (decoded), and the upstream calls each request caused (None: no recorder to ask)."""

    case: Case
    catalogue: Catalogue
    observations: list[Observation]
    images: list[list[ImageResult]]
    calls: list[list[dict[str, Any]] | None]
    aged: list[ImageResult] | None = None  # the first answer's URLs fetched again, as if older

    @property
    def rule(self) -> Any:
        return self.case.rule

    @property
    def obs(self) -> Observation:
        return self.observations[0]

    def _index(self, obs: Observation | None) -> int:
        if obs is None:
            return 0
        return next(i for i, o in enumerate(self.observations) if o is obs)

    def images_of(self, obs: Observation | None = None) -> list[ImageResult]:
        return self.images[self._index(obs)]

    def calls_of(self, obs: Observation | None = None) -> list[dict[str, Any]] | None:
        return self.calls[self._index(obs)]


def _decoded(observer: Observer, obs: Observation) -> list[ImageResult]:
    """The final answer's images, decoded once per observation; an image URL that gives no
    answer at all is unobservable (an error), a URL that answers 404 is evidence."""
    final = obs.final
    if final is None or not final.ok or obs.malformed:
        return []
    if obs.nonce not in observer.decoded:
        observer.decoded[obs.nonce] = images_in(observer, obs)
    images: list[ImageResult] = observer.decoded[obs.nonce]
    lost = [str(i) for i in images if i.unobserved]
    if lost:
        raise TargetError(f"returned image(s) could not be fetched: {'; '.join(lost)}")
    return images


def _check_observable(case: Case, obs: Observation) -> None:
    if obs.skipped:
        raise NotJudged(obs.skipped)
    problem = unobservable(obs)
    if problem:
        raise TargetError(f"{case.id}: target could not be judged: {problem}")
    if obs.poll and obs.poll.deadline_exceeded and case.rule.kind != "task_deadline":
        raise TargetError(
            f"{case.id}: task {obs.task_id} still {obs.poll.status!r} at the polling deadline"
        )


def observe_case(observer: Observer, case: Case) -> Evidence:
    rule = case.rule
    if "recorder" in rule.needs and observer.profile.recorder is None:
        raise NotJudged(
            "needs the recorder of a pixelproof mock upstream behind the target (profile key `recorder`)"
        )
    if "age_s" in rule.expect and not observer.profile.url_age_header:
        raise NotJudged(f"a URL's validity at {rule.expect['age_s']} s cannot be observed in a run: "
                        "the target cannot be asked to serve a URL as if it were that old (profile "
                        "key url_age_header: a pixelproof mock only), and a run does not wait hours")  # fmt: skip
    observations = [observer.observe(p) for p in case.probes]
    for obs in observations:
        _check_observable(case, obs)
    images = [_decoded(observer, obs) for obs in observations]
    forwarding = observer.recorder is not None and (
        KINDS[rule.kind].forwarding or rule.expect.get("upstream") == "none"
    )
    try:
        calls = [observer.forwarded(obs) if forwarding else None for obs in observations]
    except TargetError as exc:
        raise TargetError(f"{case.id}: what reached the upstream is unknown: {exc}") from None
    if KINDS[rule.kind].injects:
        _check_injected(case, calls)
    for obs, seen in zip(observations, calls, strict=True):
        status = (obs.exchange.status if obs.exchange else None) or 0
        # only a refusal leaves the upstream half alone to decide; any other answer is judged
        if seen == [] and obs.unattributed and 400 <= status < 500:
            raise NotJudged(
                f"{case.id}: whether the request reached the upstream is unknown: no call carries "
                f"its nonce, but {obs.unattributed} (the request has no prompt to carry the tag)"
            )
    aged = _aged(observer, case, observations[0], images[0]) if "age_s" in rule.expect else None
    return Evidence(case, observer.catalogue, observations, images, calls, aged)


def _aged(
    observer: Observer, case: Case, obs: Observation, fresh: list[ImageResult]
) -> list[ImageResult]:
    """A URL lifetime (hours) is observable only on a target that serves a URL as if older."""
    if not fresh:
        return []  # nothing was served: the verdict says so
    aged = aged_images_in(observer, obs, float(case.rule.expect["age_s"]))
    if not aged:
        raise NotJudged(f"{case.id}: the answer carried no image URL (base64 images only)")
    lost = [str(i) for i in aged if i.unobserved]
    if lost:
        raise TargetError(
            f"{case.id}: image URL(s) gave no answer when fetched again: {'; '.join(lost)}"
        )
    return aged


def _check_injected(case: Case, calls: list[list[dict[str, Any]] | None]) -> None:
    """A failure asked of the mock upstream happened only if the request reached it (the
    gateway may route the model elsewhere, or refuse the request first): else nothing to judge."""
    for seen in calls:
        if seen is not None and not any(
            (c.get("notes") or {}).get("injected_failure") for c in seen
        ):
            raise NotJudged(
                f"{case.id}: the request never reached the pixelproof mock upstream "
                f"({len(seen)} call(s) with its nonce): no upstream failure was injected to judge"
            )
