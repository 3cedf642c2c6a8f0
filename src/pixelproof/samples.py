"""Sample inputs the suites send: reference images, masks, a GIF, an oversized PNG, non-images."""

from __future__ import annotations

import base64
import functools
import io
import struct
import zlib

from PIL import Image

from pixelproof.geometry import Size
from pixelproof.images import RenderSpec, render

SAMPLE_SIZE = Size(512, 512)


# Samples made afresh at each use (~30 ms) rather than held for the whole run: 31 MB of bytes
# and 41 MB of base64 would otherwise stay resident from the first reference-size case on.
UNCACHED = frozenset({"big31mb"})


def sample_bytes(name: str) -> bytes:
    """Bytes of a named sample: png512, mask512, gif64, notimage, big31mb."""
    return _make(name) if name in UNCACHED else _cached_bytes(name)


def sample_b64(name: str) -> str:
    if name in UNCACHED:
        return base64.b64encode(_make(name)).decode("ascii")
    return _cached_b64(name)


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
        return _padded_png(31 * 1024 * 1024)
    raise KeyError(f"no sample named {name!r}")


def _padded_png(total: int) -> bytes:
    """A valid PNG over ``total`` bytes: a 64x64 image plus an ancillary chunk decoders skip."""
    small = render(RenderSpec(Size(64, 64), "png", shade=1))
    iend = small.rindex(b"IEND") - 4
    payload = b"\0" * (total - len(small))
    chunk_type = b"ppAd"  # lowercase first letter: ancillary, safe to ignore
    crc = zlib.crc32(payload, zlib.crc32(chunk_type)) & 0xFFFFFFFF
    head = small[:iend] + struct.pack(">I", len(payload)) + chunk_type
    return b"".join((head, payload, struct.pack(">I", crc), small[iend:]))  # one copy of 31 MB
