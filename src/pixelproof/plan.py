"""The plan: which rules apply to which claimed models, and which requests (probes) they need.

A probe is one billable interaction (a request, or a task submitted and polled). Identical probes
needed by several rules share one key, so a run sends each once ("observe once, judge many").
The prompt carries ``{nonce}``, filled at send time from the run id and the probe key, so what
reached the upstream can be found in its recorder.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pixelproof.samples import UNCACHED, sample_b64, sample_streamed
from pixelproof.surfaces.paths import ARK_PATH, UPSTREAM_FAILURE, jimeng_path, twin

if TYPE_CHECKING:
    from pixelproof.catalogue import Catalogue, Rule
    from pixelproof.target import Profile

PROMPT_TAG = "[pp:{nonce}]"  # in a prompt: what reached the upstream is found by it
PROMPT = f"pixelproof probe {PROMPT_TAG}: a red cube on a wooden table"
# A probe names a large sample (a 41 MB base64 reference) by placeholder: probes stay small to
# hash, compare and keep, and the sample exists only while its request is being sent.
SAMPLE_PREFIX = "{sample:"
# "{lookalike:dall-e-3}" in a probe's body: a look-alike of that model name, drawn per request
LOOKALIKE_PREFIX = "{lookalike:"
LOOKALIKE = re.compile(r"\{lookalike:([A-Za-z0-9.-]+)\}")
TASK_SURFACES = ("tasks-action", "tasks-official")


@dataclass(frozen=True)
class Probe:
    surface: str
    op: str  # http | task | jimeng
    method: str
    path: str
    body: str = ""  # canonical JSON ("" = none)
    form: tuple[tuple[str, str], ...] = ()
    files: tuple[tuple[str, str], ...] = ()  # (field, sample name)
    query: tuple[tuple[str, str], ...] = ()
    credentials: str = "default"
    images: int = 0  # images bought if the target accepts it

    @property
    def key(self) -> str:
        return _probe_key(self)

    def json_body(self, nonce: str) -> Any:
        if not self.body:
            return None
        text = self.body.replace("{nonce}", nonce)
        if LOOKALIKE_PREFIX in text:
            text = LOOKALIKE.sub(lambda m: lookalike(m.group(1), nonce), text)
        value = json.loads(text)
        return _expand_samples(value) if SAMPLE_PREFIX in self.body else value


def lookalike(name: str, nonce: str) -> str:
    """A punctuation look-alike of a documented model name (dall-e-3 as dalle-3, dall-e3, dalle3,
    dall_e_3 or dall.e.3), drawn per request from its nonce: a run probes several, so a gateway
    cannot pass by refusing one fixed misspelling."""
    parts = name.split("-")
    variants = {"-".join([*parts[:i], parts[i] + parts[i + 1], *parts[i + 2 :]])
                for i in range(len(parts) - 1)}  # one hyphen dropped  # fmt: skip
    variants |= {"".join(parts), "_".join(parts), ".".join(parts)}
    ordered = sorted(variants - {name})
    return ordered[int(hashlib.sha256(nonce.encode()).hexdigest()[:8], 16) % len(ordered)]


def _expand_samples(value: Any) -> Any:
    """Placeholders of large samples replaced by their base64, streamed while a request is sent."""
    if isinstance(value, str) and value.startswith(SAMPLE_PREFIX) and value.endswith("}"):
        name = value[len(SAMPLE_PREFIX) : -1]
        return sample_streamed(name) if name in UNCACHED else sample_b64(name)
    if isinstance(value, list):
        return [_expand_samples(v) for v in value]
    if isinstance(value, dict):
        return {k: _expand_samples(v) for k, v in value.items()}
    return value


@functools.cache
def _probe_key(probe: Probe) -> str:
    """Cached: a body can carry a 41 MB reference, and every case, shard and cache asks for it."""
    return hashlib.sha256(repr(probe).encode()).hexdigest()[:12]


@dataclass(frozen=True, repr=False)
class Case:
    """One rule judged for one model on one surface."""

    rule: Rule
    surface: str
    model: str | None
    probes: tuple[Probe, ...] = field(default=())
    level: str | None = None  # the level the target claims on this surface
    claimed: bool = True  # False: the rule is above that level ("not claimed"; nothing is sent)

    @property
    def id(self) -> str:
        generic = self.rule.models is None or len(self.rule.models) > 1 or self.rule.surface == "*"
        if not generic:
            return self.rule.id
        parts = [p for p in ((self.surface if self.rule.surface == "*" else None), self.model) if p]
        return f"{self.rule.id}[{'/'.join(parts)}]" if parts else self.rule.id

    @property
    def images(self) -> int:
        return sum(p.images for p in self.probes)

    def __repr__(self) -> str:
        # short on purpose: allure hashes every parameter's repr for its history id, and a
        # reference-size case carries a 41 MB body in its probes
        return f"Case({self.id!r})"


def _canon(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` over ``base``; a None value removes the key (how a rule says 'omit n')."""
    out = dict(base)
    for k, v in extra.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


