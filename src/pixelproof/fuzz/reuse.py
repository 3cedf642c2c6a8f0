"""Strategies schemathesis builds anew on every draw, built once per fuzz target instead.

Hypothesis validates each new strategy and works out whether it can be empty by walking its
children, so a strategy built per draw costs far more than drawing from it. Two of schemathesis'
builders do that on every generated case (py-spy of bench/bench_fuzz.py, bench/README.md):

* its JSON Schema builder makes a ``fixed_dictionaries`` per drawn object (the required keys plus
  the optional ones picked this time);
* a form body whose parts have an ``encoding.contentType`` (multipart edits and variations: the
  image parts) gets its whole body strategy built again, from the schema, on every draw.

The same keys in the same order over the same value strategies, or the same form over the same
operation, mode and generation settings, give an equivalent strategy: it draws the same values
from the same choices (bench_fuzz's digest of every case sent is unchanged), so the first one
built is drawn from again. Only inside ``reused_strategies()``, which a target's run enters: the
builders see the stand-ins there and the originals everywhere else, and what was kept goes at the
end (a target's operations are its own, so nothing kept could serve the next one).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from hypothesis import strategies as st
from schemathesis.generation.jsonschema import strategy as builder
from schemathesis.specs.openapi import _hypothesis as cases


class _Strategies:
    """``hypothesis.strategies`` as the JSON Schema builder sees it: ``fixed_dictionaries`` kept
    per (key, value strategy) sequence, everything else passed through."""

    def __init__(self) -> None:
        self.kept: dict[tuple[Any, ...], tuple[list[Any], Any]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(st, name)

    def fixed_dictionaries(self, mapping: Any, *, optional: Any = None) -> Any:
        if optional is not None or type(mapping) is not dict:
            return st.fixed_dictionaries(mapping, optional=optional)
        key = tuple((name, id(value)) for name, value in mapping.items())
        hit = self.kept.get(key)
        if hit is None:
            # the entry holds the values, so no id in a key can be reused while it is kept
            hit = self.kept[key] = (list(mapping.values()), st.fixed_dictionaries(mapping))
        return hit[1]


class _FormBodies:
    """schemathesis' form body builder, its answers kept per (body, operation, mode, constants
    source, generation settings); settings are compared by value (a new object per draw)."""

    def __init__(self, build: Callable[..., Any]) -> None:
        self.build = build
        self.kept: dict[tuple[int, int, Any, int], list[tuple[Any, Any, tuple[Any, ...]]]] = {}

    def __call__(self, parameter: Any, operation: Any, generation_config: Any,
                 generation_mode: Any, constants_value_source: Any = None) -> Any:  # fmt: skip
        key = (id(parameter), id(operation), generation_mode, id(constants_value_source))
        entries = self.kept.setdefault(key, [])
        for config, strategy, _ in entries:
            if config == generation_config:
                return strategy
        strategy = self.build(parameter, operation, generation_config, generation_mode,
                              constants_value_source)  # fmt: skip
        entries.append(
            (generation_config, strategy, (parameter, operation, constants_value_source))
        )
        return strategy


@contextlib.contextmanager
def reused_strategies() -> Iterator[None]:
    saved = builder.st, cases._build_form_strategy_with_encoding
    builder.st = _Strategies()
    cases._build_form_strategy_with_encoding = _FormBodies(saved[1])
    try:
        yield
    finally:
        builder.st, cases._build_form_strategy_with_encoding = saved
