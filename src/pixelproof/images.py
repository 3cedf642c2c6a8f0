"""Decode, sniff and measure images; render the mock's deterministic images.

Judging and producing live side by side on purpose: the watermark the mock paints is the one
``has_watermark`` looks for, and both are specified here once.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import io
import threading
from dataclasses import dataclass, field
from typing import TypeVar

from PIL import (
    Image,
    UnidentifiedImageError,
    WebPImagePlugin,  # noqa: F401  (registers WEBP: see below)
)

from pixelproof.flatjpeg import flat_jpeg
from pixelproof.flatpng import flat_png
from pixelproof.geometry import Size

# The largest size any document allows (4096x4096: models.yaml max_pixels; a test keeps the two
# equal). An answer whose header declares more is refused before a pixel is decoded.
MAX_DOCUMENTED_PIXELS = 16_777_216
Image.MAX_IMAGE_PIXELS = 2 * MAX_DOCUMENTED_PIXELS  # any other Image.open is guarded too
# Pillow registers BMP, GIF, JPEG, PPM and PNG on first use; the first WEBP opened or saved made
# it import every other plugin as well (~45 modules, ~25 ms of CPU in each process of a run).
# Registered here, WEBP is found like the others; nothing else is opened (``sniff`` comes first).

MAGIC = {
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpeg": (b"\xff\xd8\xff",),
    "gif": (b"GIF87a", b"GIF89a"),
}
MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif"}
_PIL_FORMAT = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP", "gif": "GIF"}

# The mock's watermark: a 48x12 block of alternating magenta/cyan 6px cells, 8px from the bottom
# right corner. Vendors' real marks differ; this one is only for the mock's round trip.
WATERMARK_CELL = 6
WATERMARK_COLOURS = ((255, 0, 255), (0, 255, 255))


class ImageError(ValueError):
    """Bytes that are not a decodable image (message says why)."""


@dataclass(frozen=True)
class DecodedImage:
    """An image whose header and structure were checked; pixels are decoded only when asked.

    Most verdicts need only format, size and mode (all in the header). Decoding every pixel of
    every answer cost ~20 ms per 1024x1024 PNG and ~130 ms per 4K one, the largest single cost of
    a run, so ``transparent_pixels`` and ``watermarked`` decode on first use (then cached).
    """

    format: str  # png | jpeg | webp | gif
    size: Size
    mode: str
    has_alpha: bool
    nbytes: int
    sha256: str
    data: bytes = field(repr=False, compare=False, default=b"")

    @property
    def transparent_pixels(self) -> bool:
        return self._pixels[0]

    @property
    def watermarked(self) -> bool:
        return self._pixels[1]

    @functools.cached_property
    def _pixels(self) -> tuple[bool, bool]:
        """(transparent pixels, mock watermark) from a full decode; ImageError if it fails.
        Kept by content digest: the same bytes answered again are not decoded again."""
        known = _PIXELS_SEEN.get(self.sha256)
        if known is None:
            known = _remember(_PIXELS_SEEN, self.sha256, self._decode_pixels())
        return known

    def _decode_pixels(self) -> tuple[bool, bool]:
        try:
            with Image.open(io.BytesIO(self.data)) as img:
                img.load()
                transparent = False
                if img.mode in ("RGBA", "LA", "PA"):
                    transparent = img.getchannel("A").getextrema()[0] < 255
                elif self.has_alpha:
                    transparent = img.convert("RGBA").getchannel("A").getextrema()[0] < 255
                return transparent, _has_watermark(img)
        except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
            raise ImageError(f"{self.format} that does not decode: {exc}") from None


def sniff(data: bytes) -> str | None:
    """The format by magic bytes (not by what anybody claims)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    for name, prefixes in MAGIC.items():
        if any(data.startswith(p) for p in prefixes):
            return name
    return None


def b64decode_strict(text: str) -> bytes:
    """Base64 (standard alphabet, padding required); accepts a data: URL prefix."""
    if text.startswith("data:"):
        _, _, text = text.partition(",")
    try:  # canonical base64 decodes in C alone; validate=True first runs a regex over it all
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        pass  # what strict mode refuses, validate=True refuses too: its error says why
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageError(f"invalid base64: {exc}") from None


_B64_STEP = 4 << 20  # characters decoded at a time by ``b64_measure`` (a multiple of 4)


def b64_measure(text: str, keep: int = 16) -> tuple[int, bytes]:
    """(decoded size, first ``keep`` bytes) of strict base64, decoded a few MB at a time: the
    same verdict as ``b64decode_strict`` without holding a 31 MB reference to learn its size."""
    if text.startswith("data:"):
        _, _, text = text.partition(",")
    size, head = 0, b""
    for start in range(0, len(text), _B64_STEP):
        piece = text[start : start + _B64_STEP]
        if piece.endswith("=") and start + _B64_STEP < len(text):  # padding, then more data
            raise ImageError("invalid base64: Excess data after padding")
        data = b64decode_strict(piece)
        size += len(data)
        head = head or data[:keep]
    return size, head


