"""The OpenAPI contracts are data the suites and the fuzzer trust, so they are tested like code.

Each document must be valid OpenAPI 3.1, loadable by schemathesis with a case generated for every
operation and every request media type, and complete: no untyped schema anywhere, a JSON error
body for 4xx answers, security declared, links that point at real operations and fields.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase, find, given, settings
from jsonschema import Draft202012Validator
from schemathesis.core.result import Ok

from pixelproof.fuzz.pinned import pinned_generation
from pixelproof.fuzz.reuse import reused_strategies
from pixelproof.resources import contracts_dir

OPENAPI_DIR = contracts_dir() / "openapi"
EXPECTED = {
    "unified",
    "gemini",
    "jimeng-official",
    "jimeng-visual",
    "tasks-action",
    "tasks-official",
    "openai",
    "ark-seedream",
    "xai",
}
DOCUMENTS = sorted(OPENAPI_DIR.glob("*.yaml"))
# Async task APIs: the submit answer must link to the task query.
LINKED = {"tasks-action", "tasks-official"}
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
TYPING_KEYWORDS = ("type", "oneOf", "anyOf", "allOf", "$ref", "const", "enum")
SUBSCHEMA_KEYS = (
    "items",
    "additionalProperties",
    "unevaluatedProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "contentSchema",
)
SUBSCHEMA_LIST_KEYS = ("allOf", "anyOf", "oneOf", "prefixItems")
SUBSCHEMA_MAP_KEYS = ("properties", "patternProperties", "dependentSchemas", "$defs")
# Subschemas that only add constraints to their parent, so they need not restate openness.
OVERLAY_KEYS = ("not", "if", "then", "else")
BOOLEAN_SCHEMA_KEYS = ("additionalProperties", "unevaluatedProperties")
BOUNDS = (
    ("minimum", "maximum"),
    ("minLength", "maxLength"),
    ("minItems", "maxItems"),
    ("minProperties", "maxProperties"),
)
# A seed, DOMAIN.md, or OpenAI's published OpenAPI document at a named commit (openai.yaml).
SOURCE_RE = re.compile(
    r"^(\d{3}_[0-9a-f]{16}\.txt|DOMAIN\.md|openai/openai-openapi@[0-9a-f]{7,40} openapi\.yaml) § \S"
)
DERIVATION_RE = re.compile(r"\d{3}_[0-9a-f]{16}\.txt|DOMAIN\.md")
JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}
GENERATION = settings(
    max_examples=60,
    database=None,
    deadline=None,
    derandomize=True,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)


# As the fuzzer reads them (pixelproof.fuzz.contracts): libyaml's safe loader, the same YAML for a
# tenth of the CPU of the pure-Python one, which every test of a document paid again.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def _load(path: Path) -> dict[str, Any]:
    """The document, read once per process: nine tests read each one (~39 ms a round of all
    nine), and none changes what it reads."""
    with path.open(encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=SAFE_LOADER)
    assert isinstance(document, dict), f"{path.name}: not a mapping"
    return document


def _resolve(document: dict[str, Any], node: Any) -> Any:
    """Follow local `$ref`s (documents are self-contained, so only `#/...` refs are legal)."""
    seen: set[str] = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert isinstance(ref, str), f"non-string $ref {ref!r}"
        assert ref.startswith("#/"), f"non-local $ref {ref!r}"
        assert ref not in seen, f"$ref cycle through {ref}"
        seen.add(ref)
        node = document
        for part in ref[2:].split("/"):
            key = part.replace("~1", "/").replace("~0", "~")
            assert isinstance(node, dict), f"{ref}: cannot descend into {key!r}"
            assert key in node, f"{ref}: {key!r} not found"
            node = node[key]
    return node


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document.get("paths", {}).items():
        for method in HTTP_METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item[method]


def _json_type_ok(value: Any, declared: str | list[str]) -> bool:
    names = [declared] if isinstance(declared, str) else declared
    for name in names:
        if name in {"integer", "number"} and isinstance(value, bool):
            continue
        if isinstance(value, JSON_TYPES[name]):
            return True
    return False


def _satisfiability_problems(schema: dict[str, Any], where: str) -> Iterator[str]:
    """Contradictions a lenient generator would quietly route around."""
    for low, high in BOUNDS:
        if low in schema and high in schema and schema[low] > schema[high]:
            yield f"{where}: {low} {schema[low]} > {high} {schema[high]}"
    if schema.get("additionalProperties") is False:
        unknown = set(schema.get("required", [])) - set(schema.get("properties", {}))
        if unknown:
            yield f"{where}: closed object requires undeclared {sorted(unknown)}"
    if "pattern" in schema:
        try:
            re.compile(schema["pattern"])
        except re.error as exc:
            yield f"{where}: pattern does not compile ({exc})"


def _schema_problems(schema: Any, where: str, *, overlay: bool = False) -> Iterator[str]:
    """Everything wrong with one schema and its subschemas, each with its location."""
    if isinstance(schema, bool):
        yield f"{where}: boolean schema {schema} (only allowed as additionalProperties)"
        return
    if not isinstance(schema, dict):
        yield f"{where}: schema is {type(schema).__name__}, not a mapping"
        return
    if not any(key in schema for key in TYPING_KEYWORDS):
        yield f"{where}: untyped schema (no type/oneOf/anyOf/allOf/$ref/const/enum): {schema!r}"
    declared = schema.get("type")
    if declared is not None:
        for value in [*schema.get("enum", []), *([schema["const"]] if "const" in schema else [])]:
            if not _json_type_ok(value, declared):
                yield f"{where}: enum/const value {value!r} is not of type {declared}"
    if "properties" in schema and "additionalProperties" not in schema and not overlay:
        yield f"{where}: object with properties must declare additionalProperties"
    yield from _satisfiability_problems(schema, where)
    for key in SUBSCHEMA_KEYS:
        if key not in schema:
            continue
        if key in BOOLEAN_SCHEMA_KEYS and isinstance(schema[key], bool):
            continue
        yield from _schema_problems(schema[key], f"{where}/{key}", overlay=key in OVERLAY_KEYS)
    has_properties = "properties" in schema
    for key in SUBSCHEMA_LIST_KEYS:
        for index, sub in enumerate(schema.get(key, [])):
            yield from _schema_problems(sub, f"{where}/{key}/{index}", overlay=has_properties)
    for key in SUBSCHEMA_MAP_KEYS:
        for name, sub in schema.get(key, {}).items():
            yield from _schema_problems(sub, f"{where}/{key}/{name}")


def _document_schemas(document: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Every schema the document declares: components, parameters, bodies, responses."""
    for name, schema in document.get("components", {}).get("schemas", {}).items():
        yield f"#/components/schemas/{name}", schema
    for label, operation in _operations(document):
        for index, parameter in enumerate(operation.get("parameters", [])):
            parameter = _resolve(document, parameter)
            yield f"{label} parameter {index}", parameter.get("schema")
        body = _resolve(document, operation.get("requestBody", {}))
        for media_type, media in body.get("content", {}).items():
            yield f"{label} request {media_type}", media.get("schema")
        for status, response in operation.get("responses", {}).items():
            response = _resolve(document, response)
            for media_type, media in response.get("content", {}).items():
                yield f"{label} {status} {media_type}", media.get("schema")


