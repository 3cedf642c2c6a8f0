"""What a target must answer to one generated request, decided from the contract and the rules.

The fuzzer does not keep a second copy of the rules. For each request it asks, in order:

1. does a rule of the catalogue reject it (a rejected size/ratio row, an unknown model, too many
   references, a malformed reference, a reviewed prompt)? Then a 4xx, and the finding cites the
   rule id;
2. does it violate the contract in a field pixelproof judges (``JUDGED``: the fields the rule
   tables speak to, plus the body's own shape)? Then a 4xx. Violations elsewhere (a type error in
   a pass-through field, an unknown property) are not judged: many gateways ignore what they do
   not read, and the documents do not promise otherwise; those requests only must not crash;
3. is it inside the documented positive subset, with every value the tables govern documented
   for the model? Then a 2xx, with the images the rules predict;
4. otherwise: anything but a server error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pixelproof.images import ImageError, b64decode_strict, sniff

if TYPE_CHECKING:
    from pixelproof.catalogue import Catalogue, Rule
    from pixelproof.fuzz.request import Contract, Request, Violation
    from pixelproof.target import Profile

ALL = None  # every keyword of the field's schema is judged
SHAPE = frozenset({"type", "required", "minLength", "maxItems"})
# field -> the JSON Schema keywords whose violation must be refused. A keyword left out is a
# constraint no rule promises (an inferred length, an empty list meaning "none"): only no crash.
JUDGED: dict[str, dict[str, frozenset[str] | None]] = {
    "unified": {"": ALL, "model": ALL, "prompt": ALL, "n": ALL, "response_format": ALL, "size": ALL,
                "ratio": frozenset({"pattern"}), "image": frozenset({"required"})},
    # a ratio is documented as required with 4k, but only gpt-image-2 has tiers (and a default,
    # auto): a legacy model that ignores the tier is not judged for the missing ratio
    "tasks-action": {"": ALL, "model": ALL, "prompt": ALL, "action": ALL,
                     "aspect_ratio": frozenset({"enum", "type"}),
                     "resolution": ALL, "output_format": ALL, "image_urls": SHAPE,
                     "mask_url": frozenset({"required"})},
    "tasks-official": {"": ALL, "model": ALL, "task_id": frozenset({"required", "type", "minLength"}),
                       "params": frozenset({"type", "required"}), "params.prompt": ALL, "params.aspect_ratio": ALL,
                       "params.resolution": ALL, "params.image_urls": SHAPE},
    "gemini": {"": ALL, "path.model": ALL, "contents": ALL, "contents.parts": SHAPE | {"minItems"},
               "generationConfig.imageConfig.aspectRatio": ALL, "generationConfig.imageConfig.imageSize": ALL},
    "jimeng-official": {"query.Action": ALL, "query.Version": ALL},
}  # fmt: skip
# Unified fields only some channels read: judged for the models whose rules speak of them.
SCOPED = {"size": ("size",), "ratio": ("size",), "image": ("ref_forward",)}
VALUE_KINDS = ("size", "aspect_ratio", "gemini_size", "output_format", "n_default")
GOVERNED = {
    "unified": ("size", "ratio", "n"),
    "tasks-action": ("aspect_ratio", "resolution", "output_format"),
    "tasks-official": ("aspect_ratio", "resolution"),
    "gemini": ("aspectRatio", "imageSize"),
    "jimeng-official": (),
}
REF_FIELDS = {"unified": "image", "tasks-action": "image_urls", "tasks-official": "image_urls"}
REF_FORMATS = ("png", "jpeg", "webp")
UNKNOWN_TASK = {
    "tasks-action": "task.tasks-action.unknown",
    "tasks-official": "task.tasks-official.unknown",
}


@dataclass(frozen=True)
class Expectation:
    """One request's promise: an outcome, why, and which check (a rule id, or fuzz.<check>)."""

    outcome: str  # reject | accept | refuse | statuses | jimeng_unknown | any
    why: str
    check: str
    statuses: tuple[int, ...] = ()
    size: str | None = None
    alt_size: str | None = None
    ratio: str | None = None
    count: int | None = None
    count_rule: str | None = None
    image_rule: str | None = None


ANY = Expectation("any", "whatever the answer, not a server error", "fuzz.server_error")


