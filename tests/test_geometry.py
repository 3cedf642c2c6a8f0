from __future__ import annotations

import pytest

from pixelproof.geometry import NativeSizes, Size, parse_ratio, ratio_matches

GPT_IMAGE_2 = NativeSizes(
    official=(Size(1024, 1024), Size(1536, 1024), Size(1024, 1536)),
    multiple_of=16,
    max_pixels=8_294_400,
    max_edge=3840,
    min_ratio=1 / 3,
    max_ratio=3.0,
)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1024x1024", Size(1024, 1024)),
        ("1024*768", Size(1024, 768)),
        ("3840×2160", Size(3840, 2160)),
    ],
)
def test_parse_sizes_as_documents_write_them(text: str, size: Size) -> None:
    assert Size.parse(text) == size


@pytest.mark.parametrize("text", ["", "1024", "axb", "16:9", "-1x5", "0x0", "0x512"])
def test_parse_rejects_non_sizes(text: str) -> None:
    with pytest.raises(ValueError, match="not a size"):
        Size.parse(text)


@pytest.mark.parametrize(
    ("size", "native"),
    [
        ("1920x1080", False),  # 1080 not divisible by 16
        ("3840x2160", True),  # exactly the ceiling
        ("3840x2880", False),  # over the ceiling
        ("4096x1024", False),  # edge over 3840 (and ratio 4:1)
        ("2560x1712", True),
        ("1024x1024", True),
    ],
)
def test_gpt_image_2_native_sizes(size: str, native: bool) -> None:
    assert GPT_IMAGE_2.accepts(Size.parse(size)) is native
    assert (GPT_IMAGE_2.why_not(Size.parse(size)) == "") is native


def test_closest_official_size_by_ratio() -> None:
    assert GPT_IMAGE_2.closest_official(Size(1920, 1080)) == Size(1536, 1024)
    assert GPT_IMAGE_2.closest_official(Size(1080, 1920)) == Size(1024, 1536)
    assert GPT_IMAGE_2.closest_official(Size(2880, 2880)) == Size(1024, 1024)


def test_ratio_tolerance() -> None:
    assert ratio_matches(Size(2048, 1360), "3:2", 0.01)  # the document's "error < 0.5%"
    assert not ratio_matches(Size(1536, 1024), "16:9", 0.01)
    assert parse_ratio("21:9") == pytest.approx(21 / 9)
    with pytest.raises(ValueError, match="not an aspect ratio"):
        parse_ratio("16x9")
