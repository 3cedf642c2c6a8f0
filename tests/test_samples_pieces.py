"""The streamed sample's base64, piece by piece (samples._b64_pieces): the base64 of the whole,
whatever the pieces, repeated or not (a run equal to the one before reuses its encoding)."""

from __future__ import annotations

import base64

import pytest

from pixelproof.samples import _b64_pieces


@pytest.mark.parametrize(
    "pieces",
    [
        [b"\x89PNG", b"\0" * 9, b"\0" * 9, b"\0" * 9, b"end"],  # a carry of 1, then repeats
        [b"abc", b"def", b"ghi", b"def"],  # same length, other bytes: never reused
        [b"xy", b"z" * 6, b"w" * 6, b"z" * 6, b"q"],  # carries of 2 in front of each
        [b"abc", b"abc", b"abc"],  # the very same run three times
        [b"", b"a", b""],
    ],
)
def test_the_pieces_encode_the_whole(pieces: list[bytes]) -> None:
    assert b"".join(_b64_pieces(iter(pieces))) == base64.b64encode(b"".join(pieces))
