"""Cases the fuzzer sends before (or besides) schemathesis' own generation.

* Real image files for multipart parts: a media-type strategy per format, registered with
  schemathesis while a target runs, so edits carry decodable PNG/JPEG/WEBP (PNGs with transparent pixels, all the
  same size, so any of them is also a valid mask for any other).
* Anchors: one documented request per operation, built like the suites build theirs, so every
  positive run reaches the success path at least once (a shape drift in a success answer is
  then found even when the generated cases happen to be refused).
* Targeted negatives: the issue's families, derived from the contract and the rule tables, one
  change away from an anchor: rejected size/ratio rows, values outside an enum or a pattern (an
  invalid ratio, an unknown response_format), integers past their bounds (n out of range),
  arrays past maxItems (too many references), malformed base64 references.
* Required fields dropped one at a time: the anchor without exactly one field the contract
  requires (at the top level or inside a required object such as ``params``), so a check that
  one field (``model``) catches is never what hides a missing check of another (``prompt``).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import io
import random
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import schemathesis
from hypothesis import strategies as st
from PIL import Image
from schemathesis.core.media_types import MEDIA_TYPE_STRATEGIES

from pixelproof.fuzz.contracts import SurfaceSchemas, references
from pixelproof.fuzz.request import RATIO_FIELDS, resolve_ref
from pixelproof.plan import Context
from pixelproof.samples import sample_b64

if TYPE_CHECKING:
    from pixelproof.catalogue import Catalogue
    from pixelproof.target import Profile

IMAGE_SIDE = 64
ANCHOR_PROMPT = "a red cube on a wooden table"
NO_SUCH_TASK = "pixelproof-no-such-task"
MALFORMED = ("bm90IGFuIGltYWdl", "%%%not-base64%%%")  # base64 of "not an image"; not base64 at all
PRIORITY = {"aspect_ratio": 0, "ratio": 0, "aspectRatio": 0, "resolution": 1, "imageSize": 1, "size": 1,
            "n": 2, "image_urls": 3, "image": 3, "response_format": 4, "model": 8}  # fmt: skip


@functools.lru_cache(maxsize=512)
def _encode(colour: tuple[int, int, int], fmt: str, clear: int) -> bytes:
    """One image file; kept, since Hypothesis draws the same few values again and again (its
    simplest example, mutations that copy a draw) and each encode costs ~0.3-2 ms."""
    mode = "RGB" if fmt == "JPEG" else "RGBA"
    image = Image.new(mode, (IMAGE_SIDE, IMAGE_SIDE), (*colour, 255)[: len(mode)])
    if mode == "RGBA" and clear:
        image.paste((0, 0, 0, 0), (0, 0, clear, clear))
    out = io.BytesIO()
    image.save(out, fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    return out.getvalue()


def image_files(fmt: str) -> st.SearchStrategy[bytes]:
    """Decodable images of one format; PNGs always have transparent pixels (mask-ready)."""
    colour = st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255))
    clear = st.integers(8, IMAGE_SIDE // 2) if fmt == "PNG" else st.integers(0, IMAGE_SIDE // 2)
    return st.builds(_encode, colour, st.just(fmt), clear)


IMAGE_TYPES = (("image/png", "PNG"), ("image/jpeg", "JPEG"), ("image/webp", "WEBP"))


@contextlib.contextmanager
def image_media_types() -> Iterator[None]:
    """Real image files for image parts while fuzzing, and only then.

    The registry is process-wide, and schemathesis fills an *array* of files with one strategy
    value (a single file), so leaving the strategies registered would change what other
    schemathesis users in the process generate for ``image[]``-style properties.
    """
    saved = {name: MEDIA_TYPE_STRATEGIES.get(name) for name, _ in IMAGE_TYPES}
    for media_type, fmt in IMAGE_TYPES:
        schemathesis.openapi.media_type(media_type, image_files(fmt))
    try:
        yield
    finally:
        for name, previous in saved.items():
            if previous is None:
                MEDIA_TYPE_STRATEGIES.pop(name, None)
            else:
                MEDIA_TYPE_STRATEGIES[name] = previous


def anchor_png() -> bytes:
    return _encode((200, 40, 40), "PNG", 16)


# ---------------------------------------------------------------------- anchors
def _first(models: list[str], preferred: tuple[str, ...] = ()) -> str | None:
    return next((m for m in preferred if m in models), models[0] if models else None)


def anchor_prompt(surface: str, label: str) -> str:
    """The anchor's prompt, tagged like a probe's (observe.NONCE): what it makes reach an upstream
    is the harness's own, never taken for a call another request's window cannot explain. The
    same in every run (deterministic fuzzing repeats itself)."""
    digest = hashlib.sha256(f"{surface} {label}".encode()).hexdigest()
    return f"{ANCHOR_PROMPT} [pp:fuzz-{digest[:12]}-{digest[12:18]}]"


def anchor_kwargs(
    catalogue: Catalogue, profile: Profile, surface: str, label: str, run: str
) -> list[dict[str, Any]]:
    """Keyword arguments for ``APIOperation.Case``: documented requests the target must take."""
    models = profile.models(surface)
    ctx = Context(catalogue, profile)
    model = _first(models, ("gpt-image-2", "gpt-image-1", "dall-e-2"))
    if label.startswith("GET /v1/tasks/"):
        return [{"path_parameters": {"task_id": NO_SUCH_TASK}}]
    if model is None:
        return []
    body, prompt = ctx.body(surface, model, {}), anchor_prompt(surface, label)
    if surface == "tasks-official":
        body["task_id"] = f"pp-fuzz-{run}"
        body["params"]["prompt"] = prompt
    else:
        body["prompt"] = prompt
    if surface == "gemini":
        body["contents"][0]["parts"][0]["text"] = prompt
        body.pop("prompt")
        return [
            {"path_parameters": {"model": model}, "body": body, "media_type": "application/json"}
        ]
    if surface == "jimeng-official":
        return [{"query": {"Action": "CVSync2AsyncSubmitTask", "Version": "2022-08-31"},
                 "body": body, "media_type": "application/json"}]  # fmt: skip
    if label == "POST /v1/images/variations":
        form = {"image": anchor_png(), "model": _first(models, ("dall-e-2",))}
        return [{"body": form, "media_type": "multipart/form-data"}]
    if label in ("POST /v1/images/edits", "POST /v1/edits"):
        form = {"model": model, "prompt": prompt, "image": anchor_png()}
        json_edit = {**body, "image": references(profile)[-1]}
        return [{"body": form, "media_type": "multipart/form-data"},
                {"body": json_edit, "media_type": "application/json"}]  # fmt: skip
    return [{"body": body, "media_type": "application/json"}]


# ---------------------------------------------------------------------- targeted negatives


def _object_schema(doc: dict[str, Any], node: Any) -> dict[str, Any]:
    """The properties an object schema declares, following $ref and allOf."""
    node = resolve_ref(doc, node)
    props: dict[str, Any] = dict(node.get("properties", {})) if isinstance(node, dict) else {}
    for part in node.get("allOf", []) if isinstance(node, dict) else []:
        props.update(_object_schema(doc, part).get("properties", {}))
    return {"properties": props}


def _invalid(schema: dict[str, Any], refs: list[str], name: str) -> list[Any]:
    if name in ("image_urls", "image"):
        out: list[Any] = (
            [[m] for m in MALFORMED] if schema.get("type") == "array" else list(MALFORMED[:1])
        )
        if "maxItems" in schema:
            out.insert(0, [refs[-1]] * (int(schema["maxItems"]) + 1))
        return out
    if "enum" in schema or "const" in schema:
        values = [str(v) for v in schema.get("enum", [schema.get("const")])]
        if all(re.fullmatch(r"\d+:\d+|auto", v) for v in values):
            return ["7:5"]
        return ["8k" if "4k" in values else "8K" if "4K" in values else "pixelproof-unknown"]
    if schema.get("type") == "integer":
        return [schema[k] + d for k, d in (("maximum", 1), ("minimum", -1)) if k in schema]
    if schema.get("type") == "string" and "pattern" in schema:
        return ["pixelproof/invalid"]
    return []


def _set(body: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(body)
    holder = out
    for key in path[:-1]:
        holder = holder.setdefault(key, {})
    holder[path[-1]] = value
    return out


def field_mutations(
    schemas: SurfaceSchemas, label: str, anchor: dict[str, Any], refs: list[str]
) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(priority, description, body): one contract violation at a time, from the anchor."""
    doc = schemas.contract
    method, path = label.split(" ", 1)
    media = doc["paths"][path][method.lower()]["requestBody"]["content"]["application/json"]
    containers: list[tuple[str, ...]] = [()]
    nested = RATIO_FIELDS[schemas.surface]
    if nested:
        containers.append(tuple(nested))
    for container in containers:
        node: Any = media["schema"]
        for key in container:
            node = _object_schema(doc, node)["properties"].get(key, {})
        for name, prop in _object_schema(doc, node)["properties"].items():
            prop = resolve_ref(doc, prop)
            for value in _invalid(prop, refs, name):
                where = ".".join((*container, name))
                yield (
                    PRIORITY.get(name, 9),
                    f"{where} = {_short(value)}",
                    _set(anchor, (*container, name), value),
                )


