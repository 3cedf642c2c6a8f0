"""The fast paths keep their promises: header-checked images still refuse broken files, large
samples still reach the wire whole, the stack's own process starts, serves and ends with the
block, and the mock's JSON bytes are the ones starlette would write."""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from starlette.responses import JSONResponse as StarletteJSON

from pixelproof import images
from pixelproof.catalogue import Catalogue
from pixelproof.client import Client
from pixelproof.geometry import Size
from pixelproof.images import ImageError, RenderSpec, decode, render
from pixelproof.mock.errors import ApiError
from pixelproof.mock.jsonresp import JSONResponse
from pixelproof.mock.recorder import servable
from pixelproof.mock.stack_process import SWITCH_INTERVAL_S, stack_process
from pixelproof.mock.strict_json import strict_json
from pixelproof.plan import Probe, _sample_ref
from pixelproof.resources import suites_dir
from pixelproof.samples import sample_b64, sample_bytes, sample_streamed
from pixelproof.target import embedded_profile


def _png_with_idat(idat: bytes, width: int = 64, height: int = 64) -> bytes:
    """A PNG whose every chunk CRC is right, whatever the IDAT holds."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(data, zlib.crc32(kind)) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_truncated_and_corrupted_pngs_fail_at_decode() -> None:
    good = render(RenderSpec(Size(256, 128), "png", watermark=True))
    assert decode(good).size == Size(256, 128)
    with pytest.raises(ImageError):
        decode(good[: len(good) // 2])  # cut in the middle of the data
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x01  # one bit changed in flight: its chunk CRC no longer holds
    with pytest.raises(ImageError):
        decode(bytes(flipped))


def test_pixels_are_decoded_when_a_verdict_asks() -> None:
    marked = decode(render(RenderSpec(Size(256, 128), "png", watermark=True)))
    plain = decode(render(RenderSpec(Size(256, 128), "png", transparent=True)))
    assert marked.watermarked
    assert not marked.transparent_pixels
    assert not plain.watermarked
    assert plain.transparent_pixels


def test_a_structurally_sound_png_whose_pixels_do_not_inflate_is_an_image_error() -> None:
    image = decode(_png_with_idat(b"this is not a zlib stream"))  # header and CRCs are fine
    assert image.size == Size(64, 64)
    with pytest.raises(ImageError, match="does not decode"):
        _ = image.watermarked


def test_a_large_sample_is_a_placeholder_in_the_probe_and_whole_on_the_wire() -> None:
    ref = _sample_ref("big31mb")
    probe = Probe("tasks-action", "task", "POST", "/v1/images/generations",
                  json.dumps({"image_urls": [ref], "prompt": "p {nonce}"}))  # fmt: skip
    assert len(probe.body) < 200
    sent = probe.json_body("n1")
    assert sent["prompt"] == "p n1"
    b64, raw = sample_b64("big31mb"), sample_bytes("big31mb")  # made afresh at each call: once
    assert sent["image_urls"][0].text() == b64
    assert len(sent["image_urls"][0]) == len(b64)
    assert len(raw) > 31 * 1024 * 1024
    assert decode(raw).size == Size(64, 64)


def test_a_streamed_body_is_the_json_httpx_would_send_whole() -> None:
    seen: dict[str, Any] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["body"], seen["headers"] = request.read(), request.headers
        return httpx.Response(200, json={})

    client = Client("http://127.0.0.1:9", None, 30, transport=httpx.MockTransport(handler))
    body = {"prompt": 'un chat — 猫 "q"', "image_urls": [sample_streamed("big31mb")], "n": 1}
    exchange = client.send("POST", "/v1/images/generations", json_body=body)
    assert exchange.status == 200, exchange.error
    b64 = sample_b64("big31mb")  # made afresh at each call (41 MB): once here
    whole = {**body, "image_urls": [b64]}
    assert seen["body"] == httpx.Request("POST", "http://x", json=whole).content
    assert seen["headers"]["content-length"] == str(len(seen["body"]))
    assert seen["headers"]["content-type"] == "application/json"
    shown = exchange.request_json["image_urls"][0]
    assert shown == b64[:40] + f"...({len(b64)} chars)"


@pytest.mark.parametrize(
    "content",
    [
        {"data": [{"b64_json": "iVBOR" * 5000, "revised_prompt": "un chat — 猫"}], "created": 1},
        {"error": {"message": 'quote " and \\ backslash', "code": None, "param": [1, 2.5, True]}},
        {1: "integer keys fall back to the standard encoder"},
    ],
)
def test_json_answers_are_the_bytes_starlette_writes(content: object) -> None:
    ours = JSONResponse(content).body
    assert ours == StarletteJSON(content).body


@pytest.mark.parametrize(
    "text",
    ["", "QUJD", "QUJDRA==", "QUJDREU=", "data:image/png;base64,QUJDREVGR0g=", "QUJD" * 7 + "QQ==",
     "QQ==QUJD", "QUJD QUJD", "QUJDRA=", "QUJ*", "QUJDR", "QUJDRA==QUJDRA==", "QUJDé"],
)  # fmt: skip
def test_measuring_base64_in_slices_agrees_with_decoding_it_whole(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(images, "_B64_STEP", 8)  # slice boundaries inside every case above
    try:
        whole: bytes | None = images.b64decode_strict(text)
    except ImageError:
        whole = None
    if whole is None:
        with pytest.raises(ImageError):
            images.b64_measure(text, keep=5)
    else:
        assert images.b64_measure(text, keep=5) == (len(whole), whole[:5])


@pytest.mark.parametrize(
    "text",
    ["a" * 5000, "猫" * 3000 + "\ud800" + "b" * 2000, "\udfff" * 1500, "x" * (3 << 20)],
    ids=["ascii", "surrogate-inside", "escapes-past-the-limit", "3M-ascii"],
)
def test_the_recorder_summary_of_a_long_string_is_that_of_its_escaped_text(text: str) -> None:
    escaped = text.encode("utf-8", "backslashreplace").decode("utf-8")
    digest = hashlib.sha256(escaped.encode("utf-8")).hexdigest()[:16]
    expected = f"[{len(escaped)} chars, sha256 {digest}] {escaped[:256]} ... {escaped[-256:]}"
    assert servable(text) == expected


def test_a_json_body_buffer_is_freed_once_decoded_and_its_value_kept() -> None:
    body = bytearray(json.dumps({"image": "QUJD" * 1000, "prompt": "猫"}).encode())
    assert strict_json(body) == {"image": "QUJD" * 1000, "prompt": "猫"}
    assert body == bytearray()
    with pytest.raises(ApiError, match="lone surrogate"):
        strict_json(bytearray(b'{"p": "\\ud800"}'))


def test_a_small_sample_placeholder_is_its_base64_in_the_body() -> None:
    probe = Probe("tasks-action", "task", "POST", "/v1/images/generations",
                  json.dumps({"image_urls": ["{sample:png512}"], "prompt": "p {nonce}"}))  # fmt: skip
    assert probe.json_body("n1")["image_urls"] == [sample_b64("png512")]


@pytest.mark.parametrize(
    "size", [(1, 1), (2, 3), (7, 5), (63, 30), (65, 29), (512, 512), (1536, 1024), (3840, 2160)]
)
def test_the_fast_png_is_pixel_for_pixel_pillows_drawing(size: tuple[int, int]) -> None:
    """Compared with Pillow's drawing itself (images.drawn), not with a PNG Pillow encoded and
    decoded again: the same pixels (PNG is lossless), without ~0.2 CPU-s per 4K image."""
    for transparent, watermark, shade in [(False, False, 0), (True, True, 7), (False, True, 15)]:
        spec = RenderSpec(Size(*size), "png", transparent, watermark, shade)
        fast, pillows = render(spec), images.drawn(spec)
        with Image.open(io.BytesIO(fast)) as ours:
            assert (ours.mode, ours.size) == (pillows.mode, pillows.size)
            assert ours.tobytes() == pillows.tobytes(), (size, transparent, watermark, shade)
        assert decode(fast).size == Size(*size)  # every chunk CRC checked
        idat = fast[fast.index(b"IDAT") + 4 : fast.index(b"IEND") - 8]
        rows = zlib.decompress(idat)  # zlib checks the combined Adler-32 at the end
        channels = 4 if transparent else 3
        assert len(rows) == size[1] * (size[0] * channels + 1)


def test_a_jpeg_is_read_through_its_last_scan_and_its_pixels_decoded_in_full_when_asked() -> None:
    whole = images.render_pillow(RenderSpec(Size(1536, 1024), "jpeg", watermark=True))
    image = decode(whole)
    assert (image.format, image.size, image.mode) == ("jpeg", Size(1536, 1024), "RGB")
    assert image.watermarked  # the 6 px cells need full-scale pixels: decoded for the verdict
    for cut in (len(whole) // 2, len(whole) - 100):  # cut inside the entropy-coded data
        with pytest.raises(ImageError, match="does not decode"):
            decode(whole[:cut])


class _Collected:
    """The node ids a nested pytest session collected: before any plugin reorders or drops them
    (this hook runs first) and as the session will run them."""

    def __init__(self) -> None:
        self.before: list[str] = []
        self.ids: list[str] = []

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self.before = [item.nodeid for item in items]

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.ids = [item.nodeid for item in session.items]


def test_the_case_carrying_a_large_sample_is_run_first_and_nothing_else_moves(
    tmp_path: Path, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plugin's own ordering, read from a real collection of the suites, nested in this
    process (as pytester's in-process runs are): the order before the plugin's hook is the
    order the other cases keep. Collected for the embedded profile's claims (every surface and
    model, as a run without --target plans) from a profile file: nothing is sent while
    collecting, so no stack is started for it (without --target, each collection started the
    stack's process, ~0.7 CPU-s, to stop it unused)."""
    monkeypatch.setenv("PP_ORDER_KEY", "k")
    claims = embedded_profile(
        catalogue, "http://127.0.0.1:1", "http://127.0.0.1:2", "PP_ORDER_KEY", 1000
    )
    target = tmp_path / "target.json"
    target.write_text(claims.model_dump_json(exclude_defaults=True))
    for fuzz in ("off", "full"):  # with nothing to drop (fuzzing on) too
        grab = _Collected()
        code = pytest.main([str(suites_dir()), "-p", "no:cacheprovider", "--collect-only", "-q",
                            "--pixelproof-target", str(target), "--pixelproof-fuzz", fuzz],
                           plugins=[grab])  # fmt: skip
        assert code == 0
        first = grab.ids[0]
        assert first.endswith("test_reference_constraints[refs.tasks-action.30mb]")
        assert grab.before.index(first) > 0, "collected first anyway: the move is not shown"
        kept = set(grab.ids)
        # the other cases keep the order they were collected in
        assert grab.ids[1:] == [i for i in grab.before if i in kept and i != first]


