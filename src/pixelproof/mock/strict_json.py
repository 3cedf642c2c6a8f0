"""Strict JSON for request bodies: RFC 8259 as written (no NaN/Infinity, finite numbers, valid
Unicode, sane depth), or a 400 naming what was wrong, so malformed input never becomes a 500.
orjson reads a body where its value is exactly the standard decoder's; anything else takes the
standard path, which decides it and words its error."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from pixelproof.mock.errors import ApiError
from pixelproof.mock.jsonresp import orjson


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def _check_text(value: Any) -> None:
    """Strings must be valid Unicode (a lone surrogate cannot be encoded back out)."""
    if isinstance(value, str):
        _ = value.isascii() or value.encode("utf-8")  # isascii is O(1): no 41 MB copy for base64
    elif isinstance(value, list):
        for item in value:
            _check_text(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            key.encode("utf-8")
            _check_text(item)


def _text(body: bytes | bytearray | str) -> str:
    """Bytes decoded as json.loads decodes them; a bytearray is emptied in place once decoded,
    so a big body is not held twice (its caller still refers to the buffer)."""
    if isinstance(body, str):
        return body
    text = body.decode(json.detect_encoding(body), "surrogatepass")
    if isinstance(body, bytearray):
        body.clear()
    return text


_DECODER = json.JSONDecoder(parse_constant=_not_json, parse_float=_finite)
_SLOW = object()


FAST_DEPTH = 200  # deeper values take the standard path, which decides "nested too deep"


def _flat_plain(value: Any) -> bool:
    """``_plain``'s answer for the usual request body, an object whose values are strings,
    integers, booleans or null (one level, no float): read off its values' types in one pass,
    cheaper than the text scan or the walk. False means "not settled here", not "not plain"."""
    if type(value) is not dict:
        return False
    for item in value.values():
        kind = type(item)
        if kind is not str and kind is not int and kind is not bool and item is not None:
            return False
    return True


def _plain(value: Any) -> bool:
    """No float anywhere and at most FAST_DEPTH levels deep (walked without recursion)."""
    todo = [(value, 0)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, float) or depth > FAST_DEPTH:
            return False
        if isinstance(item, dict):
            todo.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            todo.extend((v, depth + 1) for v in item)
    return True


# a digit before a fraction or an exponent, or an integer of 19 digits or more: where JSON text
# can hold a float or an integer orjson would read as one (strings that look so only cost a walk)
_FLOATISH = re.compile(rb"[0-9][.eE]|[0-9]{19}")
PLAIN_TEXT_BYTES = 64 * 1024  # longer bodies are walked: scanning them could cost more


def _plain_text(body: bytes | bytearray) -> bool:
    """``_plain``'s answer read off the text, where the text settles it: no float can be in a
    value whose text has no digit before ``.``, ``e`` or ``E`` and no 19-digit run, and no value
    nests deeper than the text has ``[`` and ``{``. False means "walk it", not "not plain"."""
    return (
        len(body) <= PLAIN_TEXT_BYTES
        and body.count(b"[") + body.count(b"{") <= FAST_DEPTH
        and _FLOATISH.search(body) is None
    )


def _fast_json(body: bytes | bytearray | str) -> Any:
    """orjson's parse where it is exactly the standard path's value: valid UTF-8 JSON without a
    float anywhere (orjson reads an integer past 64 bits as a float) and not deep (orjson goes
    to 1024 levels, where the standard path's recursion stops near 1000). Anything else, malformed
    input included, is ``_SLOW``: the standard path decides it and words its error."""
    if orjson is None or isinstance(body, str):
        return _SLOW
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _SLOW
    if not _flat_plain(value) and not _plain_text(body) and not _plain(value):
        return _SLOW
    if isinstance(body, bytearray):
        body.clear()  # as ``_text`` does: a big body is not held twice
    return value


def strict_json(body: bytes | bytearray | str) -> Any:
    """JSON as RFC 8259 has it (no NaN/Infinity, finite numbers, valid Unicode, sane depth), or
    a 400 naming what was wrong: malformed input never becomes a 500."""
    value = _fast_json(body)
    if value is not _SLOW:
        return value
    try:
        text = _text(body)
        if text.startswith("\ufeff"):  # json.loads' own check, worded as it words it
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        value = _DECODER.decode(text)
        _check_text(value)
    except RecursionError:
        raise ApiError(400, "malformed JSON body: nested too deep", code="invalid_json") from None
    except UnicodeError:
        message = "malformed JSON body: invalid Unicode (a lone surrogate?)"
        raise ApiError(400, message, code="invalid_json") from None
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, huge numbers, over-long integers
        raise ApiError(400, f"malformed JSON body: {exc}"[:300], code="invalid_json") from None
    return value
