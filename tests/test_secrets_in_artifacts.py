"""A sentinel key, sent in a custom header or in a query parameter, appears in no artifact of a
run (junit.xml, run.json, report.html, summary.md, allure files, fuzz findings, stdout, stderr),
even when the target echoes the request back into every answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import hostile
from conftest import pixelproof_inprocess

SENTINEL = "pp-sentinel-7c1d93ab55"
received: list[bytes] = []


def _echo(sock: object) -> None:
    """200 with the whole request head (credentials included) echoed in a JSON body."""
    head = hostile.read_request(sock)  # type: ignore[arg-type]
    received.append(head)
    text = head.decode("latin-1")
    body = json.dumps({"error": {"message": f"you sent {text}", "type": "echo"}, "echo": text})
    sock.sendall(hostile.answer(200, body.encode()))  # type: ignore[attr-defined]


def _inprocess(args: list[str], capfd: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """The run through the same `main` in this process: its stdout and stderr, and whatever
    reached file descriptors 1 and 2 around them."""
    capfd.readouterr()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PP_SENTINEL_KEY", SENTINEL)
        done = pixelproof_inprocess(*args)
    escaped = capfd.readouterr()
    return done.returncode, done.stdout + done.stderr + escaped.out + escaped.err


@pytest.mark.parametrize(
    "credentials",
    [
        {"env": "PP_SENTINEL_KEY", "header": "X-Auth-Token", "scheme": ""},
        {"env": "PP_SENTINEL_KEY", "query": "key"},
    ],
    ids=["custom-header", "query-parameter"],
)
def test_sentinel_key_appears_in_no_artifact(
    tmp_path: Path, credentials: dict[str, str], capfd: pytest.CaptureFixture[str]
) -> None:
    """Both cases run in this process (the artifacts are the same files as a child's; its
    stdout and stderr are checked at file descriptors 1 and 2 too, where the embedded stack's
    child and anything bypassing sys.stdout write)."""
    received.clear()
    with hostile.serve(_echo) as url:
        profile = {"name": "echo", "surfaces": {"unified": {"base_url": url, "models": ["gpt-image-2"]}},
                   "credentials": credentials, "timeout_s": 5}  # fmt: skip
        (tmp_path / "p.yaml").write_text(json.dumps(profile))
        args = ["run", "--target", str(tmp_path / "p.yaml"), "--rules", "size.gpt-image-2.1:1",
                "--rules", "fuzz.unified.*", "--fuzz", "negative", "--fuzz-budget", "8",
                "--report-dir", str(tmp_path), "--run-id", "r", "-v"]  # fmt: skip
        code, output = _inprocess(args, capfd)
    assert any(SENTINEL.encode() in head for head in received)  # the key really went out
    assert code in (1, 3), output[-2000:]
    report = tmp_path / "r"
    files = [p for p in report.rglob("*") if p.is_file()]
    assert {"junit.xml", "run.json", "report.html", "summary.md"} <= {p.name for p in files}
    assert any("allure-results" in str(p) for p in files)
    leaks = [str(p) for p in files if SENTINEL.encode() in p.read_bytes()]
    assert leaks == []
    assert SENTINEL not in output  # stdout and stderr
    assert "[redacted]" in (report / "run.json").read_text()