def _walk(node: Any, where: str = "#") -> Iterator[tuple[str, Any, Any]]:
    """(location, key, value) for every mapping entry in the document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield where, key, value
            yield from _walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{where}/{index}")


def _schema_at_pointer(document: dict[str, Any], schema: Any, pointer: str) -> Any:
    for part in pointer.strip("/").split("/"):
        schema = _resolve(document, schema)
        if part.isdigit() and schema.get("type") == "array":
            schema = schema["items"]
        else:
            properties = schema.get("properties", {})
            assert part in properties, f"pointer {pointer!r}: no property {part!r}"
            schema = properties[part]
    return _resolve(document, schema)


def _as_json(value: Any) -> Any:
    """Generated multipart bodies hold file objects; validate them as the strings they document."""
    if isinstance(value, dict):
        return {key: _as_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_json(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return "<file>"


# (document's id, label, media type) -> its validator. The documents are _load's, kept for the
# process, so an id is never reused for another.
VALIDATORS: dict[tuple[int, str, str], Draft202012Validator] = {}


def _body_validator(document: dict[str, Any], label: str, media_type: str) -> Draft202012Validator:
    """One validator per request body, kept: it was built again for each generated case."""
    key = (id(document), label, media_type)
    if key not in VALIDATORS:
        operation = dict(_operations(document))[label]
        schema = _resolve(document, operation["requestBody"])["content"][media_type]["schema"]
        # Local refs resolve against the root, so give the body schema the document's components.
        VALIDATORS[key] = Draft202012Validator({**schema, "components": document["components"]})
    return VALIDATORS[key]


# What an operation says about itself, not about the requests it takes.
DESCRIPTIVE_KEYS = {"operationId", "summary", "description", "tags", "externalDocs"}


def _request_definition(document: dict[str, Any], method: str, path: str) -> str:
    """Everything of an operation that a drawn case can depend on (its parameters and the
    path's, its body, its security, its answers), as canonical text: descriptive fields and
    this project's annotations (x-pixelproof-*) are left out, and so is the path itself, which
    is not drawn. Two operations with the same text here draw the same cases."""
    item = document["paths"][path]
    operation = item[method.lower()]
    kept = {k: v for k, v in operation.items()
            if k not in DESCRIPTIVE_KEYS and not k.startswith("x-pixelproof-")}  # fmt: skip
    return json.dumps({"method": method.lower(), "operation": kept,
                       "path parameters": item.get("parameters")}, sort_keys=True)  # fmt: skip


def _naming_the_alike(problems: set[str], alike: dict[str, list[str]]) -> list[str]:
    """Each problem ("METHOD /path media type: message"), naming the operations defined like
    its own, which the same case stands for."""
    also = {labels[0]: labels[1:] for labels in alike.values() if len(labels) > 1}
    named = []
    for problem in sorted(problems):
        label = " ".join(problem.split(" ", 2)[:2])
        named.append(f"{problem} (also {', '.join(also[label])})" if label in also else problem)
    return named


@pytest.fixture(params=DOCUMENTS, ids=[path.stem for path in DOCUMENTS])
def contract(request: pytest.FixtureRequest) -> Path:
    return request.param


def test_document_set_is_complete() -> None:
    present = {
        path.name for path in OPENAPI_DIR.iterdir() if path.suffix in {".yaml", ".yml", ".json"}
    }
    assert present == {f"{name}.yaml" for name in EXPECTED}


def test_valid_openapi_31(contract: Path) -> None:
    # imported here, not at collection: every xdist worker collects this file, few run these
    from openapi_spec_validator import OpenAPIV31SpecValidator, validate

    document = _load(contract)
    assert document.get("openapi") == "3.1.0"
    validate(document, cls=OpenAPIV31SpecValidator)


def test_info_names_its_sources(contract: Path) -> None:
    info = _load(contract)["info"]
    assert info.get("title")
    assert info.get("version") == "1"
    assert DERIVATION_RE.search(info.get("description", "")), "description names no seed/DOMAIN"


def test_keys_are_strings_and_sources_are_cited(contract: Path) -> None:
    document = _load(contract)
    problems = []
    for where, key, value in _walk(document):
        if not isinstance(key, str):
            problems.append(f"{where}: non-string key {key!r} (YAML 1.1 coercion?)")
        elif key == "x-pixelproof-source" and not SOURCE_RE.match(str(value)):
            problems.append(f"{where}: x-pixelproof-source {value!r} is not '<source> § <section>'")
        elif key == "x-pixelproof-inferred" and not (isinstance(value, str) and value.strip()):
            problems.append(f"{where}: x-pixelproof-inferred needs a reason")
    assert not problems, "\n".join(problems)


def test_every_schema_is_typed(contract: Path) -> None:
    document = _load(contract)
    problems = []
    for where, schema in _document_schemas(document):
        if schema is None:
            problems.append(f"{where}: no schema")
        else:
            problems.extend(_schema_problems(schema, where))
    assert not problems, "\n".join(problems)


def test_every_operation_documents_json_client_errors(contract: Path) -> None:
    document = _load(contract)
    operations = list(_operations(document))
    assert operations, "document has no operations"
    for label, operation in operations:
        client_errors = [
            _resolve(document, response)
            for status, response in operation.get("responses", {}).items()
            if str(status).startswith("4")
        ]
        with_json = [
            response
            for response in client_errors
            if "schema" in response.get("content", {}).get("application/json", {})
        ]
        assert with_json, f"{label}: no 4xx response with an application/json schema"


def test_security_is_declared(contract: Path) -> None:
    document = _load(contract)
    schemes = document.get("components", {}).get("securitySchemes", {})
    assert schemes.get("bearer", {}).get("type") == "http"
    assert schemes["bearer"].get("scheme") == "bearer"
    security = document.get("security")
    assert security, "no top-level security"
    assert {"bearer": []} in security
    for requirement in security:
        assert set(requirement) <= set(schemes), f"unknown scheme in {requirement}"
    for label, operation in _operations(document):
        assert operation.get("security", security), f"{label}: security switched off"


def test_links_point_at_real_operations(contract: Path) -> None:
    document = _load(contract)
    by_id = {op.get("operationId"): op for _, op in _operations(document)}
    for label, operation in _operations(document):
        for status, response in operation.get("responses", {}).items():
            response = _resolve(document, response)
            for name, link in response.get("links", {}).items():
                target = by_id.get(link.get("operationId"))
                assert target is not None, f"{label} {status} link {name}: unknown operationId"
                names = {_resolve(document, p)["name"] for p in target.get("parameters", [])}
                for parameter, expression in link.get("parameters", {}).items():
                    assert parameter in names, f"link {name}: {parameter!r} not a parameter"
                    assert expression.startswith("$response.body#/"), expression
                    schema = response["content"]["application/json"]["schema"]
                    pointer = expression.removeprefix("$response.body#")
                    _schema_at_pointer(document, schema, pointer)


def test_schemathesis_generates_every_operation(contract: Path) -> None:
    schema = schemathesis.openapi.from_path(contract)
    schema.validate()
    results = list(schema.get_all_operations())
    assert results, "schemathesis found no operations"
    for result in results:
        assert isinstance(result, Ok), f"schemathesis could not load an operation: {result!r}"
        operation = result.ok()
        strategy = operation.as_strategy()
        media_types = [body.media_type for body in operation.body] or [None]
        for media_type in media_types:
            with pinned_generation():  # no constants from whichever local modules are loaded yet
                case = find(
                    strategy, lambda c, mt=media_type: c.media_type == mt, settings=GENERATION
                )
            assert case.operation.label == operation.label
            for parameter in operation.path_parameters:
                assert parameter.name in (case.path_parameters or {}), parameter.name
            if media_type is not None:
                assert case.body is not None, f"{operation.label}: no {media_type} body"


def _body_problem(document: dict[str, Any], case: Any) -> str | None:
    if case.media_type is None:
        return None
    label = f"{case.operation.method.upper()} {case.operation.path}"
    validator = _body_validator(document, label, case.media_type)
    error = next(iter(validator.iter_errors(_as_json(case.body))), None)
    return None if error is None else f"{label} {case.media_type}: {error.message[:200]}"


def test_generated_bodies_match_the_contract(contract: Path) -> None:
    """Schemathesis fills gaps leniently, so an unsatisfiable schema would still yield cases.
    60 per operation with a body, drawn with the fuzzer's kept strategies (fuzz/reuse.py): the
    cases fresh strategies draw (test_fuzz_reuse), without validating a strategy per draw.
    Operations defined alike (unified's legacy alias POST /v1/edits of POST /v1/images/edits)
    are drawn for once: derandomize seeds every ``check`` alike (from its source, kept as it
    was), so the same definition drew the very same 60 cases again."""
    document = _load(contract)
    problems: set[str] = set()
    alike: dict[str, list[str]] = {}  # request definition -> labels
    with reused_strategies(), pinned_generation():
        for result in schemathesis.openapi.from_path(contract).get_all_operations():
            if not result.ok().body:
                continue
            operation = result.ok()
            labels = alike.setdefault(
                _request_definition(document, operation.method, operation.path), []
            )
            labels.append(operation.label)
            if len(labels) > 1:
                continue  # the very cases drawn for labels[0]: same definition, same seed

            @settings(GENERATION, max_examples=60)
            @given(result.ok().as_strategy())
            def check(case: Any) -> None:
                problem = _body_problem(document, case)
                if problem is not None:
                    problems.add(problem)

            check()
    assert not problems, "\n".join(_naming_the_alike(problems, alike)[:10])


def test_only_operations_defined_alike_share_their_generated_bodies() -> None:
    """The key test_generated_bodies draws once per: unified's alias matches its original (path
    text, names and citations aside), and any difference in what a case is drawn from (a
    parameter, the body, security, the method) makes another key."""
    unified = _load(OPENAPI_DIR / "unified.yaml")
    original = _request_definition(unified, "POST", "/v1/images/edits")
    assert _request_definition(unified, "POST", "/v1/edits") == original
    edits = unified["paths"]["/v1/images/edits"]["post"]
    changed = {
        "parameter": {"parameters": [{"name": "n", "in": "query", "schema": {"type": "integer"}}]},
        "body": {"requestBody": {**edits["requestBody"], "required": False}},
        "security": {"security": []},
    }
    for what, change in changed.items():
        document = {"paths": {"/x": {"post": {**edits, **change}}}}
        assert _request_definition(document, "POST", "/x") != original, what
    path_level = {"/x": {"post": edits, "parameters": changed["parameter"]["parameters"]}}
    assert _request_definition({"paths": path_level}, "POST", "/x") != original
    assert _request_definition({"paths": {"/x": {"put": edits}}}, "PUT", "/x") != original
    renamed = {**edits, "operationId": "other", "summary": "other", "x-pixelproof-source": "x"}
    assert _request_definition({"paths": {"/y": {"post": renamed}}}, "POST", "/y") == original


@pytest.mark.parametrize("name", sorted(LINKED))
def test_schemathesis_follows_task_links(name: str) -> None:
    """The submit answer links to the task query, so the stateful phase can poll real tasks."""
    path = OPENAPI_DIR / f"{name}.yaml"
    document = _load(path)
    sources = [
        f"{label} -> {status}"
        for label, operation in _operations(document)
        for status, response in operation.get("responses", {}).items()
        if _resolve(document, response).get("links")
    ]
    assert sources, f"{name}: no links declared"
    state_machine = schemathesis.openapi.from_path(path).as_state_machine()
    assert set(sources) <= set(state_machine.bundles), sorted(state_machine.bundles)


def test_unified_size_takes_the_jimeng_spelling_and_tasks_action_the_documented_resolutions() -> (
    None
):
    """Seed 000 writes Jimeng sizes `1024*1024`; seed 002 spells resolutions 1k / 2k / 4k."""
    unified = _load(contracts_dir() / "openapi" / "unified.yaml")
    size = Draft202012Validator(unified["components"]["schemas"]["Size"])
    assert size.is_valid("1024*1024")
    assert size.is_valid("1536x1024")
    assert not size.is_valid("1024-1024")
    action = _load(contracts_dir() / "openapi" / "tasks-action.yaml")
    enum = _resolve(action, action["components"]["schemas"])
    found = [
        s["properties"]["resolution"]["enum"]
        for s in enum.values()
        if "resolution" in (s.get("properties") or {})
    ]
    assert found
    assert all(e == ["1k", "2k", "4k"] for e in found)
