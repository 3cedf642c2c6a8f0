"""Verdicts on the shape of an answer: the fields a vendor documents in its image response.

Kept apart from verdicts.py (one module a concern): the vendor rule sets judge ImagesResponse's
``created``/``data``/``usage`` and Ark's ``model``/``size`` with this one kind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pixelproof.judging.failures import check
from pixelproof.judging.steps import accepted_images
from pixelproof.surfaces.openai import items as openai_items

if TYPE_CHECKING:
    from pixelproof.judging.evidence import Evidence

JSON_TYPES: dict[str, tuple[type, ...]] = {
    "integer": (int,),
    "number": (int, float),
    "string": (str,),
    "array": (list,),
    "object": (dict,),
    "boolean": (bool,),
}


def _type_of(value: Any) -> str:
    if value is None:
        return "absent"
    for name, types in JSON_TYPES.items():
        if isinstance(value, types) and not (isinstance(value, bool) and name != "boolean"):
            return name
    return type(value).__name__


def _problems(body: dict[str, Any], fields: dict[str, str], where: str) -> list[str]:
    out = []
    for name, want in fields.items():
        got = _type_of(body.get(name))
        if got != want and not (want == "number" and got == "integer"):
            out.append(f"{where}{name}: {got} (want {want})")
    return out


def response_shape(j: Evidence) -> None:
    """The answer carries each documented field with its documented JSON type."""
    accepted_images(j)
    body = j.obs.final.json() if j.obs.final else None
    body = body if isinstance(body, dict) else {}
    expect = j.rule.expect
    problems = _problems(body, expect.get("fields", {}), "")
    for i, item in enumerate(openai_items(body) or []):
        problems += _problems(item, expect.get("item_fields", {}), f"data[{i}].")
    wanted = {
        **expect.get("fields", {}),
        **{f"data[].{k}": v for k, v in expect.get("item_fields", {}).items()},
    }
    check(not problems, j.case, ", ".join(f"{k}: {v}" for k, v in wanted.items()),
          "; ".join(problems), j.obs.final)  # fmt: skip
