"""Sample inputs the suites send: reference images, masks, a GIF, an oversized PNG, non-images."""

from __future__ import annotations

import base64
import functools
import io
import struct
import zlib
from collections.abc import Iterator

from PIL import Image

from pixelproof.geometry import Size
from pixelproof.images import RenderSpec, render
from pixelproof.streamed import StreamedText

SAMPLE_SIZE = Size(512, 512)


# Samples made afresh at each use (~30 ms) rather than held for the whole run: 31 MB of bytes
# and 41 MB of base64 would otherwise stay resident from the first reference-size case on.
# Requests carry them as a ``StreamedText`` (``sample_streamed``): never whole in memory.
UNCACHED = frozenset({"big31mb"})
BIG_BYTES = 31 * 1024 * 1024
_STEP = 3 * 1024 * 1024  # raw bytes per base64 piece (a multiple of 3: pieces join cleanly)


def carries_large_sample(body: str) -> bool:
    """Whether a probe's body names a large sample by placeholder (``{sample:big31mb}``)."""
    return any(f"{{sample:{name}}}" in body for name in UNCACHED)


def sample_bytes(name: str) -> bytes:
    """Bytes of a named sample: png512, mask512, gif64, notimage, big31mb."""
    return _make(name) if name in UNCACHED else _cached_bytes(name)


def sample_b64(name: str) -> str:
    if name in UNCACHED:
        return base64.b64encode(_make(name)).decode("ascii")
    return _cached_b64(name)


def sample_streamed(name: str) -> StreamedText:
    """The base64 of a large sample, produced a few MB at a time while a request is written."""
    if name != "big31mb":
        raise KeyError(f"no streamed sample named {name!r}")
    raw = BIG_BYTES + 12  # the 64x64 PNG around a chunk of zeros: 12 bytes of chunk framing
    return StreamedText(4 * -(-raw // 3), lambda: _b64_pieces(_padded_png_pieces(BIG_BYTES)))


@functools.cache
def _cached_bytes(name: str) -> bytes:
    return _make(name)


@functools.cache
def _cached_b64(name: str) -> str:
    return base64.b64encode(_make(name)).decode("ascii")


def _make(name: str) -> bytes:
    if name == "png512":
        return render(RenderSpec(SAMPLE_SIZE, "png", shade=5))
    if name == "mask512":
        mask = Image.new("RGBA", (SAMPLE_SIZE.width, SAMPLE_SIZE.height), (0, 0, 0, 255))
        mask.paste((0, 0, 0, 0), (128, 128, 384, 384))  # the transparent square is what gets edited
        out = io.BytesIO()
        mask.save(out, "PNG")
        return out.getvalue()
    if name == "gif64":
        out = io.BytesIO()
        Image.new("RGB", (64, 64), (200, 30, 30)).save(out, "GIF")
        return out.getvalue()
    if name == "notimage":
        return b"this is not an image, it is a sentence"
    if name == "big31mb":
        return b"".join(_padded_png_pieces(BIG_BYTES))
    raise KeyError(f"no sample named {name!r}")


def _png64() -> bytes:
    return render(RenderSpec(Size(64, 64), "png", shade=1))


def _padded_png_pieces(total: int) -> Iterator[bytes]:
    """A valid PNG over ``total`` bytes, in pieces: a 64x64 image plus an ancillary chunk of
    zeros that decoders skip (its CRC is computed as the zeros go by)."""
    small = _png64()
    iend = small.rindex(b"IEND") - 4
    size = total - len(small)
    chunk_type = b"ppAd"  # lowercase first letter: ancillary, safe to ignore
    yield small[:iend] + struct.pack(">I", size) + chunk_type
    zeros, crc = bytes(_STEP), zlib.crc32(chunk_type)
    for start in range(0, size, _STEP):
        piece = zeros[: min(_STEP, size - start)]
        crc = zlib.crc32(piece, crc)
        yield piece
    yield struct.pack(">I", crc & 0xFFFFFFFF) + small[iend:]


def _b64_pieces(raw: Iterator[bytes]) -> Iterator[bytes]:
    """Base64 of the concatenated pieces, one encoded piece per 3-aligned run of input. A run equal
    to the one before is not encoded again: the padded sample is ten runs of the same zeros after
    its header (a whole stream: 0.072-0.095 CPU-s -> 0.023-0.025, measured)."""
    carry, last, encoded = b"", b"", b""
    for piece in raw:
        data = carry + piece if carry else piece
        cut = len(data) - len(data) % 3
        if cut:
            run = data[:cut] if cut < len(data) else data
            if run != last:
                last, encoded = run, base64.b64encode(run)
            yield encoded
        carry = data[cut:]
    if carry:
        yield base64.b64encode(carry)
