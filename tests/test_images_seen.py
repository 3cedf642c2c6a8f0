"""Decoding the same bytes again reuses what the first decode found; other bytes never do."""

from __future__ import annotations

from typing import Any

import pytest

from pixelproof import images
from pixelproof.geometry import Size
from pixelproof.images import ImageError, RenderSpec, decode, render


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times Pillow opened an image (a fresh, empty memory of seen images)."""
    monkeypatch.setattr(images, "_HEADERS_SEEN", {})
    monkeypatch.setattr(images, "_PIXELS_SEEN", {})
    count, real = [0], images.Image.open

    def open_(*args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(images.Image, "open", open_)
    return count


def test_the_same_bytes_are_checked_once_and_each_copy_keeps_its_own_data(
    opened: list[int],
) -> None:
    data = render(RenderSpec(Size(300, 200), "jpeg", shade=4))
    first, second = decode(data), decode(bytes(data))
    assert opened[0] == 1
    assert first == second  # format, size, mode, alpha, length, digest
    assert (second.format, second.size, second.mode) == ("jpeg", Size(300, 200), "RGB")
    assert second.data == data


def test_bytes_not_seen_are_checked_even_when_an_image_like_them_was(opened: list[int]) -> None:
    good = render(RenderSpec(Size(640, 480), "png", shade=9))
    assert decode(good).size == Size(640, 480)
    with pytest.raises(ImageError, match="does not decode"):
        decode(good[: len(good) // 2])
    other = render(RenderSpec(Size(480, 640), "png", shade=9))
    assert decode(other).size == Size(480, 640)


def test_pixels_are_judged_per_content_not_per_size(opened: list[int]) -> None:
    specs = [RenderSpec(Size(256, 256), "png", transparent=t, watermark=w, shade=1)
             for t, w in [(False, True), (False, False), (True, False), (True, True)]]  # fmt: skip
    for _ in range(2):
        for spec in specs:
            image = decode(render(spec))
            assert (image.transparent_pixels, image.watermarked) == (
                spec.transparent,
                spec.watermark,
            )
    assert opened[0] == 2 * len(specs)  # one header check and one full decode per image


def test_the_memory_keeps_the_newest_few(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "_HEADERS_SEEN", {})
    monkeypatch.setattr(images, "SEEN_KEPT", 3)
    datas = [render(RenderSpec(Size(32 + i, 32), "png")) for i in range(5)]
    for data in datas:
        decode(data)
    assert [s.width for _, s, _, _ in images._HEADERS_SEEN.values()] == [34, 35, 36]
