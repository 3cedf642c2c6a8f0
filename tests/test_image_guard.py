"""The pixel-bomb guard: an image declaring more pixels than any document allows is refused from
its header, before a pixel is decoded; one within the documented sizes decodes."""

from __future__ import annotations

import pytest

import hostile
from pixelproof.catalogue import Catalogue
from pixelproof.images import MAX_DOCUMENTED_PIXELS, ImageError, decode


def test_guard_is_the_largest_documented_size(catalogue: Catalogue) -> None:
    documented = [
        v.sizes.max_pixels for v in catalogue.vendors.values() if v.sizes and v.sizes.max_pixels
    ]
    assert documented
    assert max(documented) == MAX_DOCUMENTED_PIXELS


@pytest.mark.parametrize(("width", "height"), [(6000, 4000), (40000, 40000)])
def test_a_bomb_over_the_guard_is_refused_with_its_declared_size(width: int, height: int) -> None:
    # a real bomb (decodes to 72 MB without the guard), and a header that lies (40000x40000)
    data = hostile.png_header(width, height) if width > 10000 else hostile.png_bomb(width, height)
    with hostile.rss_growth() as growth, pytest.raises(ImageError) as caught:
        decode(data)
    assert f"{width}x{height}" in str(caught.value)
    assert f"{width * height:,} pixels" in str(caught.value) or "too many pixels" in str(
        caught.value
    )
    assert growth() < 40  # nothing was decoded, not even for a moment


def test_a_bomb_under_the_guard_decodes() -> None:
    image = decode(hostile.png_bomb(4096, 4096))
    assert (image.size.width, image.size.height) == (4096, 4096)
    assert image.format == "png"
