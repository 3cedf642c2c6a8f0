"""Baseline JPEG files of images made of a few flat rectangles, encoded one kind of strip at a time.

The mock's JPEG answers (Ark, Jimeng: 1-5 megapixels each, 36 distinct ones in a run) are a fill,
a band and sometimes a watermark. Drawing one with Pillow and encoding every pixel cost 10-50 ms
(about 20% of the embedded stack's CPU in a run), yet such an image has only a handful of distinct
rows of MCUs (16 pixel rows each at 4:2:0). JPEG's restart markers make each MCU row an
independent, byte-aligned piece of the entropy-coded data (the DC predictions start again at each
marker), so each distinct strip is encoded once by Pillow, at the same quality and tables, and
its piece repeated wherever the strip recurs.

libjpeg computes every block of a strip from the strip's own pixels (colour conversion, 2x2 chroma
averaging, the DCT, edge replication of the last row and column), so the coefficients are the
ones a whole-image encode gives: the tests decode both with Pillow and compare every pixel. The
file is an ordinary baseline JFIF with a DRI segment; whatever this module cannot stitch (tables
that differ between strips, an unexpected marker) is encoded whole by Pillow instead.
"""

from __future__ import annotations

import bisect
import io
import struct
from collections.abc import Sequence

from PIL import Image

Rgb = tuple[int, ...]
Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)
Strip = tuple[int, tuple[tuple[Rect, Rgb], ...]]  # height, rects clipped and moved to the strip
_EOI, _DRI = b"\xff\xd9", b"\xff\xdd"


class _Unstitchable(ValueError):
    """A strip's encoding that cannot be joined to the others (the whole image is encoded)."""


def flat_jpeg(
    width: int, height: int, fill: Rgb, rects: Sequence[tuple[Rect, Rgb]], quality: int
) -> bytes:
    """An RGB JPEG of ``fill`` with each rect painted in order, as Pillow encodes it at
    ``quality`` (baseline, standard tables, 4:2:0)."""
    try:
        return _stitched(width, height, fill, rects, quality)
    except _Unstitchable:
        return _encode(width, height, fill, rects, quality)


def _stitched(
    width: int, height: int, fill: Rgb, rects: Sequence[tuple[Rect, Rgb]], quality: int
) -> bytes:
    mcu = 16  # 4:2:0: checked against the strips' frame header below
    strips = _strips(width, height, rects, mcu)
    pieces: dict[Strip, bytes] = {}
    header = b""
    for strip in dict.fromkeys(strips):
        head, data = _split(_encode(width, strip[0], fill, strip[1], quality))
        rows, cols = _frame(head)
        if (rows, cols) != (strip[0], width):
            raise _Unstitchable("frame size")
        if not header:
            header = head
        elif _with_rows(head, 0) != _with_rows(header, 0):
            raise _Unstitchable("tables differ between strips")
        pieces[strip] = data
    if _mcu(header) != (mcu, mcu):
        raise _Unstitchable("not 4:2:0")
    dri = _DRI + struct.pack(">HH", 4, -(-width // mcu))
    body = bytearray()
    for index, strip in enumerate(strips):
        if index:
            body += bytes((0xFF, 0xD0 + (index - 1) % 8))  # RSTn, n counting 0..7
        body += pieces[strip]
    head = _with_rows(header, height)
    sos = _segments(head)[-1][1] - 4
    return head[:sos] + dri + head[sos:] + bytes(body) + _EOI


def _strips(width: int, height: int, rects: Sequence[tuple[Rect, Rgb]], mcu: int) -> list[Strip]:
    """Every strip's key, top to bottom. Where no rect edge lies strictly inside two neighbouring
    strips, every rect covers both or neither, so the lower one's key is the upper one's: only
    the strips next to an edge are worked out (a 4K image has ~10 of its 256)."""
    edges = sorted({y for (_, y0, _, y1), _ in rects for y in (y0, y1) if 0 < y < height})
    out: list[Strip] = []
    for top in range(0, height, mcu):
        rows = min(mcu, height - top)
        if out and out[-1][0] == rows:
            above = top - mcu
            at = bisect.bisect_right(edges, above)
            if at == len(edges) or edges[at] >= top + rows:
                out.append(out[-1])
                continue
        out.append(_strip(top, rows, width, rects))
    return out


def _strip(top: int, rows: int, width: int, rects: Sequence[tuple[Rect, Rgb]]) -> Strip:
    """The strip's content as the rects that touch it, clipped and moved to its own origin: two
    strips with equal keys are equal images."""
    inside = []
    for (x0, y0, x1, y1), colour in rects:
        box = (max(x0, 0), max(y0 - top, 0), min(x1, width), min(y1 - top, rows))
        if box[0] < box[2] and box[1] < box[3]:
            inside.append((box, tuple(colour)))
    return rows, tuple(inside)


def _encode(
    width: int, height: int, fill: Rgb, rects: Sequence[tuple[Rect, Rgb]], quality: int
) -> bytes:
    img = Image.new("RGB", (width, height), tuple(fill))
    for box, colour in rects:
        img.paste(tuple(colour), box)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality, optimize=False)
    return out.getvalue()


def _split(data: bytes) -> tuple[bytes, bytes]:
    """(every segment through SOS, the entropy-coded data) of a one-scan baseline JPEG."""
    if not data.endswith(_EOI):
        raise _Unstitchable("no EOI")
    for marker, _at, end in _segments(data):
        if marker == 0xDA:
            return data[:end], data[end:-2]
        if marker == 0xDD or (0xC1 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC)):
            raise _Unstitchable(f"marker {marker:#x}")  # restarts already, or not baseline
    raise _Unstitchable("no SOS")


def _segments(head: bytes) -> list[tuple[int, int, int]]:
    """(marker, start of its payload, end) of each segment after SOI, through SOS."""
    out, pos = [], 2
    while pos + 4 <= len(head) and head[pos] == 0xFF:
        marker, length = head[pos + 1], struct.unpack(">H", head[pos + 2 : pos + 4])[0]
        out.append((marker, pos + 4, pos + 2 + length))
        pos += 2 + length
        if marker == 0xDA:
            break
    return out


def _sof(head: bytes) -> int:
    """Where the baseline frame header's payload starts (precision, rows, columns, components)."""
    found = [at for marker, at, _ in _segments(head) if marker == 0xC0]
    if len(found) != 1:
        raise _Unstitchable("no single baseline frame")
    return found[0]


def _frame(head: bytes) -> tuple[int, int]:
    at = _sof(head) + 1
    rows, cols = struct.unpack(">HH", head[at : at + 4])
    return rows, cols


def _mcu(head: bytes) -> tuple[int, int]:
    """(columns, rows) of pixels in an MCU: 8 x the largest sampling factors of the components."""
    at = _sof(head)
    factors = [head[at + 7 + 3 * i] for i in range(head[at + 5])]
    return 8 * max(f >> 4 for f in factors), 8 * max(f & 0x0F for f in factors)


def _with_rows(head: bytes, rows: int) -> bytes:
    at = _sof(head) + 1
    return head[:at] + struct.pack(">H", rows) + head[at + 2 :]
