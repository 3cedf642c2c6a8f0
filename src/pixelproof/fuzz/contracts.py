"""The contracts as the fuzzer reads them: the same OpenAPI documents the suites cite, with three
adjustments made in memory (the files never change).

* Security is stripped: credentials are the profile's, sent on every request, and the auth suites
  judge them. Left in, schemathesis would mutate the Authorization header, and our own header
  would quietly undo the "negative" part of a case.
* Jimeng's submit answer links to its get-result query. OpenAPI allows one operation per path and
  method, so both live in one operation and the link needs a literal ``Action``; the contract
  tests only admit ``$response.body`` expressions, so the link is added here, not in the file.
* A *documented positive subset* per surface: models narrowed to what the target claims, values
  the vendors validate (quality, references, masks, prompts) narrowed to what the rule tables and
  samples say is valid, objects closed. Positive cases are generated from it, and a request that
  validates against it is one the target must accept (unless a rule says otherwise).
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from pixelproof.catalogue import Catalogue, contracts_dir
from pixelproof.samples import sample_b64

if TYPE_CHECKING:  # imported where the schemas load: planning targets needs only the documents,
    import schemathesis  # and an xdist worker that never fuzzes never imports it (~0.4 CPU-s)

    from pixelproof.target import Profile

Doc = dict[str, Any]
PROMPT = {
    "type": "string",
    "minLength": 1,
    "maxLength": 48,
    "pattern": "^[A-Za-z][A-Za-z0-9 ,.-]*$",
}
TASK_SURFACES = ("tasks-action", "tasks-official")
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def _raw(filename: str) -> Doc:
    path = contracts_dir() / "openapi" / filename
    # libyaml's loader when present (as the catalogue's): 0.07 s instead of 0.39 for the seven
    # contracts, paid by every process that plans or runs fuzzing
    return yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)  # type: ignore[no-any-return]


def references(profile: Profile) -> list[str]:
    """Reference images a target must take: the sample PNG as base64, and a URL when one is set."""
    refs = [sample_b64("png512")]
    if profile.reference_image_url:
        refs.insert(0, str(profile.reference_image_url))
    return refs


def fuzz_document(catalogue: Catalogue, surface: str) -> Doc:
    """The surface's contract without security, plus the links the file cannot state."""
    doc = copy.deepcopy(_raw(catalogue.surfaces[surface].openapi))
    doc.pop("security", None)
    for item in doc["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict):
                operation.pop("security", None)
    if surface == "jimeng-official":
        ok = doc["components"]["responses"]["Ok"]
        ok["links"] = {
            "GetResult": {
                "operationId": "jimengOfficial",
                "parameters": {"query.Action": "CVSync2AsyncGetResult", "query.Version": "2022-08-31"},
                "requestBody": {"req_key": "$request.body#/req_key", "task_id": "$response.body#/data/task_id"},
            }
        }  # fmt: skip
    return doc


def _documented(catalogue: Catalogue, surface: str, models: list[str], key: str) -> list[str]:
    """Values of request field ``key`` that accepted size rules document for ``models``."""
    values = {
        str(rule.request[key])
        for model in models
        for rule in catalogue.rules(("size", "aspect_ratio"), surface, model)
        if key in rule.request and not rule.rejected and rule.request[key] is not None
    }
    return sorted(values)


def _edit_models(catalogue: Catalogue, claimed: list[str], encoding: str) -> list[str]:
    rules = [r for r in catalogue.rules("edit", "unified") if r.request.get("encoding") == encoding]
    models = {m for r in rules for m in (r.models or claimed)}
    return [m for m in claimed if m in models] or claimed[:1]


def _unified_variant(catalogue: Catalogue, model: str, **extra: Any) -> dict[str, Any]:
    """One model's documented request: its own sizes or ratios, the n its rules speak of."""
    n_rules = [r for r in catalogue.rules("n_default", "unified", model) if r.request.get("n")]
    props: dict[str, Any] = {
        "model": {"type": "string", "const": model},
        "prompt": dict(PROMPT),
        "n": {"type": "integer", "minimum": 0, "maximum": 2 if n_rules else 1},  # images cost
        "response_format": {"$ref": "#/components/schemas/ResponseFormat"},
        "quality": {"type": "string", "enum": ["auto", "high", "medium", "low"]},
    }
    sized = []
    for key in ("size", "ratio"):
        values = _documented(catalogue, "unified", [model], key)
        if values:
            props[key] = {"type": "string", "enum": values}
            sized.append(key)
    if catalogue.rules("watermark", "unified", model):
        props["watermark"] = {"$ref": "#/components/schemas/Watermark"}
    props.update(extra)
    # a documented size or ratio, always, so the answer has a size to judge (the anchor omits it)
    required = ["model", "prompt", *sized, *(k for k in extra if k == "image")]
    return {
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": props,
    }


def _tailor_unified(doc: Doc, catalogue: Catalogue, profile: Profile) -> None:
    schemas = doc["components"]["schemas"]
    claimed = profile.models("unified")
    schemas["GenerationRequest"] = {"oneOf": [_unified_variant(catalogue, m) for m in claimed]}
    image = {"type": "string", "enum": references(profile)}
    schemas["EditJsonRequest"] = {
        "oneOf": [
            _unified_variant(catalogue, m, image=image)
            for m in _edit_models(catalogue, claimed, "json")
        ]
    }
    # multipart stays one flat object: schemathesis fills file parts only at the top level
    multipart_models = _edit_models(catalogue, claimed, "multipart")
    schemas["EditMultipartRequest"] = {
        "type": "object", "additionalProperties": False, "required": ["model", "prompt", "image"],
        "properties": {
            "model": {"type": "string", "enum": multipart_models},
            "prompt": dict(PROMPT), "image": {"$ref": "#/components/schemas/BinaryFile"},
            "mask": {"$ref": "#/components/schemas/BinaryFile"},
            "n": {"type": "integer", "minimum": 0, "maximum": 2},
            "response_format": {"$ref": "#/components/schemas/ResponseFormat"},
        },
    }  # fmt: skip


def _tailor_tasks_action(doc: Doc, catalogue: Catalogue, profile: Profile) -> None:
    request = doc["components"]["schemas"]["SubmitRequest"]
    props = request["properties"]
    props["model"] = {"type": "string", "enum": profile.models("tasks-action")}
    props["prompt"] = dict(PROMPT)
    props["image_urls"] = {"type": "array", "minItems": 1, "maxItems": 2,
                           "items": {"type": "string", "enum": references(profile)}}  # fmt: skip
    props["mask_url"] = {"type": "string", "enum": [sample_b64("mask512")]}
    props["n"] = {"type": "integer", "minimum": 1, "maximum": 2}
    props.pop("background", None)
    request["additionalProperties"] = False
    # every documented submission names a ratio (and a tier where the model's rows have tiers),
    # so every task it starts has a size to judge; the anchor covers the omitted case
    shapes = []
    for model in profile.models("tasks-action"):
        tiered = any(r.tier for r in catalogue.rules("aspect_ratio", "tasks-action", model))
        shape: dict[str, Any] = {"type": "object", "properties": {"model": {"const": model}}}
        if tiered:
            shape["required"] = ["aspect_ratio", "resolution"]
        else:
            shape.update(
                required=["aspect_ratio"], **{"not": {"type": "object", "required": ["resolution"]}}
            )
        shapes.append(shape)
    request.setdefault("allOf", []).append({"oneOf": shapes})


def _tailor_tasks_official(doc: Doc, catalogue: Catalogue, profile: Profile) -> None:
    schemas = doc["components"]["schemas"]
    schemas["SubmitRequest"]["additionalProperties"] = False
    schemas["SubmitRequest"]["properties"]["task_id"] = {
        "type": "string",
        "pattern": "^[a-z0-9-]{1,32}$",
    }
    params = schemas["Params"]
    params["additionalProperties"] = False
    params["required"] = ["prompt", "aspect_ratio", "resolution"]  # a size to judge, always
    params["properties"].update(
        prompt=dict(PROMPT),
        image_urls={"type": "array", "minItems": 1, "maxItems": 2,
                    "items": {"type": "string", "enum": references(profile)}},
        quality={"type": "string", "enum": ["auto", "low", "medium", "high"]},
        n={"type": "integer", "minimum": 1, "maximum": 2},
    )  # fmt: skip


def _tailor_gemini(doc: Doc, catalogue: Catalogue, profile: Profile) -> None:
    operation = doc["paths"]["/v1beta/models/{model}:generateContent"]["post"]
    operation["parameters"][0]["schema"] = {"type": "string", "enum": profile.models("gemini")}
    schemas = doc["components"]["schemas"]
    schemas["RequestPart"]["oneOf"][0]["properties"]["text"] = dict(PROMPT)
    schemas["RequestInlineData"]["properties"] = {
        "mimeType": {"type": "string", "enum": ["image/png"]},
        "data": {"type": "string", "enum": [sample_b64("png512")]},
    }
    schemas["GenerateContentRequest"]["properties"]["contents"]["maxItems"] = 2
    schemas["RequestContent"]["properties"]["parts"]["maxItems"] = 2
    ratios = schemas["ImageConfig"]["properties"]["aspectRatio"]
    ratios["enum"] = [r for r in ratios["enum"] if r in catalogue.gemini_pixels_1k]


def _tailor_jimeng(doc: Doc, catalogue: Catalogue, profile: Profile) -> None:
    schemas = doc["components"]["schemas"]
    req_key = {"type": "string", "enum": profile.models("jimeng-official")}
    schemas["SubmitTaskRequest"] = {
        "type": "object", "additionalProperties": False, "required": ["req_key", "prompt"],
        "properties": {"req_key": req_key, "prompt": dict(PROMPT), "force_single": {"type": "boolean"},
                       "watermark": {"type": "boolean"}},
    }  # fmt: skip
    get = schemas["GetResultRequest"]
    get["additionalProperties"] = False
    get["properties"]["req_key"] = req_key
    get["properties"]["req_json"] = {
        "type": "string", "enum": ['{"return_url": false}', '{"return_url": true}']
    }  # fmt: skip


TAILORS = {
    "unified": _tailor_unified,
    "tasks-action": _tailor_tasks_action,
    "tasks-official": _tailor_tasks_official,
    "gemini": _tailor_gemini,
    "jimeng-official": _tailor_jimeng,
}


def positive_document(catalogue: Catalogue, profile: Profile, surface: str) -> Doc:
    doc = fuzz_document(catalogue, surface)
    TAILORS[surface](doc, catalogue, profile)
    return doc


@dataclass
class SurfaceSchemas:
    """One surface, loaded twice: the contract (negative generation, judging) and the subset."""

    surface: str
    contract: Doc
    subset: Doc
    negative: schemathesis.BaseSchema
    positive: schemathesis.BaseSchema

    def operations(self, which: str = "contract") -> dict[str, Any]:
        """label -> schemathesis APIOperation, from the contract or from the positive subset."""
        schema = self.negative if which == "contract" else self.positive
        return {r.ok().label: r.ok() for r in schema.get_all_operations()}


def map_case(context: Any, case: Any) -> Any:
    """Jimeng's Action follows the body (a task id means a result query), as the contract says;
    the document cannot pair a query value with a body variant, so positive cases are paired here."""
    body = case.body if isinstance(case.body, dict) else {}
    if isinstance(case.query, dict) and "Action" in case.query:
        getting = "task_id" in body
        case.query["Action"] = "CVSync2AsyncGetResult" if getting else "CVSync2AsyncSubmitTask"
    return case


def load_surface(catalogue: Catalogue, profile: Profile, surface: str) -> SurfaceSchemas:
    import schemathesis

    contract = fuzz_document(catalogue, surface)
    subset = positive_document(catalogue, profile, surface)
    positive = schemathesis.openapi.from_dict(subset, config=schemathesis.Config())
    if surface == "jimeng-official":
        positive.hook(map_case)
    negative = schemathesis.openapi.from_dict(contract, config=schemathesis.Config())
    return SurfaceSchemas(surface, contract, subset, negative, positive)
