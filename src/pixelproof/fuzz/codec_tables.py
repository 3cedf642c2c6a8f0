"""Hypothesis' table of the characters a codec encodes, worked out in one pass, not 1.1M.

schemathesis draws its strings from ``st.characters(codec="utf-8")`` (and ``"ascii"`` for
header values). The first draw in a process asks Hypothesis which code points the codec encodes
and which of those do not round-trip (``charmap.intervals_from_codec``). Hypothesis reads that
from ``.hypothesis/unicode_data/`` under the current directory, and when the file is not there
(the first run in a checkout, on a CI runner, in a new directory) it encodes and decodes each of
the 1,114,112 code points one at a time: ~2 CPU-s, more than any fuzz target, paid by every
process that fuzzes before one of them has written the file.

For these two codecs a string encodes exactly when each of its characters does (each character
is encoded on its own, nothing carried between them), so one ``encode`` of every code point with
an error handler that records what it skips finds the same set, and one ``decode`` checks that
everything kept round-trips. The result is Hypothesis' own: the same intervals, normalised the
same way, written to the same file in Hypothesis' format so that later processes just read it.
Any other codec, or a check that does not hold, is left to Hypothesis' own loop.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import gzip
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

from hypothesis.configuration import storage_directory
from hypothesis.internal import charmap
from hypothesis.internal.intervalsets import IntervalSet

ONE_PASS = ("utf-8", "ascii")  # codecs that encode character by character
_HANDLER = "pixelproof-record-unencodable"
_skipped: list[tuple[int, int]] = []


def _record(exc: UnicodeError) -> tuple[str, int]:
    assert isinstance(exc, UnicodeEncodeError)
    _skipped.append((exc.start, exc.end))
    return "", exc.end


codecs.register_error(_HANDLER, _record)


def one_pass(codec: str, top: int = sys.maxunicode + 1) -> tuple[IntervalSet, IntervalSet] | None:
    """(encodable, encodable but not round-tripping) among code points below ``top``, as
    Hypothesis' ``intervals_from_codec`` computes them; None when the round trip check fails."""
    text = "".join(map(chr, range(top)))
    _skipped.clear()
    encoded = text.encode(codec, errors=_HANDLER)
    encodable, start = [], 0
    for skip_from, skip_to in sorted(_skipped):
        if skip_from > start:
            encodable.append((start, skip_from - 1))
        start = max(start, skip_to)
    if start < top:
        encodable.append((start, top - 1))
    _skipped.clear()
    if encoded.decode(codec) != "".join(text[a : b + 1] for a, b in encodable):
        return None
    res = IntervalSet(encodable)
    none = IntervalSet([])
    return res.union(res), none.union(none)


def _save(codec: str, tables: tuple[IntervalSet, IntervalSet]) -> None:
    """Written as Hypothesis writes it (its storage directory made as it makes it, with its
    ``.gitignore``; a file renamed into place), so its next read finds it; best effort, as there."""
    with contextlib.suppress(Exception):
        scratch = storage_directory("tmp")
        scratch.create_if_missing()
        fd, tmp = tempfile.mkstemp(dir=scratch.path)
        os.close(fd)
        with gzip.GzipFile(tmp, "wb", mtime=1) as handle:
            handle.write(json.dumps([tables[0].intervals, tables[1].intervals]).encode())
        os.renames(tmp, charmap.charmap_file(f"codec-v2-{codec}"))


def with_one_pass(original: Callable[[str], Any]) -> Callable[[str], Any]:
    """``intervals_from_codec`` answering from ``one_pass`` where no table file exists yet (and
    writing one), from ``original`` (Hypothesis' own) everywhere else."""

    @functools.cache
    def intervals_from_codec(codec_name: str) -> Any:
        if codec_name not in ONE_PASS or charmap.charmap_file(f"codec-v2-{codec_name}").exists():
            return original(codec_name)
        tables = one_pass(codec_name)
        if tables is None:
            return original(codec_name)
        _save(codec_name, tables)
        return tables

    return intervals_from_codec


_ORIGINAL = charmap.intervals_from_codec
_FAST = with_one_pass(_ORIGINAL)


@contextlib.contextmanager
def one_pass_codec_tables() -> Iterator[None]:
    """Hypothesis asks ``one_pass`` for the two codecs' tables inside this block."""
    saved = charmap.intervals_from_codec
    charmap.intervals_from_codec = _FAST
    try:
        yield
    finally:
        charmap.intervals_from_codec = saved
