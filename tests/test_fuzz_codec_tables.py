"""The codec tables fuzzing asks Hypothesis for, worked out in one pass (fuzz/codec_tables.py):
the same sets as Hypothesis' code point by code point loop, in the file Hypothesis reads."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import configuration
from hypothesis.internal import charmap
from hypothesis.internal.intervalsets import IntervalSet

from pixelproof.fuzz import codec_tables


def _merged(points: list[tuple[int, int]]) -> IntervalSet:
    unmerged = IntervalSet(points)
    return unmerged.union(unmerged)  # how Hypothesis merges its single code points


def _one_by_one(codec: str, top: int) -> tuple[IntervalSet, IntervalSet]:
    """Hypothesis' definition, character by character: encodable, and encodable but not
    decoding back to the same character."""
    encodable, lossy = [], []
    for point in range(top):
        char = chr(point)
        try:
            encoded = char.encode(codec)
        except UnicodeError:
            continue
        encodable.append((point, point))
        try:
            back = encoded.decode(codec) == char
        except UnicodeError:
            back = False
        if not back:
            lossy.append((point, point))
    return _merged(encodable), _merged(lossy)


@pytest.mark.parametrize(("codec", "top"), [("utf-8", 0xE100), ("ascii", 0x400)])
def test_one_pass_finds_what_encoding_each_code_point_finds(codec: str, top: int) -> None:
    # utf-8's range here spans the surrogates, the only code points it cannot encode
    encodable, lossy = _one_by_one(codec, top)
    tables = codec_tables.one_pass(codec, top)
    assert tables is not None
    assert tables == (encodable, lossy)
    assert len(encodable.intervals) == (2 if codec == "utf-8" else 1)


def test_utf8_over_all_of_unicode_is_everything_but_the_surrogates() -> None:
    tables = codec_tables.one_pass("utf-8")
    assert tables is not None
    assert tables[0].intervals == ((0, 0xD7FF), (0xE000, 0x10FFFF))  # UTF-8: RFC 3629, section 3
    assert tables[1].intervals == ()


@pytest.fixture
def hypothesis_home(tmp_path: Path) -> Iterator[Path]:
    before = configuration.storage_directory(intent_to_write=False).home_directory
    configuration.set_hypothesis_home_dir(tmp_path / "home")
    try:
        yield tmp_path / "home"
    finally:
        configuration.set_hypothesis_home_dir(before)


def test_the_table_is_written_where_and_as_hypothesis_reads_it(hypothesis_home: Path) -> None:
    asked: list[str] = []

    def hypothesis_loop(codec: str) -> object:
        asked.append(codec)
        return "hypothesis' own answer"

    fast = codec_tables.with_one_pass(hypothesis_loop)
    tables = fast("utf-8")
    assert asked == []  # no file yet: answered in one pass
    path = charmap.charmap_file("codec-v2-utf-8")
    assert path.is_relative_to(hypothesis_home)
    with gzip.GzipFile(path) as handle:
        assert json.load(handle) == [[[0, 0xD7FF], [0xE000, 0x10FFFF]], []]
    assert (hypothesis_home / ".gitignore").exists()  # as Hypothesis makes its directory
    assert charmap.intervals_from_codec.__wrapped__("utf-8") == tables  # its reader agrees

    again = codec_tables.with_one_pass(hypothesis_loop)
    assert again("utf-8") == "hypothesis' own answer"  # a file exists: Hypothesis reads it
    assert again("cp1252") == "hypothesis' own answer"  # not a one-pass codec
    assert asked == ["utf-8", "cp1252"]


def test_hypothesis_own_function_is_back_after_the_block() -> None:
    own = charmap.intervals_from_codec
    with codec_tables.one_pass_codec_tables():
        assert charmap.intervals_from_codec is not own
    assert charmap.intervals_from_codec is own