@dataclass
class Context:
    catalogue: Catalogue
    profile: Profile

    def body(self, surface: str, model: str | None, request: dict[str, Any]) -> dict[str, Any]:
        """The surface's base request for ``model`` with the rule's ``request`` merged in."""
        request = {
            k: v
            for k, v in request.items()
            if k not in ("credentials", "encoding", "path", "mask", "query")
        }
        surface = twin(surface)
        if surface == "unified":
            entry = self.catalogue.model(surface, model or "")
            wants = "b64_json" if entry is None or "b64_json" in entry.outputs else "url"
            return merge({"model": model, "prompt": PROMPT, "response_format": wants}, request)
        if surface == "gemini":
            image_config = {k: v for k, v in request.items() if k in ("aspectRatio", "imageSize")}
            body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
                                    "generationConfig": {"responseModalities": ["IMAGE"]}}  # fmt: skip
            if image_config:
                body["generationConfig"]["imageConfig"] = image_config
            return body
        if surface == "tasks-official":
            top = {k: v for k, v in request.items() if k in ("task_id", "model")}
            params = merge({"prompt": PROMPT}, {k: v for k, v in request.items() if k not in top})
            return merge({"model": model, "task_id": "pp-{nonce}", "params": params}, top)
        if surface == "jimeng-official":
            return merge({"req_key": model, "prompt": PROMPT}, request)
        if surface == "tasks-action":  # explicit, so only a rule that omits it tests the default
            return merge({"model": model, "prompt": PROMPT, "action": "generate"}, request)
        return merge({"model": model, "prompt": PROMPT}, request)

    def probe(
        self, surface: str, model: str | None, request: dict[str, Any], credentials: str = "default"
    ) -> Probe:
        body = self.body(surface, model, request)
        if surface == "ark":
            return Probe(surface, "http", "POST", ARK_PATH, _canon(body), credentials=credentials,
                         images=1)  # fmt: skip
        if twin(surface) == "gemini":
            path = f"/v1beta/models/{model}:generateContent"
            return Probe(
                surface, "http", "POST", path, _canon(body), credentials=credentials, images=1
            )
        if surface in TASK_SURFACES:
            path = "/v1/images/generations"
            return Probe(
                surface, "task", "POST", path, _canon(body), credentials=credentials, images=1
            )
        if twin(surface) == "jimeng-official":
            query = (("Action", "CVSync2AsyncSubmitTask"), ("Version", "2022-08-31"))
            return Probe(
                surface,
                "jimeng",
                "POST",
                jimeng_path(surface),
                _canon(body),
                query=query,
                credentials=credentials,
                images=1,
            )
        n = body.get("n") or 1
        return Probe(
            surface,
            "http",
            "POST",
            "/v1/images/generations",
            _canon(body),
            credentials=credentials,
            images=n,
        )

    def refs(self, count: int, mixed: bool) -> list[str]:
        url = str(self.profile.reference_image_url) if self.profile.reference_image_url else None
        return [
            url if (mixed and url and i % 2 == 0) else sample_b64("png512") for i in range(count)
        ]


