"""Typos in a CI job are usage errors: exit 2, one clear line, no report directory, nothing sent."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from conftest import pixelproof_inprocess


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """In process (the console entry point is covered by test_cli_rules and test_run_cli)."""
    return pixelproof_inprocess(*args)


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--rules", "nomatch*"], "--rules 'nomatch*' matches no rule (closest: "),
        (["--rules", "sizes.gpt-image-2.*"], "(closest: size.gpt-image-2."),
        (["-n", "abc"], "-n/--workers must be a positive number"),
        (["-n", "0"], "-n/--workers must be a positive number"),
    ],
)
def test_run_usage_errors_exit_2_without_a_report(
    args: list[str], says: str, tmp_path: Path
) -> None:
    result = cli("run", *args, "--report-dir", str(tmp_path / "reports"))
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert says in one_line(result.stderr)
    assert not (tmp_path / "reports").exists(), "a usage error writes no report"
    assert "usage:" not in result.stdout + result.stderr


def test_a_glob_matching_only_unclaimed_rules_is_a_usage_error(tmp_path: Path) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text(
        "surfaces:\n  unified:\n    base_url: http://127.0.0.1:9\n    models: [gpt-image-2]\n"
    )
    result = cli("run", "--target", str(profile), "--rules", "jimeng.*",
                 "--report-dir", str(tmp_path / "reports"))  # fmt: skip
    assert result.returncode == 2
    assert "matches only rules the target does not claim" in one_line(result.stderr)
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--kind", "nosuch"], "--kind 'nosuch' is not in the catalogue (closest: "),
        (["--model", "gpt-imag-2"], "(closest: gpt-image-2"),
        (["--surface", "unifed"], "(closest: unified)"),
    ],
)
def test_rules_filters_naming_nothing_exit_2(args: list[str], says: str) -> None:
    result = cli("rules", *args)
    assert result.returncode == 2
    assert says in one_line(result.stderr)
    assert result.stdout == ""


class _Counting(BaseHTTPRequestHandler):
    seen: list[str] = []  # noqa: RUF012 (one server per test)

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        type(self).seen.append(self.path)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def counting_server() -> Iterator[tuple[str, list[str]]]:
    _Counting.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Counting.seen
    finally:
        server.shutdown()
        server.server_close()


def test_plan_needs_no_key_and_sends_nothing(
    tmp_path: Path, counting_server: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, seen = counting_server
    profile = tmp_path / "p.yaml"
    profile.write_text(yaml.safe_dump({
        "surfaces": {"unified": {"base_url": url, "models": ["gpt-image-2"]}},
        "credentials": {"env": "PP_UNSET_KEY_FOR_PLAN"}, "recorder": url,
    }))  # fmt: skip
    monkeypatch.delenv("PP_UNSET_KEY_FOR_PLAN", raising=False)
    result = cli("plan", "--target", str(profile))
    assert result.returncode == 0, result.stderr
    assert "distinct requests" in result.stdout
    assert seen == []


def test_run_still_needs_the_key(tmp_path: Path) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text(yaml.safe_dump({
        "surfaces": {"unified": {"base_url": "http://127.0.0.1:9", "models": ["gpt-image-2"]}},
        "credentials": {"env": "PP_UNSET_KEY_FOR_RUN"},
    }))  # fmt: skip
    result = cli("run", "--target", str(profile), "--report-dir", str(tmp_path / "r"))
    assert result.returncode == 2
    assert "PP_UNSET_KEY_FOR_RUN is not set" in one_line(result.stderr)


UNIFIED = {"base_url": "http://127.0.0.1:9", "models": ["gpt-image-2"]}


@pytest.mark.parametrize(
    ("profile", "key", "says"),
    [
        (b"\x96\xff\x00binary", None, "byte 0: not UTF-8 text"),
        ({"surfaces": {"unified": {**UNIFIED, "headers": {"X-Route": "é中"}}}}, None,
         "header X-Route: its value has a line break, a control character or a non-ASCII"),
        ({"surfaces": {"unified": UNIFIED}, "headers": {"X-Route": "a\r\nX-Evil: 1"}}, None,
         "header X-Route: its value has a line break"),
        ({"surfaces": {"unified": UNIFIED}, "headers": {"X Route": "a"}}, None,
         "header name 'X Route' is not an HTTP token"),
        ({"surfaces": {"unified": UNIFIED}, "credentials": {"env": "PP_BAD_KEY"}},
         "pp-key-1234\r\nX-Evil: 1", "the key in PP_BAD_KEY has a line break"),
    ],
    ids=["not-utf-8", "non-ascii-header", "header-with-a-line-break", "header-name-with-a-space",
         "key-with-a-line-break"],
)  # fmt: skip
def test_a_profile_no_request_could_carry_is_refused_before_anything_runs(
    tmp_path: Path, profile: object, key: str | None, says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit 2 and one line, never a traceback (a binary file was a UnicodeDecodeError, exit 1; a
    non-ASCII header a UnicodeEncodeError mid-preflight, exit 1, an empty run directory; a line
    break in a header or the key an "unreachable" exit 3 quoting the key)."""
    path = tmp_path / "p.yaml"
    if isinstance(profile, bytes):
        path.write_bytes(profile)
    else:
        path.write_text(yaml.safe_dump(profile))
    if key is not None:
        monkeypatch.setenv("PP_BAD_KEY", key)
    result = cli("run", "--target", str(path), "--report-dir", str(tmp_path / "r"))
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert says in one_line(result.stderr)
    assert "pp-key-1234" not in result.stdout + result.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["run", "--budget", "-1"], "argument --budget: must be 0 or more, not -1"),
        (["run", "--fuzz-budget", "-5"], "argument --fuzz-budget: must be 0 or more, not -5"),
        (["run", "--budget", "ten"], "argument --budget: not a whole number: 'ten'"),
        (["run", "--time-scale", "0"], "argument --time-scale: must be a number above 0, not 0"),
        (["run", "--time-scale", "nan"], "argument --time-scale: must be a number above 0"),
        (["run", "--run-id", "../../elsewhere"], "argument --run-id: a plain name"),
        (["run", "--run-id", "a/b"], "argument --run-id: a plain name"),
        (["plan", "--budget", "-3"], "argument --budget: must be 0 or more, not -3"),
        (["mock", "--time-scale", "-1"], "argument --time-scale: must be a number above 0"),
        (["mock", "--port", "99999"], "argument --port: a port is 0-65535, not 99999"),
        (["mock", "--port", "-1"], "argument --port: a port is 0-65535, not -1"),
    ],
)
def test_values_no_run_could_mean_are_refused_by_the_parser(
    args: list[str], says: str, tmp_path: Path
) -> None:
    """`--budget -1` ran and said kept, `--time-scale 0` ended in pytest's INTERNALERROR (a
    traceback, and a report), `--run-id ../../elsewhere` wrote its report outside --report-dir."""
    reports = tmp_path / "reports"
    extra = ["--report-dir", str(reports)] if args[0] == "run" else []
    result = cli(*args, *extra)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert says in result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stdout + result.stderr
    assert not reports.exists()
    assert not (tmp_path / "elsewhere").exists()


