"""A sentinel key, sent in a custom header or in a query parameter, appears in no artifact of a
run (junit.xml, run.json, report.html, summary.md, allure files, fuzz findings, stdout, stderr),
even when the target echoes the request back into every answer: in a JSON error, in an HTML page,
in an error that is a bare string, cut by an excerpt's end, or read from a variable whose value
ends in a newline (the client sends the key without it)."""

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
    text = _heard(sock)
    body = json.dumps({"error": {"message": f"you sent {text}", "type": "echo"}, "echo": text})
    sock.sendall(hostile.answer(200, body.encode()))  # type: ignore[attr-defined]


def _heard(sock: object) -> str:
    head = hostile.read_request(sock)  # type: ignore[arg-type]
    received.append(head)
    return head.decode("latin-1")


def _key_heard(sock: object) -> str:
    """The request's credentials line onwards (the key first), as an error message quotes it."""
    head = _heard(sock)
    at = head.find(SENTINEL)
    return head[at:] if at >= 0 else head


def _html_page(sock: object) -> None:
    """400 with an HTML page quoting the key (no JSON: the excerpt of the raw body)."""
    body = f"<html><body>bad key {_key_heard(sock)}</body></html>".encode()
    sock.sendall(hostile.answer(400, body, "text/html"))  # type: ignore[attr-defined]


def _bare_error(sock: object) -> None:
    """400 whose error is a string quoting the key (no error object)."""
    body = json.dumps({"error": f"unauthorized {_key_heard(sock)}"}).encode()
    sock.sendall(hostile.answer(400, body))  # type: ignore[attr-defined]


def _key_at_the_cut(sock: object) -> None:
    """400, not JSON, with the key starting 70 characters in: an 80-character excerpt cuts it."""
    body = ("x" * 70 + _key_heard(sock)).encode()
    sock.sendall(hostile.answer(400, body, "text/plain"))  # type: ignore[attr-defined]


def _inprocess(
    args: list[str], capfd: pytest.CaptureFixture[str], key: str = SENTINEL
) -> tuple[int, str]:
    """The run through the same `main` in this process: its stdout and stderr, and whatever
    reached file descriptors 1 and 2 around them."""
    capfd.readouterr()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PP_SENTINEL_KEY", key)
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


@pytest.mark.parametrize(
    ("answer", "key"),
    [
        (_html_page, SENTINEL),
        (_bare_error, SENTINEL),
        (_key_at_the_cut, SENTINEL),
        (_echo, SENTINEL + "\n"),
    ],
    ids=["html-page", "bare-string-error", "cut-by-the-excerpt", "key-ending-in-a-newline"],
)
def test_an_echoed_key_is_redacted_wherever_the_answer_puts_it(
    tmp_path: Path, answer: hostile.Behaviour, key: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """Before: the excerpts of a non-JSON body or of an error without an error object were cut
    from the raw body and printed on the terminal (every report file was scrubbed afterwards,
    but the terminal never is), a key cut by the excerpt's end left its first part in every
    file, and a key set with a trailing newline was looked for with it, never matching what the
    target echoed. No fragment of the key may appear either."""
    received.clear()
    with hostile.serve(answer) as url:
        profile = {"name": "echo", "surfaces": {"unified": {"base_url": url, "models": ["gpt-image-2"]}},
                   "credentials": {"env": "PP_SENTINEL_KEY"}, "timeout_s": 5}  # fmt: skip
        (tmp_path / "p.yaml").write_text(json.dumps(profile))
        args = ["run", "--target", str(tmp_path / "p.yaml"), "--rules", "model.unknown",
                "--rules", "model.required", "--rules", "auth.wrong", "--rules", "error.shape.unified.openai", "--fuzz", "off",
                "--report-dir", str(tmp_path), "--run-id", "r", "-v"]  # fmt: skip
        code, output = _inprocess(args, capfd, key)
    assert any(f"Bearer {SENTINEL}\r\n".encode() in head for head in received)  # sent stripped
    assert code == 1, output[-2000:]
    fragment = SENTINEL[:10]
    files = [p for p in (tmp_path / "r").rglob("*") if p.is_file()]
    assert {"junit.xml", "run.json", "summary.md"} <= {p.name for p in files}
    assert [str(p) for p in files if fragment.encode() in p.read_bytes()] == []
    assert fragment not in output, output[-3000:]