Builder = Callable[[Case, Context], list[Probe]]


def _simple(case: Case, ctx: Context) -> list[Probe]:
    return [ctx.probe(case.surface, case.model, case.rule.request)]


# The requests below ought to buy nothing, but each still counts the images it asks for: a gateway
# that breaks the rule (routes an unknown name to a default model, ignores the key, fails over to
# a real vendor behind the recorder) buys them, and the budget must hold in that worst case too.


def _model_unknown(case: Case, ctx: Context) -> list[Probe]:
    """``{model}`` in the rule's request is the case's model (an unknown name made from each
    documented one: a request per model, each drawing its own name at send time)."""
    request = {k: v.replace("{model}", case.model or "") if isinstance(v, str) else v
               for k, v in case.rule.request.items()}  # fmt: skip
    return [ctx.probe(case.surface, case.model, request)]


def _auth(case: Case, ctx: Context) -> list[Probe]:
    return [ctx.probe(case.surface, case.model, {}, credentials=case.rule.request["credentials"])]


def _upstream_failure(case: Case, ctx: Context) -> list[Probe]:
    """The documented request with the mock upstream asked to fail it (the mark follows the tag
    in the prompt, wherever the dialect puts the prompt)."""
    mark = UPSTREAM_FAILURE.format(mode=case.rule.expect["upstream_fails"])
    probe = ctx.probe(case.surface, case.model, case.rule.request)
    body = probe.body.replace(PROMPT_TAG, f"{PROMPT_TAG} {mark}")
    return [Probe(**{**vars(probe), "body": body})]


def _ref_limit(case: Case, ctx: Context) -> list[Probe]:
    limit, mixed = int(case.rule.expect["max"]), bool(case.rule.expect.get("mixed"))
    probes = []
    for count in (limit, limit + 1):
        request = {**case.rule.request, "image_urls": ctx.refs(count, mixed)}
        probes.append(ctx.probe(case.surface, case.model, request))
    return probes


def _sample_ref(sample: str) -> str:
    return f"{SAMPLE_PREFIX}{sample}}}" if sample in UNCACHED else sample_b64(sample)


def _ref_sample(sample: str) -> Builder:
    def build(case: Case, ctx: Context) -> list[Probe]:
        return [
            ctx.probe(
                case.surface, case.model, {**case.rule.request, "image_urls": [_sample_ref(sample)]}
            )
        ]

    return build


def _ref_forward(case: Case, ctx: Context) -> list[Probe]:
    refs = [sample_b64("png512")] * int(case.rule.expect["count"])
    return [ctx.probe(case.surface, case.model, {"image": refs})]


def _task_failure(case: Case, ctx: Context) -> list[Probe]:
    request = {
        **case.rule.request,
        "image_urls": [sample_b64("png512")],
        "mask_url": sample_b64("notimage"),
    }
    return [ctx.probe(case.surface, case.model, request)]


def _edit_probe(path: str, case: Case, ctx: Context) -> Probe:
    rq = case.rule.request
    if rq.get("encoding") == "json":
        body = ctx.body(case.surface, case.model, {"image": [sample_b64("png512")]})
        return Probe(case.surface, "http", "POST", path, _canon(body), images=1)
    form = (("model", case.model or ""), ("prompt", PROMPT), ("response_format", "b64_json"))
    form = form if case.surface == "unified" else form[:2]  # a vendor answers its own default
    form += (("n", str(rq["n"])),) if rq.get("n") is not None else ()
    files = (("image", "png512"),) + ((("mask", "mask512"),) if rq.get("mask") else ())
    return Probe(case.surface, "http", "POST", path, form=form, files=files, images=1)


def _edit(case: Case, ctx: Context) -> list[Probe]:
    return [_edit_probe(case.rule.request.get("path", "/v1/images/edits"), case, ctx)]