@pytest.mark.parametrize("transparent", [False, True])
def test_a_webp_answer_holds_exactly_the_pixels_drawn(transparent: bool) -> None:
    spec = RenderSpec(Size(640, 360), "webp", transparent=transparent, watermark=True)
    data = render(spec)
    image = decode(data)
    assert (image.format, image.size) == ("webp", Size(640, 360))
    assert image.watermarked
    assert image.transparent_pixels == transparent
    png = render(RenderSpec(Size(640, 360), "png", transparent=transparent, watermark=True))
    with Image.open(io.BytesIO(data)) as ours, Image.open(io.BytesIO(png)) as reference:
        assert ours.convert(reference.mode).tobytes() == reference.tobytes()


def test_the_stack_process_is_known_at_once_serves_once_ready_and_ends_with_the_block() -> None:
    """wait=False, as a run starts it: the URLs come at once (the sockets are bound here), a
    request sent before ``ready`` waits in the backlog and is answered once the child serves;
    then it serves a generation with its key and its recorder, and ends with the block. One
    process for all of it: each stack process costs ~0.6 CPU-s to start (wait=True, which no
    caller uses, only calls ``ready`` itself)."""
    with stack_process(api_key="k-test", wait=False, parallel=True) as stack:
        pid = stack.pid
        answer = httpx.get(stack.upstream.url + "/__pixelproof/health", timeout=60, verify=False)
        assert answer.status_code == 200
        stack.ready()
        stack.ready()  # once is enough; again is a no-op
        # several senders: the short switch interval. Read once it serves: just after exec the
        # kernel shows an empty command line for a moment (the suite caught that once)
        if os.path.exists(f"/proc/{pid}/cmdline"):
            argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            assert argv[argv.index(b"--switch-interval") + 1] == str(SWITCH_INTERVAL_S).encode()
        answer = httpx.post(stack.gateway.url + "/v1/images/generations", timeout=60, verify=False,
                            headers={"Authorization": "Bearer k-test"},
                            json={"model": "gpt-image-2", "prompt": "hi", "size": "1024x1024"})  # fmt: skip
        assert answer.status_code == 200, answer.text[:300]
        assert (
            httpx.get(
                stack.upstream.url + "/__pixelproof/requests", timeout=30, verify=False
            ).status_code
            == 200
        )
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_stack_process_that_dies_before_serving_is_a_clear_error() -> None:
    """A child that cannot start (here: a fault no mock knows) makes ``ready`` raise, and its
    ports refuse from then on rather than hold a connection until its timeout."""
    with stack_process(faults=frozenset({"no-such-fault"}), wait=False) as stack:
        with pytest.raises(RuntimeError, match=r"ended .* before serving"):
            stack.ready()
        with pytest.raises(httpx.ConnectError):
            httpx.get(stack.gateway.url + "/__pixelproof/health", timeout=5, verify=False)