@dataclass
class Oracle:
    catalogue: Catalogue
    profile: Profile
    contracts: dict[str, Contract]  # surface -> the contract as fuzzed
    subsets: dict[str, Contract]  # surface -> its documented positive subset
    tasks: dict[str, Expectation] = field(default_factory=dict)  # task ids this run submitted

    def expect(self, request: Request) -> Expectation:
        fixed = self._fixed(request)
        if fixed is not None:
            return fixed
        ruled = self._rule_rejection(request)
        if ruled is not None:
            return ruled
        judged = [
            v
            for v in self.contracts[request.surface].violations(request)
            if self._judged(request, v)
        ]
        if judged:
            return Expectation("reject", f"violates the contract: {judged[0].message}",
                               "fuzz.negative_data_rejection")  # fmt: skip
        unknown = self._task_query(request)
        if unknown is not None:
            return unknown
        if self.subsets[request.surface].within(request):
            return self._accepted(request)
        return ANY

    # ------------------------------------------------------------------ fixed answers
    def _fixed(self, request: Request) -> Expectation | None:
        if request.label == "POST /v1/images/variations":
            rule = self.catalogue.rule("variations.not-implemented")
            return Expectation("statuses", rule.statement, rule.id, tuple(rule.expect["status"]))
        return None

    def _task_query(self, request: Request) -> Expectation | None:
        if request.label.startswith("GET /v1/tasks/"):
            task_id = str(request.path.get("task_id"))
            if task_id in self.tasks:
                return self.tasks[task_id]
            rule = self.catalogue.rule(UNKNOWN_TASK[request.surface])
            return Expectation("refuse", rule.statement, rule.id)
        if (
            request.surface == "jimeng-official"
            and request.query.get("Action") == "CVSync2AsyncGetResult"
        ):
            task_id = request.json.get("task_id")
            if isinstance(task_id, str) and task_id in self.tasks:
                return self.tasks[task_id]
            rule = self.catalogue.rule("jimeng.unknown-task")
            return Expectation("jimeng_unknown", rule.statement, rule.id)
        return None

    # ------------------------------------------------------------------ rules that reject
    def _rule_rejection(self, request: Request) -> Expectation | None:
        for check in (self._model_rule, self._ref_rule, self._safety_rule):
            found = check(request)
            if found is not None:
                return found
        model = request.model
        for rule in self._matching(request, model) if isinstance(model, str) else []:
            if rule.rejected:
                return Expectation("reject", rule.statement, rule.id)
        return None

    def _model_rule(self, request: Request) -> Expectation | None:
        surface, model = request.surface, request.model
        querying = (
            surface == "jimeng-official" and request.query.get("Action") != "CVSync2AsyncSubmitTask"
        )
        if request.label.startswith("GET ") or querying:
            return None
        if surface != "gemini" and not isinstance(request.body, dict):
            return None  # the body's own shape is the contract's to judge
        if surface == "unified" and model in (None, ""):
            rule = self.catalogue.rule("model.required")
            return Expectation("reject", rule.statement, rule.id)
        if request.label == "POST /v1/images/generations" and surface == "unified":
            if "prompt" not in request.json:  # null is the SDK's "omitted": the contract's to judge
                rule = self.catalogue.rule("prompt.required")  # a SHOULD: the finding says so
                return Expectation("reject", f"({rule.severity}) {rule.statement}", rule.id)
        if model is None or (isinstance(model, str) and model in self.catalogue.models_on(surface)):
            return None
        check = "model.unknown" if surface == "unified" else "fuzz.unknown_model"
        return Expectation("reject", f"model {model!r} is not documented on {surface}", check)

    def _ref_rule(self, request: Request) -> Expectation | None:
        name = REF_FIELDS.get(request.surface)
        if name is None or not self._reads(request, name):
            return None
        holder = request.json.get("params") if request.surface == "tasks-official" else request.json
        refs = holder.get(name) if isinstance(holder, dict) else None
        refs = [refs] if isinstance(refs, str) else refs
        if not isinstance(refs, list):
            return None
        for rule in self.catalogue.rules("ref_limit", request.surface):
            if len(refs) > int(rule.expect["max"]):
                return Expectation("reject", rule.statement, rule.id)
        for i, ref in enumerate(refs):
            problem = _reference_problem(ref)
            if problem == "format" and request.surface == "tasks-action":
                rule = self.catalogue.rule("refs.tasks-action.format")
                return Expectation("reject", rule.statement, rule.id)
            if problem is not None:
                why = f"{name}[{i}] is neither an http(s) URL nor base64 PNG/JPEG/WEBP data ({problem})"
                return Expectation("reject", why, "fuzz.malformed_reference")
        return None

    def _safety_rule(self, request: Request) -> Expectation | None:
        if request.surface != "tasks-official" or request.label.startswith("GET "):
            return None
        prompt = request.fields.get("prompt")
        terms = self.catalogue.defaults.safety.blocked_terms
        if isinstance(prompt, str) and any(t in prompt.lower() for t in terms):
            rule = self.catalogue.rule("safety.tasks-official.rejected")
            return Expectation("reject", rule.statement, rule.id)
        return None

    # ------------------------------------------------------------------ judging and accepting
    def _judged(self, request: Request, violation: Violation) -> bool:
        if violation.validator in ("additionalProperties", "unevaluatedProperties"):
            return False  # schemathesis' own leniency: unknown properties may be ignored
        if violation.null:
            return False  # null for an optional field: the OpenAI SDK's way of saying "omitted"
        table = JUDGED[request.surface]
        if violation.field not in table:
            return False  # not a field the rules speak to: a type error there only must not crash
        keywords = table[violation.field]
        if keywords is not None and violation.validator not in keywords:
            return False
        return self._reads(request, violation.field)

    def _reads(self, request: Request, name: str) -> bool:
        """Whether the requested model's channel reads ``name`` (always, off the unified entry)."""
        kinds = SCOPED.get(name) if request.surface == "unified" else None
        if kinds is None:
            return True
        model = request.model
        return any(
            (name in r.request or r.kind == "ref_forward")
            and (r.models is None or model in r.models)
            for r in self.catalogue.rules(kinds, "unified")
        )

    def _matching(self, request: Request, model: str) -> list[Rule]:
        fields = request.fields
        return [
            rule
            for rule in self.catalogue.rules(VALUE_KINDS, request.surface, model)
            if rule.request and all(
                (key not in fields) if want is None else fields.get(key) == want
                for key, want in rule.request.items()
            )
        ]  # fmt: skip

    def _accepted(self, request: Request) -> Expectation:
        model = request.model
        rules = self._matching(request, model) if isinstance(model, str) else []
        covered = {k for r in rules for k, v in r.request.items() if v is not None}
        fields = request.fields
        governed = [k for k in GOVERNED[request.surface] if k in fields and fields[k] is not None]
        if request.surface == "unified":
            governed = [
                k for k in governed if k != "n" or (isinstance(fields[k], int) and fields[k] > 1)
            ]
        if set(governed) - covered:
            return ANY  # a value the tables do not document for this model: only no crash
        return self._images(request, rules)

    def _images(self, request: Request, rules: list[Rule]) -> Expectation:
        sized = next((r for r in rules if r.kind in ("size", "gemini_size", "aspect_ratio")), None)
        size = sized.expect.get("size") if sized else None
        ratio = sized.expect.get("ratio") if sized and sized.kind == "aspect_ratio" else None
        count: int | None = None
        counted = next((r for r in rules if r.kind == "n_default"), None)
        if request.surface == "unified":
            n = request.json.get("n")
            count = int(counted.expect["count"]) if counted else max(int(n or 1), 1)
        return Expectation("accept", "a documented request inside the contract is accepted",
                           "fuzz.positive_data_acceptance", size=size,
                           alt_size=sized.expect.get("fallback_size") if sized else None,
                           ratio=None if ratio == "any" else ratio, count=count,
                           count_rule=counted.id if counted else None,
                           image_rule=sized.id if sized else None)  # fmt: skip


def _reference_problem(ref: Any) -> str | None:
    """None for a URL or decodable base64 image data; else what is wrong with it."""
    if isinstance(ref, str) and ref.startswith(("http://", "https://")):
        return None
    if not isinstance(ref, str) or not ref:
        return "not a non-empty string"
    try:
        data = b64decode_strict(ref)
    except ImageError as exc:
        return str(exc)[:80]
    fmt = sniff(data)
    if fmt is None:
        return "the data is not an image"
    return None if fmt in REF_FORMATS else "format"