def _edits_alias(case: Case, ctx: Context) -> list[Probe]:
    return [_edit_probe("/v1/images/edits", case, ctx), _edit_probe("/v1/edits", case, ctx)]


def _variations(case: Case, ctx: Context) -> list[Probe]:
    form = (("model", case.model or ""), ("n", "1"), ("response_format", "b64_json"))
    return [
        Probe(
            "unified",
            "http",
            "POST",
            "/v1/images/variations",
            form=form,
            files=(("image", "png512"),),
        )
    ]


def _equivalent(case: Case, ctx: Context) -> list[Probe]:
    """The rule's request, and the request it must behave as (``expect.same_as`` merged in)."""
    other = merge(case.rule.request, case.rule.expect["same_as"])
    return [ctx.probe(case.surface, case.model, case.rule.request),
            ctx.probe(case.surface, case.model, other)]  # fmt: skip


def _task_unknown(case: Case, ctx: Context) -> list[Probe]:
    return [Probe(case.surface, "http", "GET", "/v1/tasks/pixelproof-never-issued-{nonce}")]


def _safety(case: Case, ctx: Context) -> list[Probe]:
    prompt = ctx.profile.safety_prompt or ctx.catalogue.defaults.safety.prompt
    body = ctx.body(case.surface, case.model, {})
    body["params"]["prompt"] = f"{prompt} [pp:{{nonce}}]"
    return [Probe(case.surface, "task", "POST", "/v1/images/generations", _canon(body), images=1)]


def _jimeng_query(case: Case, ctx: Context) -> list[Probe]:
    body = ctx.body(case.surface, case.model, {})
    path = jimeng_path(case.surface)
    return [Probe(case.surface, "http", "POST", path, _canon(body), images=1)]


def _jimeng_unknown(case: Case, ctx: Context) -> list[Probe]:
    body = {
        "req_key": case.model,
        "task_id": "pixelproof-never-issued-{nonce}",
        "req_json": '{"return_url": false}',
    }
    query = (("Action", "CVSync2AsyncGetResult"), ("Version", "2022-08-31"))
    path = jimeng_path(case.surface)
    return [Probe(case.surface, "http", "POST", path, _canon(body), query=query)]


def _gemini_reference(case: Case, ctx: Context) -> list[Probe]:
    body = ctx.body("gemini", case.model, {})
    body["contents"][0]["parts"].append(
        {"inlineData": {"mimeType": "image/png", "data": sample_b64("png512")}}
    )
    return [
        Probe(
            "gemini",
            "http",
            "POST",
            f"/v1beta/models/{case.model}:generateContent",
            _canon(body),
            images=1,
        )
    ]


@dataclass(frozen=True)
class Kind:
    """A rule kind, registered once: the requests it needs (``build``), the suite test that
    judges it (``suite``: a test function in suites/), and whether its verdict reads what reached
    the upstream (``forwarding``: gathered before judging when the profile has a recorder). Its
    verdict registers against the same name (judging/verdicts.py); tests/test_kinds.py checks
    that every kind in the catalogue has all four, and a fault that breaks it. ``injects``: the
    request asks the mock upstream to fail it (UPSTREAM_FAILURE), so its expected answer is an
    error and a case whose request never reached that upstream cannot be judged."""

    build: Builder
    suite: str
    forwarding: bool = False
    injects: bool = False  # asks the mock upstream to fail (judged only if it reached it)


