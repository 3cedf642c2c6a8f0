"""The mock's JPEGs stitched from strips are Pillow's own image, pixel for pixel."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image

from pixelproof import flatjpeg, images
from pixelproof.geometry import Size
from pixelproof.images import ImageError, RenderSpec, decode, render


def _pixels(data: bytes) -> tuple[str, tuple[int, int], bytes]:
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "JPEG"
        return img.mode, img.size, img.tobytes()


@pytest.mark.parametrize("size", [(640, 512), (1537, 1023), (2364, 1773), (1341, 3129)])
def test_a_stitched_jpeg_decodes_to_the_pixels_of_pillows_whole_encode(
    size: tuple[int, int],
) -> None:
    for watermark, shade in [(False, 0), (True, 7), (True, 15)]:
        spec = RenderSpec(Size(*size), "jpeg", watermark=watermark, shade=shade)
        ours, whole = render(spec), images.render_pillow(spec)
        assert b"\xff\xdd\x00\x04" in ours[: ours.index(b"\xff\xda")]  # restart interval: stitched
        assert _pixels(ours) == _pixels(whole), (size, watermark, shade)
        image = decode(ours)  # the harness's own check: header, every scan at 1/8 scale
        assert (image.format, image.size, image.watermarked) == ("jpeg", Size(*size), watermark)


def test_a_cut_stitched_jpeg_does_not_decode() -> None:
    data = render(RenderSpec(Size(1536, 1024), "jpeg", watermark=True, shade=2))
    for cut in (len(data) // 2, len(data) - 100):
        with pytest.raises(ImageError, match="does not decode"):
            decode(data[:cut])


def test_strips_that_cannot_be_joined_give_the_whole_encode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pillow encoding 4:4:4 (8x8 MCUs) or progressively: no stitching, the same pixels."""
    real = flatjpeg._encode
    fill, rects = (10, 20, 30), [((100, 200, 700, 500), (200, 100, 50))]
    for options in ({"subsampling": 0}, {"progressive": True}):

        def other(width: int, height: int, *args: object, options: dict = options) -> bytes:
            out = io.BytesIO()
            with Image.open(io.BytesIO(real(width, height, *args))) as img:  # type: ignore[arg-type]
                img.save(out, "JPEG", quality=90, **options)
            return out.getvalue()

        monkeypatch.setattr(flatjpeg, "_encode", other)
        data = flatjpeg.flat_jpeg(800, 600, fill, rects, 90)
        assert b"\xff\xdd" not in data[: data.index(b"\xff\xda")]
        assert _pixels(data) == _pixels(other(800, 600, fill, rects, 90))


def test_strip_keys_shared_across_edges_free_strips_are_each_strips_own() -> None:
    """The shortcut (a strip with no rect edge between it and the one above shares its key) gives
    the key every strip has on its own, over rects in and out of the image, empty ones included."""
    rng = random.Random(15)
    for _ in range(400):
        width, height = rng.randint(1, 200), rng.randint(1, 200)
        rects = [
            (
                tuple(rng.randint(-20, side + 20) for side in (width, height, width, height)),
                (9, 9, 9),
            )
            for _ in range(rng.randint(0, 6))
        ]
        each = [
            flatjpeg._strip(top, min(16, height - top), width, rects)  # type: ignore[arg-type]
            for top in range(0, height, 16)
        ]
        assert flatjpeg._strips(width, height, rects, 16) == each, (width, height, rects)  # type: ignore[arg-type]
