"""Preflight: an unreachable surface or recorder is one line each and exit 3, before any suite.

Both runs are in this process (conftest.pixelproof_inprocess): the console entry point itself is
covered by test_cli_rules and test_run_cli."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

import hostile
from conftest import pixelproof_inprocess
from pixelproof.mock.server import Stack, embedded_stack
from pixelproof.preflight import preflight
from pixelproof.target import Profile

KEY = "pp-preflight-key"


def run(
    tmp_path: Path, profile: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> tuple[subprocess.CompletedProcess[str], float]:
    path = tmp_path / "target.yaml"
    path.write_text(yaml.safe_dump(profile))
    monkeypatch.setenv("PP_PREFLIGHT_KEY", KEY)
    started = time.monotonic()
    done = pixelproof_inprocess("run", "--target", str(path), "--report-dir",
                                str(tmp_path / "reports"), "--run-id", "r")  # fmt: skip
    return done, time.monotonic() - started


def test_closed_ports_exit_3_in_seconds_one_line_each(
    tmp_path: Path, closed_port: int, closed_port_2: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = f"http://127.0.0.1:{closed_port}"
    done, elapsed = run(tmp_path, {
        "surfaces": {"unified": {"base_url": base, "models": ["gpt-image-2"]},
                     "gemini": {"base_url": base, "models": ["gemini-2.5-flash-image-preview"]}},
        "recorder": f"http://127.0.0.1:{closed_port_2}", "timeout_s": 30,
    }, monkeypatch)  # fmt: skip
    assert done.returncode == 3, done.stdout[-2000:] + done.stderr[-2000:]
    unreachable = [line for line in done.stderr.splitlines() if "unreachable" in line]
    assert unreachable == [
        f"pixelproof: surfaces gemini, unified at {base} unreachable: ConnectError: [Errno 111] Connection refused",
        f"pixelproof: recorder at http://127.0.0.1:{closed_port_2} unreachable: ConnectError: [Errno 111] Connection refused",
    ]
    assert "ConnectError" not in done.stdout, "no suite ran, so no per-test errors"
    assert elapsed < 30, f"preflight took {elapsed:.1f} s"
    report = tmp_path / "reports" / "r"
    assert not (report / "junit.xml").exists(), "no suite was run"
    data = json.loads((report / "run.json").read_text())
    assert data["counts"]["error"] == 2
    assert data["counts"]["passed"] == 0
    assert data["exit_code"] == 3


def test_an_unreachable_url_s_password_is_not_printed(
    tmp_path: Path, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A base URL with userinfo: the line and every report show it redacted (it was printed
    whole, stderr and run.json alike, where a reachable run's reports redacted it)."""
    base = f"http://user:pp-url-secret-99@127.0.0.1:{closed_port}"
    done, _ = run(tmp_path, {"surfaces": {"unified": {"base_url": base, "models": ["gpt-image-2"]}}},
                  monkeypatch)  # fmt: skip
    assert done.returncode == 3, done.stderr[-2000:]
    assert f"at http://[redacted]@127.0.0.1:{closed_port} unreachable" in done.stderr
    files = [p for p in (tmp_path / "reports" / "r").rglob("*") if p.is_file()]
    assert files
    assert [str(p) for p in files if b"pp-url-secret" in p.read_bytes()] == []
    assert "pp-url-secret" not in done.stdout + done.stderr


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with embedded_stack(time_scale=1000, api_key=KEY) as running:
        yield running


def test_a_dead_recorder_stops_the_run_before_any_suite(
    tmp_path: Path, stack: Stack, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "target.yaml"
    path.write_text(yaml.safe_dump({
        "surfaces": {"unified": {"base_url": stack.gateway.url, "models": ["gpt-image-2"]}},
        "credentials": {"env": "PP_PREFLIGHT_KEY"},
        "recorder": f"http://127.0.0.1:{closed_port}",
    }))  # fmt: skip
    monkeypatch.setenv("PP_PREFLIGHT_KEY", KEY)
    done = pixelproof_inprocess("run", "--target", str(path), "--report-dir",
                                str(tmp_path / "reports"), "--run-id", "r")  # fmt: skip
    assert done.returncode == 3, done.stdout[-2000:] + done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if "unreachable" in line]
    assert len(lines) == 1
    assert lines[0].startswith(
        f"pixelproof: recorder at http://127.0.0.1:{closed_port} unreachable"
    )


class _NotFound(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(404)
        self.send_header("content-type", "text/plain")
        self.end_headers()
        self.wfile.write(b"nothing here")

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def not_found_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    # a short poll: shutdown() waits for the loop to look (0.5 s by default)
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_any_answer_is_reachable_but_a_recorder_must_speak_its_api(not_found_server: str) -> None:
    profile = Profile.model_validate({
        "surfaces": {"unified": {"base_url": not_found_server, "models": ["gpt-image-2"]}},
        "recorder": not_found_server,
    })  # fmt: skip
    problems = preflight(profile)
    assert [(p.what, p.why) for p in problems] == [
        ("recorder", "answered 404, not the pixelproof recorder API")
    ]


def test_a_live_stack_passes_preflight(stack: Stack) -> None:
    profile = Profile.model_validate({
        "surfaces": {"unified": {"base_url": stack.gateway.url, "models": ["gpt-image-2"]}},
        "recorder": stack.upstream.url,
    })  # fmt: skip
    assert preflight(profile) == []


@pytest.mark.parametrize(
    ("sig", "ignored"),
    [(signal.SIGINT, False), (signal.SIGTERM, False), (signal.SIGINT, True)],
    ids=["ctrl-c", "sigterm", "ctrl-c-in-a-process-started-ignoring-it"],
)
def test_a_run_interrupted_in_its_preflight_leaves_no_empty_directory(
    tmp_path: Path, sig: int, ignored: bool
) -> None:
    """Against a target that accepts and never answers: the interrupt ends the preflight with
    exit 130 and one line; the run directory it had made was left empty ("interrupted", no
    report, an empty reports/<id>/), and a SIGTERM there ended the process with no word."""
    connected = threading.Event()

    def hang_once_seen(sock: object) -> None:
        connected.set()
        hostile.hang(sock)  # type: ignore[arg-type]

    with hostile.serve(hang_once_seen) as url:
        profile = tmp_path / "p.yaml"
        profile.write_text(
            yaml.safe_dump({"surfaces": {"unified": {"base_url": url, "models": ["gpt-image-2"]}}})
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "pixelproof.cli", "run", "--target", str(profile),
             "--report-dir", str(tmp_path / "reports"), "--run-id", "r"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            # started as a background job is (SIGINT ignored): the run still takes its Ctrl-C
            preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignored else None,
        )  # fmt: skip
        # the preflight has connected and waits for its answer (the 8 s bound): a signal sent
        # on a timer instead could land before the run got there on a loaded CI machine
        assert connected.wait(60), proc.communicate(timeout=30)
        time.sleep(0.2)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out[-2000:] + err[-2000:]
    assert "interrupted during the preflight: nothing was run, no report written" in err
    assert not (tmp_path / "reports").exists()