KINDS: dict[str, Kind] = {
    "size": Kind(_simple, "test_size_mapping"),
    "fallback": Kind(_simple, "test_fallback_to_native_size", forwarding=True),
    "gemini_size": Kind(_simple, "test_gemini_image_size"),
    "aspect_ratio": Kind(_simple, "test_aspect_ratio"),
    "pixel_ceiling": Kind(_simple, "test_pixel_ceiling"),
    "n_default": Kind(_simple, "test_image_count"),
    "n_forwarded": Kind(_simple, "test_n_forwarded", forwarding=True),
    "watermark": Kind(_simple, "test_watermark_tri_state", forwarding=True),
    "response_format": Kind(_simple, "test_response_format"),
    "output_format": Kind(_simple, "test_output_format"),
    "background": Kind(_simple, "test_transparent_background"),
    "passthrough": Kind(_simple, "test_passthrough", forwarding=True),
    "revised_prompt": Kind(_simple, "test_revised_prompt"),
    "error_shape": Kind(_model_unknown, "test_error_shape"),
    "model_required": Kind(_model_unknown, "test_model_validation"),
    "model_unknown": Kind(_model_unknown, "test_model_validation", forwarding=True),
    "auth": Kind(_auth, "test_auth"),
    "upstream_failure": Kind(
        _upstream_failure, "test_upstream_failure", forwarding=True, injects=True
    ),
    "ref_limit": Kind(_ref_limit, "test_reference_limit"),
    "ref_format": Kind(_ref_sample("gif64"), "test_reference_constraints"),
    "ref_bytes": Kind(_ref_sample("big31mb"), "test_reference_constraints"),
    "ref_forward": Kind(_ref_forward, "test_references_forwarded", forwarding=True),
    "edit": Kind(_edit, "test_edit", forwarding=True),
    "edits_alias": Kind(_edits_alias, "test_edits_alias"),
    "variations": Kind(_variations, "test_variations"),
    "equivalent": Kind(_equivalent, "test_equivalent_requests"),
    "task_lifecycle": Kind(_simple, "test_task_lifecycle"),
    "url_validity": Kind(_simple, "test_url_validity"),
    "task_deadline": Kind(_simple, "test_task_deadline"),
    "task_failure": Kind(_task_failure, "test_task_failure"),
    "task_unknown": Kind(_task_unknown, "test_unknown_task"),
    "task_caller_id": Kind(_model_unknown, "test_submission_rejected"),
    "safety": Kind(_safety, "test_submission_rejected"),
    "jimeng_lifecycle": Kind(_simple, "test_task_lifecycle"),
    "jimeng_query": Kind(_jimeng_query, "test_jimeng_query_parameters"),
    "jimeng_unknown": Kind(_jimeng_unknown, "test_unknown_task"),
    "gemini_reference": Kind(_gemini_reference, "test_gemini_inline_reference", forwarding=True),
    "response_shape": Kind(_simple, "test_response_shape"),
}
BUILDERS: dict[str, Builder] = {name: kind.build for name, kind in KINDS.items()}


def cases_for(catalogue: Catalogue, profile: Profile, kinds: set[str] | None = None) -> list[Case]:
    """Every (rule, surface, model) the target's claims make judgeable, with its probes."""
    ctx = Context(catalogue, profile)
    cases: list[Case] = []
    for rule in catalogue:
        if kinds is not None and rule.kind not in kinds:
            continue
        if rule.kind not in KINDS:
            raise KeyError(f"rule {rule.id}: kind {rule.kind!r} is not registered (plan.KINDS)")
        surfaces = list(profile.surfaces) if rule.surface == "*" else [rule.surface]
        for surface in surfaces:
            claimed = profile.models(surface)
            if not claimed:
                continue
            models = [m for m in claimed if rule.models is None or m in rule.models]
            if rule.surface == "*":
                models = models[:1]  # auth: one model per surface says it
            level = profile.level_of(surface, catalogue)
            for model in models:
                if level not in rule.levels:  # above the claimed level: reported, never sent
                    cases.append(Case(rule, surface, model, (), level, claimed=False))
                    continue
                case = Case(rule, surface, model, level=level)
                probes = tuple(BUILDERS[rule.kind](case, ctx))
                cases.append(Case(rule, surface, model, probes, level))
    return cases


def not_claimed_reason(case: Case) -> str:
    levels = ", ".join(case.rule.levels) or "none"
    return f"not claimed: the target claims level {case.level} on {case.surface}; this rule is at {levels}"


def unique_probes(cases: list[Case]) -> dict[str, Probe]:
    return {p.key: p for case in cases for p in case.probes}
