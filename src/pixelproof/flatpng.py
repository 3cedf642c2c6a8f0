"""PNG files of images made of a few flat rectangles, written without a pixel buffer.

The mock's images are a fill, a band and (sometimes) a watermark: a 4K one has at most seven
kinds of row. Drawing it with Pillow and encoding 25 MB of pixels cost ~100-300 ms and a 25-64 MB
buffer per new image (about 30% of the stack's CPU in a run). Here each run of equal rows is one
row (PNG filter None) and then rows of filter "Up", which are all zeros; a block of zero rows is
deflated once and its bytes repeated (each piece ends on a full flush, so pieces join as pigz joins
them), and the Adler-32 is combined arithmetically. The file is an ordinary PNG: the tests decode
it with Pillow and compare every pixel with Pillow's own drawing of the same image.
"""

from __future__ import annotations

import functools
import itertools
import struct
import zlib
from collections.abc import Iterator, Sequence

Rgba = tuple[int, ...]
Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)
_ZERO_ROWS = 1 << 18  # bytes of "Up" rows deflated at a time (rounded to whole rows)
_ADLER = 65521


def flat_png(width: int, height: int, fill: Rgba, rects: Sequence[tuple[Rect, Rgba]]) -> bytes:
    """An 8-bit RGB (3 channels) or RGBA (4) PNG: ``fill``, then each rect painted in order."""
    channels = len(fill)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2 if channels == 3 else 6, 0, 0, 0)
    pieces, adler = [], 1
    for row, count in _row_runs(width, height, fill, rects):
        for size, checksum, packed in _run(row, count):
            pieces.append(packed)
            adler = _adler_combine(adler, checksum, size)
    pieces.append(_deflate(b"", final=True))
    idat = b"\x78\x01" + b"".join(pieces) + struct.pack(">I", adler)
    return b"".join((b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", ihdr), _chunk(b"IDAT", idat),
                     _chunk(b"IEND", b"")))  # fmt: skip


def _row_runs(
    width: int, height: int, fill: Rgba, rects: Sequence[tuple[Rect, Rgba]]
) -> Iterator[tuple[bytes, int]]:
    """(row pixels, how many equal rows) from top to bottom: rows change only at rect edges."""
    edges = sorted({0, height} | {min(max(y, 0), height) for r, _ in rects for y in (r[1], r[3])})
    for top, bottom in itertools.pairwise(edges):
        if bottom <= top:
            continue
        row = bytearray(bytes(fill) * width)
        for (x0, y0, x1, y1), colour in rects:
            x0, x1 = max(x0, 0), min(x1, width)
            if y0 <= top < y1 and x0 < x1:
                row[x0 * len(fill) : x1 * len(fill)] = bytes(colour) * (x1 - x0)
        yield bytes(row), bottom - top


def _run(row: bytes, count: int) -> Iterator[tuple[int, int, bytes]]:
    """(raw length, its Adler-32, deflated bytes) for one row then ``count - 1`` equal rows."""
    first = b"\x00" + row
    yield len(first), zlib.adler32(first), _deflate(first)
    up_rows = count - 1
    per_block = max(1, _ZERO_ROWS // (len(row) + 1))
    while up_rows:
        rows = min(per_block, up_rows)
        yield _up_block(len(row), rows)
        up_rows -= rows


@functools.lru_cache(maxsize=64)
def _up_block(row_bytes: int, rows: int) -> tuple[int, int, bytes]:
    """Rows of filter "Up" under an equal row: all zeros (cached: the same few recur)."""
    raw = (b"\x02" + bytes(row_bytes)) * rows
    return len(raw), zlib.adler32(raw), _deflate(raw)


def _deflate(data: bytes, final: bool = False) -> bytes:
    """Raw deflate of ``data`` on its own, ending byte-aligned (full flush) or as the last block."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush(zlib.Z_FINISH if final else zlib.Z_FULL_FLUSH)


def _adler_combine(first: int, second: int, second_len: int) -> int:
    """Adler-32 of A+B from those of A and B (zlib's adler32_combine)."""
    rem = second_len % _ADLER
    low = ((first & 0xFFFF) + (second & 0xFFFF) + _ADLER - 1) % _ADLER
    high = ((first >> 16) + (second >> 16) + _ADLER - rem + rem * (first & 0xFFFF)) % _ADLER
    return (high << 16) | low


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind)) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
