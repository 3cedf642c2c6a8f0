"""`pixelproof run` end to end, as a user runs it: real servers, real reports. The runs go through
the same `main` in this process (conftest.pixelproof_inprocess); the Ctrl-C test keeps a real
child, since it is about the process (its exit on a signal).
A clean run through xdist is test_xdist_requests.py's; every rule kept on the clean stack,
test_selfcheck.py's; a `--fault` run failing and naming its rule (junit.xml, run.json, the
terminal), test_reports.py's faulty run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import EVERY_WAY_TO_RUN, pixelproof_inprocess, served_profile
from pixelproof.catalogue import Catalogue
from pixelproof.target import load_profile

REPO = Path(__file__).resolve().parents[1]
KEY_ENV, KEY = "PP_RUN_CLI_KEY", "pp-run-cli-key-0123456789"


pixelproof = pixelproof_inprocess


def test_bad_profile_exits_2_naming_file_and_key(tmp_path: Path) -> None:
    profile = tmp_path / "bad.yaml"
    profile.write_text(
        "surfaces:\n  unified:\n    base_url: not a url\n    models: [gpt-image-2]\n"
    )
    result = pixelproof("run", "--target", str(profile))
    assert result.returncode == 2
    assert "bad.yaml" in result.stderr
    assert "surfaces.unified.base_url" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_model_in_profile_exits_2(tmp_path: Path) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text(
        "surfaces:\n  unified:\n    base_url: http://127.0.0.1:9\n    models: [gpt-9]\n"
    )
    result = pixelproof("run", "--target", str(profile))
    assert result.returncode == 2
    assert "'gpt-9' is not documented on unified" in result.stderr


def test_unreachable_target_is_exit_3_with_a_report(tmp_path: Path) -> None:
    profile = tmp_path / "down.yaml"
    profile.write_text(
        "surfaces:\n  unified:\n    base_url: http://127.0.0.1:9\n    models: [gpt-image-2]\ntimeout_s: 2\n"
    )
    result = pixelproof(
        "run",
        "--target",
        str(profile),
        "--rules",
        "n.*",
        "--report-dir",
        str(tmp_path),
        "--run-id",
        "down",
    )
    assert result.returncode == 3, result.stdout[-2000:]
    data = json.loads((tmp_path / "down" / "run.json").read_text())
    assert data["counts"]["error"] >= 1
    assert data["counts"]["failed"] == 0


def test_unknown_fault_exits_2() -> None:
    result = pixelproof("run", "--fault", "no-such-fault")
    assert result.returncode == 2
    assert "unknown fault(s): no-such-fault" in result.stderr


def _served_here(faults: frozenset[str], folder: Path) -> Iterator[Path]:
    with served_profile(folder, KEY_ENV, KEY, faults) as path:
        yield path


@pytest.fixture(scope="module")
def slow_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """With the ``slow`` fault (the Ctrl-C test is about the child's exit)."""
    yield from _served_here(frozenset({"slow"}), tmp_path_factory.mktemp("slow"))


@pytest.fixture
def clean_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Without faults, its key in the environment for the in-process runs."""
    monkeypatch.setenv(KEY_ENV, KEY)
    yield from _served_here(frozenset(), tmp_path)


@pytest.mark.parametrize(
    ("workers", "to_a_worker", "sig"),
    [([], False, signal.SIGINT), (["-n", "2"], False, signal.SIGINT),
     (["-n", "2"], True, signal.SIGINT), (["-n", "2", "--", "-p", "ignore_sigint"], False, signal.SIGINT),
     ([], False, signal.SIGTERM), (["-n", "2"], False, signal.SIGTERM)],
    ids=["serial", "forked-workers", "one-worker-only", "workers-ignoring-it", "sigterm-serial",
         "sigterm-forked-workers"],
)  # fmt: skip
def test_ctrl_c_still_writes_the_report(
    tmp_path: Path, slow_target: Path, workers: list[str], to_a_worker: bool, sig: int
) -> None:
    # A real SIGINT, to the command alone (with -n 2 it passes it on to its workers), or to
    # one of its workers alone (the worker tells the command: the run is interrupted, not a
    # worker crashed and was replaced); workers that ignore it are killed after a grace period.
    # A SIGTERM (a CI job cancelled or timed out) is the same interruption: before, it ended the
    # command at once with no run.json, junit.xml or summary.md. Not timing-dependent: output is unbuffered and verbose, so the first suite
    # line arrives as the first case ends (without -v a file's line ends only when its last case
    # does, and the order of files is not fixed: once the one-case file came last and the signal
    # landed in the run's final case), and every answer of the `slow` fault takes 2 s, so the run
    # cannot have finished before the signal lands.
    proc = subprocess.Popen(
        [sys.executable, "-m", "pixelproof.cli", "run", "--target", str(slow_target), "--rules", "size.*",
         "--fuzz", "off", "-v", "--report-dir", str(tmp_path), "--run-id", "stopped", *workers],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", KEY_ENV: KEY, "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).parent), *filter(None, [os.environ.get("PYTHONPATH")])])},
    )  # fmt: skip
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 120
        for line in proc.stdout:  # wait until tests are running, then interrupt
            seen.append(line)
            if ".py::" in line or time.monotonic() > deadline:
                break
        # the workers (the command's only children with --target) run: the Ctrl-C is theirs too
        kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert len(kids) == (2 if workers else 0), kids
        os.kill(int(kids[0]), sig) if to_a_worker else proc.send_signal(sig)
        seen.append(proc.communicate(timeout=60)[0])
    finally:
        if proc.poll() is None:  # a failed test leaves no run behind
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, "".join(seen)[-3000:]
    assert (tmp_path / "stopped" / "run.json").is_file()
    assert (tmp_path / "stopped" / "summary.md").is_file()
    run = json.loads((tmp_path / "stopped" / "run.json").read_text())
    assert run["interrupted"], "an interrupted run says so"
    assert run["exit_code"] == 130
    # no worker outlives the command (a worker's command line is the command's: a fork)
    left = [p for p in Path("/proc").glob("[0-9]*") if _cmdline_has(p, str(tmp_path))]
    assert left == [], [(p.name, (p / "cmdline").read_bytes()) for p in left]


def _cmdline_has(proc: Path, text: str) -> bool:
    try:
        return text.encode() in (proc / "cmdline").read_bytes()
    except OSError:  # it ended meanwhile
        return False


@pytest.mark.parametrize("name", ["local-gateway.yaml", "official-channel.yaml"])
def test_example_profiles_validate(
    name: str, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_API_KEY", "x")
    monkeypatch.setenv("OFFICIAL_CHANNEL_KEY", "x")
    profile = load_profile(REPO / "fixtures" / "targets" / name, catalogue)
    assert profile.surfaces


def test_pytests_logging_is_there_when_the_arguments_after_dashes_ask(
    tmp_path: Path, clean_target: Path
) -> None:
    """A run leaves pytest's logging plugin out (cli/runner.py per_test_plugins) unless the
    arguments after `--` ask for it: live logs then show, as with plain pytest."""
    args = ["run", "--target", str(clean_target), "--rules", "n.default.zero", "--fuzz", "off",
            "--report-dir", str(tmp_path)]  # fmt: skip
    plain = pixelproof_inprocess(*args, "--run-id", "plain")
    assert plain.returncode == 0, plain.stdout[-2000:]
    assert "HTTP Request" not in plain.stdout
    logged = pixelproof_inprocess(*args, "--run-id", "logged", "--", "--log-cli-level=INFO")
    assert logged.returncode == 0, logged.stdout[-2000:] + logged.stderr[-2000:]
    assert "live log" in logged.stdout
    assert "HTTP Request: POST http://127.0.0.1:" in logged.stdout


def test_a_run_reads_no_pytest_configuration_of_the_project_around_it(
    tmp_path: Path, clean_target: Path
) -> None:
    """The package installed in a project's own virtual environment (``./.venv`` beside the
    project's pyproject.toml, a common layout): pytest looked for its configuration upwards from
    the suites, found the project's, and took its addopts and its conftest.py; the run ended in a
    traceback with exit 1, the code for broken promises. The suites now bring their own (-c).
    Held to a stack served here: where pytest looks is the point, not the default stack."""
    import pixelproof

    project = tmp_path / "project"
    site = project / ".venv" / "site-packages"
    shutil.copytree(Path(pixelproof.__file__).parent, site / "pixelproof")  # links followed
    (project / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\naddopts = "-p a_plugin_of_the_project"\n'
    )
    (project / "conftest.py").write_text("raise RuntimeError('the project conftest ran')\n")
    done = subprocess.run(
        [sys.executable, "-P", "-m", "pixelproof.cli", "run", "--target", str(clean_target),
         "--rules", "size.gpt-image-2.*", "--fuzz", "off", "--report-dir", str(tmp_path / "reports"),
         "--run-id", "r"],
        cwd=project, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(site)},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    run = json.loads((tmp_path / "reports" / "r" / "run.json").read_text())
    assert run["counts"]["passed"] > 0
    assert str(site / "pixelproof") in done.stdout  # this copy's suites ran, not the checkout's


@pytest.fixture(scope="module")
def broken_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The reference stack served here with a fault that breaks the fallback rules."""
    with served_profile(
        tmp_path_factory.mktemp("broken"), KEY_ENV, KEY, frozenset({"no-ratio-intent"})
    ) as path:
        yield path


@EVERY_WAY_TO_RUN
def test_a_run_stopped_at_its_first_failure_says_what_it_did_not_run(
    broken_target: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: list[str]
) -> None:
    """`-- -x`: the broken promise is the verdict (exit 1), and every report says the run stopped
    early and how many of its cases it ran: the per-level scores are how far it got, not kept.
    Under xdist, which ends the session by raising its Interrupted, it was exit 130 and
    "interrupted: not a verdict"."""
    monkeypatch.setenv(KEY_ENV, KEY)
    done = pixelproof(
        "run", "--target", str(broken_target), "--rules", "fallback.*", "--rules", "size.*",
        "--fuzz", "off", "--report-dir", str(tmp_path), "--run-id", "x", *workers,
        *([] if "--" in workers else ["--"]), "-x",
    )  # fmt: skip
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    run = json.loads((tmp_path / "x" / "run.json").read_text())
    stopped = run["stopped_early"]
    assert stopped["after"] == len(run["outcomes"]) < stopped["of"], stopped
    assert "stopping after" in stopped["why"]
    assert f"{stopped['after']} of {stopped['of']} cases run" in done.stderr
    headline = (tmp_path / "x" / "summary.md").read_text().splitlines()[0]
    assert "promises broken; stopped early" in headline, headline
    assert "Per level, stopped early:" in (tmp_path / "x" / "summary.md").read_text()
    page = (tmp_path / "x" / "report.html").read_text()
    assert "stopped early" in page
    assert "cases kept" not in page


def test_a_last_case_reaching_maxfail_stops_nothing(
    broken_target: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One case, and it fails: `-x` stops after it, having skipped nothing; the run is not
    "stopped early" (its scores were marked incomplete and trend left it out)."""
    monkeypatch.setenv(KEY_ENV, KEY)
    done = pixelproof(
        "run", "--target", str(broken_target), "--rules", "fallback.gpt-image-2.16:9",
        "--fuzz", "off", "--report-dir", str(tmp_path), "--run-id", "one", "--", "-x",
    )  # fmt: skip
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    run = json.loads((tmp_path / "one" / "run.json").read_text())
    assert [o["outcome"] for o in run["outcomes"] if o["kind"] != "profile"] == ["failed"]
    assert "stopped_early" not in run
    assert "stopped early" not in (tmp_path / "one" / "summary.md").read_text()


def test_a_run_that_ran_to_its_end_says_nothing_of_stopping(
    broken_target: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    done = pixelproof(
        "run", "--target", str(broken_target), "--rules", "fallback.gpt-image-2.*",
        "--fuzz", "off", "--report-dir", str(tmp_path), "--run-id", "all",
    )  # fmt: skip
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    run = json.loads((tmp_path / "all" / "run.json").read_text())
    assert "stopped_early" not in run
    assert "stopped early" not in (tmp_path / "all" / "summary.md").read_text()