def _required(doc: dict[str, Any], node: Any, holder: dict[str, Any]) -> list[str]:
    """The names an object schema requires of ``holder``, following $ref and allOf; of a oneOf
    (or anyOf), the one alternative whose required names ``holder`` all carries (the anchor's
    own shape)."""
    node = resolve_ref(doc, node)
    if not isinstance(node, dict):
        return []
    names = [str(n) for n in node.get("required", [])]
    for part in node.get("allOf", []):
        names += [n for n in _required(doc, part, holder) if n not in names]
    chosen = [
        alt
        for alt in (_required(doc, a, holder) for a in node.get("oneOf", node.get("anyOf", [])))
        if all(n in holder for n in alt)
    ]
    if len(chosen) == 1:
        names += [n for n in chosen[0] if n not in names]
    return names


def required_drops(
    schemas: SurfaceSchemas,
    label: str,
    anchor: dict[str, Any],
    media_type: str = "application/json",
) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(priority, description, body): the anchor minus exactly one required field, every field
    the contract requires in turn, inside required nested objects too (``params.prompt``); a
    multipart anchor loses one form field or file part at a time."""
    doc = schemas.contract
    method, path = label.split(" ", 1)
    media = doc["paths"][path][method.lower()]["requestBody"]["content"][media_type]
    pending: list[tuple[tuple[str, ...], Any]] = [((), media["schema"])]
    while pending:
        where, node = pending.pop(0)
        holder: Any = anchor
        for key in where:
            holder = holder.get(key) if isinstance(holder, dict) else None
        if not isinstance(holder, dict):
            continue
        props = _object_schema(doc, node)["properties"]
        for name in _required(doc, node, holder):
            if name not in holder:
                continue
            body = copy.deepcopy(anchor)
            inner = body
            for key in where:
                inner = inner[key]
            del inner[name]
            yield -2, f"required {'.'.join((*where, name))} dropped", body
            if name in props:
                pending.append(((*where, name), props[name]))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:40] + f"...({len(text)} chars)"


def rule_rejections(
    catalogue: Catalogue, profile: Profile, surface: str, anchor: dict[str, Any]
) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """The anchor with the request of each rejected size/ratio row the target claims."""
    nested = RATIO_FIELDS[surface]
    for model in profile.models(surface):
        for rule in catalogue.rules(("size", "aspect_ratio", "gemini_size"), surface, model):
            if not rule.rejected:
                continue
            body = copy.deepcopy(anchor)
            if surface not in ("gemini", "tasks-official"):
                body["model"] = model
            for key, value in rule.request.items():
                body = _set(body, (*nested, key), value)
            yield -1, f"rule {rule.id}", body


def targeted(catalogue: Catalogue, profile: Profile, schemas: SurfaceSchemas, label: str,
             anchor: dict[str, Any], rng: random.Random | None) -> list[tuple[str, dict[str, Any]]]:  # fmt: skip
    """Each required field dropped alone first, then rejected rule rows (a few, spread over
    models), then field mutations by priority.
    ``rng`` (explore mode) shuffles within each priority; deterministic mode keeps the order."""
    refs = references(profile) if profile.reference_image_url else [sample_b64("png512")]
    rules = (
        list(rule_rejections(catalogue, profile, schemas.surface, anchor))
        if label.startswith("POST")
        else []
    )
    if rng is not None:
        rng.shuffle(rules)
    picked = _spread(rules, 3)
    drops = list(required_drops(schemas, label, anchor)) if label.startswith("POST") else []
    fields = list(field_mutations(schemas, label, anchor, refs))
    if rng is not None:
        rng.shuffle(fields)
    fields.sort(key=lambda item: item[0])
    return [(desc, body) for _, desc, body in [*drops, *picked, *fields]]


def _spread(
    items: list[tuple[int, str, dict[str, Any]]], limit: int
) -> list[tuple[int, str, dict[str, Any]]]:
    """At most ``limit`` items, no two for the same model while others remain."""
    seen: set[Any] = set()
    first, rest = [], []
    for item in items:
        key = item[2].get("model", item[2].get("req_key"))
        (rest if key in seen else first).append(item)
        seen.add(key)
    return (first + rest)[:limit]
