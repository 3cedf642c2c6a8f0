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
from typing import Any

import schemathesis
import yaml

from pixelproof.catalogue import Catalogue, contracts_dir
from pixelproof.samples import sample_b64
from pixelproof.target import Profile

Doc = dict[str, Any]
PROMPT = {
    "type": "string",
    "minLength": 1,
    "maxLength": 48,
    "pattern": "^[A-Za-z][A-Za-z0-9 ,.-]*$",
}
TASK_SURFACES = ("tasks-action", "tasks-official")


@functools.cache
def _raw(filename: str) -> Doc:
    path = contracts_dir() / "openapi" / filename
    return yaml.safe_load(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


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


def _tailor_unified(doc: Doc, catalogue: Catalogue, profile: Profile) -> None:
    schemas = doc["components"]["schemas"]
    claimed = profile.models("unified")
    schemas["Model"] = {"type": "string", "enum": claimed}
    schemas["Prompt"] = dict(PROMPT)
    schemas["N"] = {"type": "integer", "minimum": 0, "maximum": 2}  # images cost money and time
    sizes = _documented(catalogue, "unified", claimed, "size")
    schemas["Size"] = {"type": "string", "enum": [*sizes, "auto"]}
    props = schemas["GenerationRequest"]["properties"]
    for name in ("image", "style", "background", "output_format", "resolution"):
        props.pop(name, None)  # per-channel constraints the tables leave to the suites
    props["quality"] = {"type": "string", "enum": ["auto", "high", "medium", "low"]}
    ratios = _documented(catalogue, "unified", claimed, "ratio")
    props["ratio"] = {"type": "string", "enum": ratios or ["1:1"]}
    schemas["GenerationRequest"]["additionalProperties"] = False
    edit = copy.deepcopy(schemas["GenerationRequest"])
    edit["properties"]["model"] = {
        "type": "string",
        "enum": _edit_models(catalogue, claimed, "json"),
    }
    edit["properties"]["image"] = {"type": "string", "enum": references(profile)}
    edit["required"] = ["model", "prompt", "image"]
    schemas["EditJsonRequest"] = edit
    multipart_models = _edit_models(catalogue, claimed, "multipart")
    schemas["EditMultipartRequest"] = {
        "type": "object", "additionalProperties": False, "required": ["model", "prompt", "image"],
        "properties": {
            "model": {"type": "string", "enum": multipart_models},
            "prompt": dict(PROMPT), "image": {"$ref": "#/components/schemas/BinaryFile"},
            "mask": {"$ref": "#/components/schemas/BinaryFile"}, "n": {"$ref": "#/components/schemas/N"},
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


def _tailor_tasks_official(doc: Doc, catalogue: Catalogue, profile: Profile) -> None:
    schemas = doc["components"]["schemas"]
    schemas["SubmitRequest"]["additionalProperties"] = False
    schemas["SubmitRequest"]["properties"]["task_id"] = {
        "type": "string",
        "pattern": "^[a-z0-9-]{1,32}$",
    }
    params = schemas["Params"]
    params["additionalProperties"] = False
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
        schema = self.negative if which == "contract" else self.positive
        return {r.ok().label: r.ok() for r in schema.get_all_operations()}

    def operation_ids(self) -> dict[str, str]:
        return {
            f"{method.upper()} {path}": op["operationId"]
            for path, item in self.contract["paths"].items()
            for method, op in item.items()
            if isinstance(op, dict) and "operationId" in op
        }


def map_case(context: Any, case: Any) -> Any:
    """Jimeng's Action follows the body (a task id means a result query), as the contract says;
    the document cannot pair a query value with a body variant, so positive cases are paired here."""
    body = case.body if isinstance(case.body, dict) else {}
    if isinstance(case.query, dict) and "Action" in case.query:
        getting = "task_id" in body
        case.query["Action"] = "CVSync2AsyncGetResult" if getting else "CVSync2AsyncSubmitTask"
    return case


def load_surface(catalogue: Catalogue, profile: Profile, surface: str) -> SurfaceSchemas:
    contract = fuzz_document(catalogue, surface)
    subset = positive_document(catalogue, profile, surface)
    positive = schemathesis.openapi.from_dict(subset, config=schemathesis.Config())
    if surface == "jimeng-official":
        positive.hook(map_case)
    negative = schemathesis.openapi.from_dict(contract, config=schemathesis.Config())
    return SurfaceSchemas(surface, contract, subset, negative, positive)
