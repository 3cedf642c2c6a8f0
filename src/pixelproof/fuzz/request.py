"""A generated request as pixelproof reads it, and where it breaks the contract.

The oracle asks two questions of every request the fuzzer sends: which fields violate the
contract (``violations``), and does it stay inside the documented positive subset
(``within``). Both validate what goes on the wire: multipart files as ``<file>``, path and query
values as the strings they become.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator, validators

if TYPE_CHECKING:
    from pixelproof.fuzz.contracts import Doc

RATIO_FIELDS = {
    "unified": (),
    "tasks-action": (),
    "tasks-official": ("params",),
    "gemini": ("generationConfig", "imageConfig"),
    "jimeng-official": (),
}


@dataclass(frozen=True)
class Violation:
    field: str  # dotted instance path without list indexes; "" for the body itself
    validator: str  # the JSON Schema keyword that failed
    message: str
    null: bool = False  # a null where the schema wants a value (many read it as "omitted")


def as_wire(value: Any) -> Any:
    """Files become the strings the contract types them as; everything else stays JSON."""
    if isinstance(value, dict):
        return {str(k): as_wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [as_wire(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return "<file>"


@dataclass
class Request:
    """What one case sends, normalized for judging (bodies are dicts where they can be)."""

    surface: str
    label: str  # "POST /v1/images/generations"
    body: Any = None
    has_body: bool = False
    media_type: str | None = None
    query: dict[str, Any] = field(default_factory=dict)
    path: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, surface: str, case: Any) -> Request:
        from schemathesis.core import NotSet

        body = case.body
        has_body = not isinstance(body, NotSet)
        body = getattr(body, "body", body)  # multipart bodies carrying their parts' content types
        if isinstance(body, dict):
            body = {k: getattr(v, "data", v) for k, v in body.items()}
        return cls(surface, f"{case.method.upper()} {case.operation.path}", body if has_body else None,
                   has_body, case.media_type, dict(case.query or {}), dict(case.path_parameters or {}))  # fmt: skip

    @property
    def json(self) -> dict[str, Any]:
        return self.body if isinstance(self.body, dict) else {}

    @property
    def model(self) -> Any:
        if self.surface == "gemini":
            return self.path.get("model")
        return self.json.get("req_key" if self.surface == "jimeng-official" else "model")

    @property
    def fields(self) -> dict[str, Any]:
        """The object rule requests are written against (``params``, ``imageConfig``, the body)."""
        view: Any = self.json
        for key in RATIO_FIELDS[self.surface]:
            view = view.get(key) if isinstance(view, dict) else None
        return view if isinstance(view, dict) else {}


def resolve_ref(doc: Doc, node: Any) -> Any:
    """Follow local $refs until a schema."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = doc
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def _whole(checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


# JSON Schema counts 2.0 as an integer; a documented request sends 2. The positive subset uses
# this stricter reading, so a float-valued integer is never a request the target must accept.
StrictValidator = validators.extend(
    Draft202012Validator, type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _whole)
)


class Contract:
    """Validators for every operation of one document (the contract or its positive subset).

    A validator is built once per schema node and kept: a fresh one per request re-resolved every
    ``$ref`` of the document (about a third of the oracle's cost per fuzz case)."""

    def __init__(self, doc: Doc, strict: bool = False) -> None:
        self.doc, self.strict = doc, strict
        self.validators: dict[int, tuple[Any, Draft202012Validator]] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        for path, item in doc["paths"].items():
            for method, op in item.items():
                if isinstance(op, dict):
                    self.operations[f"{method.upper()} {path}"] = op

    def validator(self, schema: Any) -> Draft202012Validator:
        """The validator of one schema node of this document (kept with the node, so its id is
        never reused by another object while cached)."""
        kept = self.validators.get(id(schema))
        if kept is None:
            cls = StrictValidator if self.strict else Draft202012Validator
            kept = (schema, cls({**schema, "components": self.doc["components"]}))
            self.validators[id(schema)] = kept
        return kept[1]

    def body_schema(self, request: Request) -> Any:
        op = self.operations[request.label]
        body = resolve_ref(self.doc, op.get("requestBody", {}))
        media = body.get("content", {}).get(request.media_type or "", {})
        schema = resolve_ref(self.doc, media.get("schema"))
        if request.surface == "jimeng-official" and isinstance(schema, dict) and "oneOf" in schema:
            # the Action query parameter selects the body (the contract's own description)
            getting = request.query.get("Action") == "CVSync2AsyncGetResult"
            schema = resolve_ref(self.doc, schema["oneOf"][1 if getting else 0])
        return schema

    def violations(self, request: Request) -> list[Violation]:
        out: list[Violation] = []
        op = self.operations[request.label]
        for param in op.get("parameters", []):
            param = resolve_ref(self.doc, param)
            where = {"query": request.query, "path": request.path}.get(param["in"])
            if where is None:
                continue
            name = f"{param['in']}.{param['name']}"
            if param["name"] not in where:
                if param.get("required"):
                    out.append(Violation(name, "required", f"{name} is missing"))
                continue
            value = where[param["name"]]
            value = (
                value
                if isinstance(value, str)
                else str(value).lower()
                if isinstance(value, bool)
                else str(value)
            )
            for error in self.validator(param["schema"]).iter_errors(value):
                out.append(Violation(name, str(error.validator), f"{name}: {error.message[:160]}"))
        out += self._body_violations(request)
        return out

    def _body_violations(self, request: Request) -> list[Violation]:
        op = self.operations[request.label]
        if "requestBody" not in op:
            return []
        if not request.has_body:
            return [Violation("", "required", "the request has no body")]
        schema = self.body_schema(request)
        if schema is None:
            return [Violation("", "content", f"media type {request.media_type} is not documented")]
        if isinstance(request.body, bytes | bytearray):
            return [Violation("", "type", "the body is not a JSON document")]
        out = []
        for error in self.validator(schema).iter_errors(as_wire(request.body)):
            parts = [str(p) for p in error.absolute_path if not isinstance(p, int)]
            if error.validator == "required":
                missing = [n for n in error.validator_value if n not in (error.instance or {})]
                parts += missing[:1]
            null = error.validator == "type" and error.instance is None and bool(parts)
            out.append(Violation(".".join(parts), str(error.validator), error.message[:200], null))
        return out

    def within(self, request: Request) -> bool:
        """True when the request validates (the positive subset's question)."""
        return not self.violations(request)