def test_the_suites_refuse_them_too(tmp_path: Path) -> None:
    """`pytest suites --pixelproof-budget -2`: pytest's usage error (exit 4), naming the option."""
    import sys

    from pixelproof.resources import suites_dir

    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(suites_dir()), "--pixelproof-budget", "-2", "-q"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]
    assert "argument --pixelproof-budget: must be 0 or more, not -2" in done.stderr


def test_the_suites_refuse_a_bad_profile_as_a_usage_error(tmp_path: Path) -> None:
    """`pytest suites --pixelproof-target FILE` with the key unset: pytest's usage error (exit
    4), one line naming the variable; it was an INTERNALERROR traceback and exit 3."""
    import sys

    from pixelproof.resources import suites_dir

    profile = tmp_path / "p.yaml"
    profile.write_text(yaml.safe_dump({"surfaces": {"unified": UNIFIED},
                                       "credentials": {"env": "PP_UNSET_FOR_SUITES"}}))  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(suites_dir()), "--pixelproof-target", str(profile), "-q"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
        env={k: v for k, v in os.environ.items() if k != "PP_UNSET_FOR_SUITES"},
    )  # fmt: skip
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]
    assert "INTERNALERROR" not in done.stdout + done.stderr
    assert "PP_UNSET_FOR_SUITES is not set" in done.stderr


def test_arguments_pytest_refuses_after_the_dashes_leave_no_report(tmp_path: Path) -> None:
    """`run -- --no-such-flag`: pytest's usage error, exit 2 and, as for every usage error, no
    report (it wrote an empty one, headed "pixelproof: None")."""
    reports = tmp_path / "reports" / "nested"
    result = cli("run", "--report-dir", str(reports), "--fuzz", "off", "--", "--no-such-flag")
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert "unrecognized arguments: --no-such-flag" in result.stdout + result.stderr
    assert "pytest refused the arguments after `--`" in result.stderr
    assert not (tmp_path / "reports").exists()


def test_a_run_id_that_already_holds_a_run_is_refused(tmp_path: Path) -> None:
    """The second run with the same --run-id mixed its Allure results with the first's (12 failed
    results of a run whose summary said "kept") and overwrote its run.json: now exit 2, one line,
    the first run's files as they were."""
    args = ("run", "--fuzz", "off", "--rules", "size.gpt-image-2.1:1",
            "--report-dir", str(tmp_path), "--run-id", "same")  # fmt: skip
    assert cli(*args).returncode == 0
    before = (tmp_path / "same" / "run.json").read_bytes()
    again = cli(*args)
    assert again.returncode == 2, again.stdout[-2000:] + again.stderr[-2000:]
    assert "already holds a run (run.json, junit.xml, summary.md, allure-results)" in one_line(
        again.stderr
    )
    assert (tmp_path / "same" / "run.json").read_bytes() == before
