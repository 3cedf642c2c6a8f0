"""Each dialect reads its own answers: images, task id, task status. Bodies are the shapes the
documents and DOMAIN.md give; a wrong shape yields nothing rather than an exception."""

from __future__ import annotations

from typing import Any

import pytest

from pixelproof.catalogue import Catalogue
from pixelproof.surfaces import DIALECTS, dialect


def test_every_surface_of_the_catalogue_has_a_dialect(catalogue: Catalogue) -> None:
    assert set(catalogue.surfaces) <= set(DIALECTS)


def test_an_unknown_surface_is_named() -> None:
    with pytest.raises(KeyError, match="nosuch"):
        dialect("nosuch")


@pytest.mark.parametrize(
    ("surface", "body", "expected"),
    [
        ("unified", {"data": [{"b64_json": "QUJD"}, {"url": "http://x/a.png"}]}, [("b64_json", "QUJD", None), ("url", None, "http://x/a.png")]),
        ("xai", {"data": [{"url": "http://x/a.jpg"}]}, [("url", None, "http://x/a.jpg")]),
        ("gemini", {"candidates": [{"content": {"parts": [{"text": "hi"}, {"inlineData": {"mimeType": "image/png", "data": "QUJD"}}]}}]}, [("inlineData", "QUJD", None)]),
        ("jimeng-official", {"code": 10000, "data": {"binary_data_base64": ["QUJD"], "image_urls": ["http://x/j.png"]}}, [("binary_data_base64", "QUJD", None), ("image_urls", None, "http://x/j.png")]),
        ("tasks-action", {"status": "completed", "result": {"images": [{"url": "http://x/t.png"}]}}, [("url", None, "http://x/t.png")]),
        ("tasks-official", {"data": {"status": "completed", "result": {"images": [{"b64_json": "QUJD"}]}}}, [("b64_json", "QUJD", None)]),
    ],
)  # fmt: skip
def test_images_are_found_where_the_dialect_keeps_them(
    surface: str, body: Any, expected: list[tuple[str, Any, Any]]
) -> None:
    refs = dialect(surface).images(body)
    assert [(r.source, r.b64, r.url) for r in refs] == expected


def test_an_openai_item_without_image_is_a_problem_not_a_silence() -> None:
    (ref,) = dialect("unified").images({"data": [{"revised_prompt": "x"}]})
    assert ref.problem
    assert "revised_prompt" in ref.problem


@pytest.mark.parametrize(
    ("surface", "submitted", "task_id", "polled", "status"),
    [
        ("tasks-action", {"task_id": "t1"}, "t1", {"status": "processing"}, "processing"),
        ("tasks-official", {"data": [{"task_id": "t2"}]}, "t2", {"data": {"status": "completed"}}, "completed"),
        ("jimeng-official", {"code": 10000, "data": {"task_id": "t3"}}, "t3", {"data": {"status": "done"}}, "done"),
    ],
)  # fmt: skip
def test_task_id_and_status(
    surface: str, submitted: Any, task_id: str, polled: Any, status: str
) -> None:
    d = dialect(surface)
    assert d.task_id(submitted) == task_id
    assert d.task_status(polled) == status


@pytest.mark.parametrize("surface", sorted(DIALECTS))
@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "text",
        {"data": "x"},
        {"data": [1, 2]},
        {"candidates": [None]},
        {"code": 50000, "data": {"task_id": "x"}},
    ],
)
def test_malformed_bodies_yield_nothing_never_raise(surface: str, body: Any) -> None:
    d = dialect(surface)
    assert d.images(body) == []
    assert d.task_id(body) is None
    assert d.task_status(body) is None