def decode(data: bytes) -> DecodedImage:
    """Read the header and check the structure (so truncated or corrupted files fail here).

    A PNG is checked chunk by chunk through IEND, every CRC included (``verify``: no inflating);
    a JPEG is decoded through its last scan at 1/8 scale (libjpeg's DCT scaling: the same
    truncation errors, 1/64 of the pixels: 0.75 MB instead of 48 for 4096x4096); other formats
    are decoded in full. Full pixels are decoded later, only if a verdict needs them.
    """
    fmt = sniff(data)
    if fmt is None:
        raise ImageError(f"not an image: first bytes {data[:8]!r}")
    digest = hashlib.sha256(data).hexdigest()
    known = _HEADERS_SEEN.get(digest)
    if known is None:
        known = _remember(_HEADERS_SEEN, digest, _checked_header(fmt, data))
    return DecodedImage(*known, len(data), digest, data)


def _checked_header(fmt: str, data: bytes) -> tuple[str, Size, str, bool]:
    """(format, size, mode, has alpha) once the structure checks out; else ImageError."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            _guard_pixels(fmt, img.width, img.height)
            mode, size, info = img.mode, Size(img.width, img.height), dict(img.info)
            if fmt == "png":
                img.verify()
            else:
                if fmt == "jpeg":  # every scan still read (a truncated file fails), pixels at 1/8
                    img.draft(img.mode, (max(1, img.width // 8), max(1, img.height // 8)))
                img.load()
    except Image.DecompressionBombError as exc:  # declared far beyond the guard: Pillow refused it
        declared = _header_size(fmt, data)
        if declared:
            _guard_pixels(fmt, *declared)
        raise ImageError(f"{fmt} header declares too many pixels: {exc}; not decoded") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ImageError(f"{fmt} that does not decode: {exc}") from None
    alpha = mode in ("RGBA", "LA", "PA") or "transparency" in info
    return fmt, size, mode, alpha


# What decoding found, by the bytes' SHA-256: answers repeat (a gateway's cached image, the same
# sample sent again as a reference), 341 decodes of 125 distinct images in a default run. Only
# successes are kept (an error is rare and decoded again), a few small tuples per image. The
# mock's two servers share a process (two threads): the lock keeps the eviction whole.
SEEN_KEPT = 1024
_SEEN_LOCK = threading.Lock()
_HEADERS_SEEN: dict[str, tuple[str, Size, str, bool]] = {}
_PIXELS_SEEN: dict[str, tuple[bool, bool]] = {}
_T = TypeVar("_T")


def _remember(seen: dict[str, _T], digest: str, value: _T) -> _T:
    with _SEEN_LOCK:
        if len(seen) >= SEEN_KEPT:
            del seen[next(iter(seen))]  # the oldest
        seen[digest] = value
    return value


def _guard_pixels(fmt: str, width: int, height: int) -> None:
    if width * height > MAX_DOCUMENTED_PIXELS:
        raise ImageError(
            f"{fmt} header declares {width}x{height} ({width * height:,} pixels), more than the "
            f"largest documented size ({MAX_DOCUMENTED_PIXELS:,} pixels); not decoded"
        )


def _header_size(fmt: str, data: bytes) -> tuple[int, int] | None:
    """Width and height as a PNG or GIF header states them (for the message when Pillow refuses)."""
    if fmt == "png" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if fmt == "gif" and len(data) >= 10:
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    return None


def measure(data: bytes) -> tuple[str | None, Size]:
    """Format and size from the header only (no pixel decode): for answers already trusted."""
    with Image.open(io.BytesIO(data)) as img:
        return sniff(data), Size(img.width, img.height)


def _watermark_box(width: int, height: int) -> tuple[int, int] | None:
    w, h = 8 * WATERMARK_CELL, 2 * WATERMARK_CELL
    if width < w + 16 or height < h + 16:
        return None
    return width - w - 8, height - h - 8


def _has_watermark(img: Image.Image) -> bool:
    origin = _watermark_box(img.width, img.height)
    if origin is None:
        return False
    x0, y0 = origin
    w, h = 8 * WATERMARK_CELL, 2 * WATERMARK_CELL
    rgb = img.crop((x0, y0, x0 + w, y0 + h)).convert("RGB")
    x0, y0 = 0, 0
    for row in range(2):
        for col in range(8):
            cx = x0 + col * WATERMARK_CELL + WATERMARK_CELL // 2
            cy = y0 + row * WATERMARK_CELL + WATERMARK_CELL // 2
            want = WATERMARK_COLOURS[(row + col) % 2]
            got = rgb.getpixel((cx, cy))
            assert isinstance(got, tuple)
            if any(abs(int(a) - b) > 40 for a, b in zip(got[:3], want, strict=True)):
                return False
    return True


@dataclass(frozen=True)
class RenderSpec:
    size: Size
    format: str = "png"
    transparent: bool = False
    watermark: bool = False
    shade: int = 0  # 0..15, derived from the request so content is deterministic per request


@functools.lru_cache(maxsize=1024)
def shade_for(text: str) -> int:
    return hashlib.sha256(text.encode("utf-8", "replace")).digest()[0] % 16


def _layout(
    spec: RenderSpec,
) -> tuple[str, tuple[int, ...], list[tuple[tuple[int, int, int, int], tuple[int, ...]]]]:
    """(mode, fill, rectangles painted over it in order): the image, said once for both writers."""
    w, h = spec.size.width, spec.size.height
    base = (40 + spec.shade * 12, 90, 200 - spec.shade * 8)
    mode = "RGBA" if spec.transparent and spec.format != "jpeg" else "RGB"
    fill = (*base, 0) if mode == "RGBA" else base
    # an opaque band in the middle, so "transparent" images still show something
    band = (*base[::-1], 255) if mode == "RGBA" else base[::-1]
    rects = [((w // 4, h // 3, max(w // 4 + 1, 3 * w // 4), max(h // 3 + 1, 2 * h // 3)), band)]
    origin = _watermark_box(w, h) if spec.watermark else None
    if origin:
        for row in range(2):
            for col in range(8):
                colour = WATERMARK_COLOURS[(row + col) % 2]
                x = origin[0] + col * WATERMARK_CELL
                y = origin[1] + row * WATERMARK_CELL
                paint = (*colour, 255) if mode == "RGBA" else colour
                rects.append(((x, y, x + WATERMARK_CELL, y + WATERMARK_CELL), paint))
    return mode, fill, rects


_JPEG_QUALITY = 90
_STITCHED_ROWS = 512  # below this, a whole encode costs about what the strips do


@functools.lru_cache(maxsize=256)
def render(spec: RenderSpec) -> bytes:
    """Encoded bytes of a deterministic image; cached, so a warm 4K answer costs no encode.
    A PNG is written row-run by row-run (``flatpng``), a JPEG of 512 rows or more strip by
    distinct strip (``flatjpeg``: the same pixels as Pillow's whole encode, 4-30x less CPU);
    the rest is drawn and encoded by Pillow (``render_pillow``, which also draws the images the
    tests compare with)."""
    if spec.format == "png":
        _, fill, rects = _layout(spec)
        return flat_png(spec.size.width, spec.size.height, fill, rects)
    if spec.format == "jpeg" and spec.size.height >= _STITCHED_ROWS:
        _, fill, rects = _layout(spec)
        return flat_jpeg(spec.size.width, spec.size.height, fill, rects, _JPEG_QUALITY)
    return render_pillow(spec)


def drawn(spec: RenderSpec) -> Image.Image:
    """Pillow's drawing of the image, its pixels before any encoding (what the tests compare the
    fast writers' decoded pixels with)."""
    mode, fill, rects = _layout(spec)
    img = Image.new(mode, (spec.size.width, spec.size.height), fill)
    for box, colour in rects:
        img.paste(colour, box)
    return img


def render_pillow(spec: RenderSpec) -> bytes:
    if spec.format not in ("png", "jpeg", "webp"):
        raise ValueError(f"cannot render {spec.format}")
    img = drawn(spec)
    out = io.BytesIO()
    options: dict[str, object] = {"optimize": False}
    if spec.format == "png":
        options = {"compress_level": 1}
    elif spec.format == "jpeg":
        options = {"quality": _JPEG_QUALITY}
    elif spec.format == "webp":  # lossless at the least effort: flat images, 5-10x faster
        options = {"lossless": True, "quality": 0, "method": 0, "exact": True}
    img.save(out, _PIL_FORMAT[spec.format], **options)
    return out.getvalue()


@functools.lru_cache(maxsize=256)
def render_b64(spec: RenderSpec) -> str:
    return base64.b64encode(render(spec)).decode("ascii")


def thumbnails(images: list[bytes], limit: int = 3, edge: int = 160) -> list[str]:
    """Small base64 JPEGs of returned images, for reports (never the full image)."""
    out = []
    for data in images[:limit]:
        try:
            with Image.open(io.BytesIO(data)) as img:
                img.thumbnail((edge, edge))
                buf = io.BytesIO()
                img.convert("RGB").save(buf, "JPEG", quality=70)
                out.append(base64.b64encode(buf.getvalue()).decode("ascii"))
        except (OSError, ValueError):
            continue
    return out
