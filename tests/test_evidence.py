"""Evidence first: what the harness could not observe is an error, an answer is judged.

A dead recorder makes the forwarding rules errors (never failures); a documented request
answered 5xx (or with a body that is not JSON) twice in a row is a broken promise; a 5xx that
does not repeat is an error. Each against a real loopback server.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from PIL import Image

from pixelproof.catalogue import Catalogue
from pixelproof.judging.evaluate import evaluate
from pixelproof.mock.server import Stack, embedded_stack
from pixelproof.observe import Observer
from pixelproof.plan import cases_for
from pixelproof.resources import suites_dir
from pixelproof.target import Profile, embedded_profile

KEY_ENV = "PIXELPROOF_EVIDENCE_KEY"
KEY = "pp-evidence-key-0123456789"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with embedded_stack(time_scale=1000, api_key=KEY) as running:
        yield running


def judge_rules(
    catalogue: Catalogue, profile: Profile, rules: set[str]
) -> dict[str, tuple[str, str]]:
    cases = [c for c in cases_for(catalogue, profile) if c.rule.id in rules]
    assert {c.rule.id for c in cases} == rules
    observer = Observer(catalogue, profile)
    try:
        return evaluate(observer, cases)
    finally:
        observer.close()


def test_a_dead_recorder_makes_forwarding_rules_errors(
    stack: Stack, catalogue: Catalogue, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    profile = embedded_profile(catalogue, stack.gateway.url, stack.upstream.url, KEY_ENV, 1000)
    profile = profile.model_copy(update={"recorder": f"http://127.0.0.1:{closed_port}"})
    rules = {"watermark.false.forwarded", "n.default.zero.forwarded", "fallback.gpt-image-2.16:9"}
    outcomes = judge_rules(catalogue, profile, rules)
    assert outcomes
    assert {o for o, _ in outcomes.values()} == {"error"}, outcomes
    for _, message in outcomes.values():
        assert "what reached the upstream is unknown" in message
        assert "recorder unavailable" in message


# ------------------------------------------------------------------ a gateway that answers badly
def _png_b64() -> str:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 30)).save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


GOOD = json.dumps({"created": 1, "data": [{"b64_json": _png_b64()}]}).encode()
Script = Callable[[int], tuple[int, str, bytes]]  # call number -> (status, content type, body)


def _serve(script: Script) -> tuple[ThreadingHTTPServer, list[int]]:
    calls: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            calls.append(1)
            status, kind, body = script(len(calls))
            self.send_response(status)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # a short poll: shutdown() waits for the loop to look (0.5 s by default)
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    return server, calls


@pytest.fixture
def scripted() -> Iterator[Callable[[Script], tuple[Profile, list[int]]]]:
    servers: list[ThreadingHTTPServer] = []

    def start(script: Script) -> tuple[Profile, list[int]]:
        server, calls = _serve(script)
        servers.append(server)
        url = f"http://127.0.0.1:{server.server_address[1]}"
        profile = Profile.model_validate(
            {"surfaces": {"unified": {"base_url": url, "models": ["gpt-image-2"]}}, "timeout_s": 5}
        )
        return profile, calls

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


ERROR_500 = (500, "application/json", b'{"error": {"message": "boom", "type": "server_error"}}')


def test_a_5xx_twice_in_a_row_is_a_broken_promise(
    scripted: Callable[[Script], tuple[Profile, list[int]]], catalogue: Catalogue
) -> None:
    profile, calls = scripted(lambda n: ERROR_500)
    outcomes = judge_rules(catalogue, profile, {"n.default.zero"})
    [(outcome, message)] = outcomes.values()
    assert outcome == "failed", message
    assert "expected: the request is accepted (2xx)" in message
    assert "observed: 500" in message
    assert len(calls) == 2, "asked once more, not more"


def test_a_5xx_that_does_not_repeat_is_an_error(
    scripted: Callable[[Script], tuple[Profile, list[int]]], catalogue: Catalogue
) -> None:
    profile, calls = scripted(lambda n: ERROR_500 if n == 1 else (200, "application/json", GOOD))
    outcomes = judge_rules(catalogue, profile, {"n.default.zero"})
    [(outcome, message)] = outcomes.values()
    assert outcome == "error", message
    assert "answered 500, then 200" in message
    assert "does not repeat" in message
    assert len(calls) == 2


def test_a_body_that_is_not_json_twice_is_a_broken_promise(
    scripted: Callable[[Script], tuple[Profile, list[int]]], catalogue: Catalogue
) -> None:
    profile, calls = scripted(lambda n: (200, "application/json", GOOD[: len(GOOD) // 2]))
    outcomes = judge_rules(catalogue, profile, {"n.default.zero"})
    [(outcome, message)] = outcomes.values()
    assert outcome == "failed", message
    assert "expected: a JSON answer to a documented request" in message
    assert len(calls) == 2


def test_a_good_answer_is_asked_once(
    scripted: Callable[[Script], tuple[Profile, list[int]]], catalogue: Catalogue
) -> None:
    profile, calls = scripted(lambda n: (200, "application/json", GOOD))
    outcomes = judge_rules(catalogue, profile, {"n.default.zero"})
    assert [o for o, _ in outcomes.values()] == ["passed"], outcomes
    assert len(calls) == 1


def test_through_pytest_a_dead_recorder_is_an_error_not_a_failure(
    stack: Stack, closed_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plain pytest route (no preflight): the recorder is read in the setup phase. The
    session runs in this process (nested, as pytester's in-process runs are): the route is the
    same ``pytest.main`` a ``python -m pytest`` child would call, without its interpreter start."""
    profile = tmp_path / "target.yaml"
    profile.write_text(yaml.safe_dump({
        "surfaces": {"unified": {"base_url": stack.gateway.url, "models": ["doubao-seedream-4-0-250828"]}},
        "credentials": {"env": KEY_ENV}, "recorder": f"http://127.0.0.1:{closed_port}", "timeout_s": 30,
    }))  # fmt: skip
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.chdir(tmp_path)
    junit = tmp_path / "junit.xml"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = pytest.main([str(suites_dir()), "--pixelproof-target", str(profile),
                            "--pixelproof-rules", "watermark.false.forwarded",
                            "--pixelproof-fuzz", "off", "-p", "no:cacheprovider", "-q",
                            "--junitxml", str(junit)])  # fmt: skip
    stdout = out.getvalue()
    assert code == pytest.ExitCode.TESTS_FAILED, stdout[-2000:]  # an error: pytest's exit 1 too
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None, stdout[-2000:]
    assert (suite.get("errors"), suite.get("failures")) == ("1", "0"), stdout[-2000:]
    assert "recorder unavailable" in stdout


def test_an_image_declaring_more_pixels_than_any_document_is_a_failure_naming_its_size(
    scripted: Callable[[Script], tuple[Profile, list[int]]], catalogue: Catalogue
) -> None:
    """A tiny PNG whose header says 30000x30000: refused before decoding, judged as a failure."""
    import hostile

    bomb = base64.b64encode(hostile.png_header(30000, 30000)).decode()
    body = json.dumps({"created": 1, "data": [{"b64_json": bomb}]}).encode()
    profile, _ = scripted(lambda n: (200, "application/json", body))
    [(outcome, message)] = judge_rules(catalogue, profile, {"n.default.zero"}).values()
    assert outcome == "failed", message
    assert "expected: every image decodes" in message
    assert "30000x30000" in message
