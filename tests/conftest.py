from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import io
import os
import shutil
import socket
import ssl
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

import pixelproof
import warm_caches
from mock_pairs import MOCK_BASE_URL, MockPair, new_mock_pair
from pixelproof.catalogue import Catalogue, contracts_dir, default_catalogue
from pixelproof.cli.main import main as pixelproof_main
from pixelproof.judging.evaluate import evaluate
from pixelproof.memory import M_MMAP_THRESHOLD, freeze, frozen, keep_for_the_run
from pixelproof.mock import MockConfig, create_app
from pixelproof.mock.faults import FAULT_HEADER
from pixelproof.mock.server import Running, Stack, embedded_stack, start
from pixelproof.observe import Observer
from pixelproof.plan import Case, cases_for
from pixelproof.polling import PollClock
from pixelproof.resources import suites_dir
from pixelproof.target import Profile, embedded_profile

# Longest tests first. pytest-xdist hands tests out in collection order (two at a time, see
# pytest_configure), so a long test collected last (test_xdist_requests, alphabetically) ran alone
# at the end of the run on one worker while the others sat idle. Largest first keeps every worker
# busy to the end; the rest keep their order.
# test_selfcheck is late alphabetically and holds some of the longer cases (ref-bytes-unchecked).
HEAVY_FIRST = (
    "test_xdist_requests.py", "test_passthrough.py", "test_fuzzing.py", "test_perf_paths.py",
    "test_broken_targets.py", "test_run_bounds.py", "test_import_graph.py",
    "test_shard.py", "test_profiles_run.py", "test_reports.py", "test_interrupt.py", "test_run_cli.py",
    "test_discover_profile.py", "test_secrets_in_artifacts.py", "test_selfcheck.py",
)  # fmt: skip


@pytest.hookimpl(optionalhook=True)  # `-p no:xdist` runs the suite serially
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` for this suite: half again as many workers as usable cores (3 on 2). Many tests
    wait on a socket or a child process (a run's embedded stack, a server that never answers),
    and an extra worker fills that time; each worker also pays ~2 CPU-s to start and collect.
    Quiet 2-core machine, whole suite, tests handed out two at a time: 2 workers 57.9 s wall /
    92 CPU-s, 3 workers 50.3 s / 93, 4 workers 56.9 s / 110. PYTEST_XDIST_AUTO_NUM_WORKERS, the
    variable xdist reads, still decides when set."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS", "").isdigit():
        return int(os.environ["PYTEST_XDIST_AUTO_NUM_WORKERS"])
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    return min(max(cores + 1, cores * 3 // 2), max(cores, 12))  # a 64-core runner: 64, not 96


M_TRIM_THRESHOLD, M_ARENA_MAX = -1, -8  # glibc's mallopt parameter numbers


@pytest.hookimpl(trylast=True)  # after the pixelproof plugin's own (see the last paragraphs)
def pytest_configure(config: pytest.Config) -> None:
    """xdist's load scheduler first hands each worker a contiguous quarter of its share (90 tests
    each with 3 workers): the first worker got nearly every HEAVY_FIRST test and ran on alone at
    the end. Two at a time (``--maxschedchunk 2``, unless given) hands the rest out as workers
    free up: on a quiet 2-core machine 64.3 s -> 53.4 s wall for the whole suite.

    The pixelproof plugin, installed for every pytest session, fixes glibc's mmap threshold at
    128 KiB (memory.return_big_buffers: a run's decoded images leave its process once judged).
    These test processes are no run, and many tests move 30-64 MB bodies: each buffer over the
    threshold was a fresh mapping, its pages faulted in and returned on every use. The threshold
    here is glibc's own ceiling for its dynamic one (32 MiB). Sys time of test_mock_faults +
    test_selfcheck + test_perf_paths: 4.9-6.3 -> 3.9-4.9 s.

    Freed memory under that size stays resident too (trim threshold 1 GiB, one arena): glibc
    handed the top of its heap back whenever 128 KiB of it were free, and a thread's arena (the
    embedded stacks serve from threads) gave back a whole heap once empty, so the next body or
    image faulted its pages in again (test_selfcheck alone: ~700,000 page faults, ~2.5 s of system
    time; ~200,000 and ~1.2 s with both). Same three files, -n 2, five interleaved runs on a
    loaded machine: median 23.4 -> 21.3 CPU-s (sys 5.2 -> 2.9). A test measuring this process's
    memory hands the free pages back first (hostile.rss_growth), so what it allocates shows.
    mallopt is not inherited: child processes (test_perf_paths measures their peak RSS) keep
    glibc's defaults and the run's 128 KiB."""
    if getattr(config.option, "maxschedchunk", 0) is None:
        config.option.maxschedchunk = 2
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing was fixed either
        libc = ctypes.CDLL(None)
        libc.mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024)
        libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)
        libc.mallopt(M_ARENA_MAX, 1)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config: pytest.Config) -> None:
    """The controller of an xdist run, before any worker starts: bytecode for what every worker
    and the tests' subprocesses import, written once (warm_caches; a fresh clone's first run)."""
    here = config.invocation_params.dir
    tests = [Path(os.path.abspath(here / arg.split("::")[0])) for arg in config.args]
    warm_caches.warm(
        config, [Path(pixelproof.__file__).parent, suites_dir()], [*tests, suites_dir()]
    )


def pytest_collection_finish(session: pytest.Session) -> None:
    """Each worker treats its collected suite as a run treats its plan (memory.keep_for_the_run):
    what is alive now is frozen and young collections are rarer. Nested in-process runs keep
    that state (memory.release_after_the_run). Whole suite on a quiet 2-core machine: 121 CPU-s
    when each nested run gave the workers CPython's defaults back, 101-112 with this."""
    keep_for_the_run()


# Data once_per_session makes for the tests of a file that read it: (file, fixture).
MADE_ONCE = (
    ("test_fuzzing.py", "clean"),
    ("test_fuzzing.py", "bad_ratio_negative"),
    ("test_reports.py", "runs"),
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Heavy files first; then, of the tests reading data made once per session, the first stays
    where it is and the others go last. A worker handed one of those while another worker was
    making the data waited on the lock (two workers 3.9 and 8 s in one run, one core idle while
    the clean fuzz run was made); at the end of the list, the data is there when they start."""
    rank = {name: i for i, name in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable
    first: set[tuple[str, str]] = set()
    readers: list[pytest.Item] = []
    for item in items:
        made = [
            m
            for m in MADE_ONCE
            if m[0] == item.path.name and m[1] in getattr(item, "fixturenames", ())
        ]
        if made and made[0] in first:
            readers.append(item)
        first.update(made)
    later = set(map(id, readers))
    items[:] = [item for item in items if id(item) not in later] + readers


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    """The shipped catalogue, the very object the mock and the plugin load (once per process):
    a second load_catalogue() would cost each worker about 0.3 CPU-s. Tests only read it."""
    return default_catalogue()


@pytest.fixture
def contracts_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped contracts, for tests that break them on purpose."""
    target = tmp_path / "contracts"
    shutil.copytree(contracts_dir(), target)
    return target


# ---------------------------------------------------------------- the built-in mock (test_mock_*.py)
@pytest.fixture
def mock_vendor_factory() -> Iterator[Callable[..., TestClient]]:
    """Vendor-role mocks built from MockConfig keywords, closed after the test."""
    with contextlib.ExitStack() as stack:

        def make(**config: Any) -> TestClient:
            app = create_app(MockConfig(role="upstream", **config))
            return stack.enter_context(TestClient(app, base_url=MOCK_BASE_URL))

        yield make


@pytest.fixture
def mock_vendor(mock_vendor_factory: Callable[..., TestClient]) -> TestClient:
    """A fresh vendor-role mock whose clock only moves when a test advances it."""
    return mock_vendor_factory(time_scale=1e-6)


@pytest.fixture
def mock_pair_factory() -> Iterator[Callable[..., MockPair]]:
    """Gateway + vendor pairs built from MockConfig keywords, closed after the test."""
    with contextlib.ExitStack() as stack:
        yield functools.partial(new_mock_pair, stack)


@pytest.fixture
def mock_pair(mock_pair_factory: Callable[..., MockPair]) -> MockPair:
    """A fresh gateway + vendor pair whose clocks only move when a test advances them."""
    return mock_pair_factory(time_scale=1e-6)


@pytest.fixture
def make_png() -> Callable[..., bytes]:
    """PNG bytes made with Pillow (never with the mock's renderer); alpha=True: left half clear."""

    def make(width: int = 64, height: int = 64, alpha: bool = False) -> bytes:
        image = Image.new("RGBA" if alpha else "RGB", (width, height), (30, 120, 200, 255))
        if alpha:
            image.paste((0, 0, 0, 0), (0, 0, width // 2, height))
        out = io.BytesIO()
        image.save(out, "PNG")
        return out.getvalue()

    return make


def recorded(base_url: str, **filters: str) -> list[dict[str, Any]]:
    """Everything a mock's recorder holds for these filters, oldest first, across its pages (the
    recorder answers the newest page first and names ``before`` for the rest)."""
    records: list[dict[str, Any]] = []
    params = dict(filters)
    while True:
        # plain HTTP on loopback: verify=False loads no CA bundle (~35 ms of CPU a call otherwise)
        answer = httpx.get(
            f"{base_url}/__pixelproof/requests", params=params, timeout=30, verify=False
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        records = list(body["requests"]) + records
        if not body.get("more"):
            return records
        params["before"] = str(body["before"])


def _closed_port() -> Iterator[int]:
    """A loopback port bound but not listening: connecting to it is refused, reliably."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


closed_port = pytest.fixture(_closed_port, name="closed_port")
closed_port_2 = pytest.fixture(_closed_port, name="closed_port_2")


# `pixelproof run` in one process, on workers it forks, and on xdist's: each test taking
# ``workers`` runs under all three (the arguments to append after the command's own)
EVERY_WAY_TO_RUN = pytest.mark.parametrize(
    "workers",
    [[], ["-n", "2"], ["--", "-n", "2", "--dist", "loadgroup"]],
    ids=["serial", "forked-workers", "xdist-workers"],
)


def pixelproof_inprocess(*args: str) -> subprocess.CompletedProcess[str]:
    """``pixelproof ARGS`` through the same ``main`` in this process, output captured. It saves an
    interpreter start and its imports per call (about 1.3 CPU-s of a small ``run``), so it serves
    ``run`` too: its pytest session nests in the test's, as pytester's in-process runs do, and
    imports the suites' modules under their own names (no module of ``tests/`` shares one, see
    test_import_graph). Keep a child process only where the test is about the process: its exit on
    a signal sent from outside (test_run_cli's Ctrl-C; an interrupt raised at a case boundary
    nests, test_interrupt), a fresh interpreter (test_import_graph, test_public_api). A run's
    memory against a huge answer is what this process's RSS rose by during it (hostile.rss_growth,
    test_broken_targets and test_run_bounds), no child's whole peak. The console entry
    point itself (`python -m pixelproof.cli`) is covered by test_cli_rules' console call,
    test_run_cli's Ctrl-C child (a `run`) and .ci/run's wheel install running `pixelproof rules`
    and `pixelproof run` from outside the checkout; no file needs its own console call. A run with
    `-n 2` nests too: its workers are child processes as ever (test_xdist_requests).

    What Python itself prints of the run ("Exception ignored in ...": a run does not load pytest's
    unraisableexception plugin, so its process prints these) lands in the captured stderr as in a
    child, not in this test session's warnings: Python's own hook is in place during the call, and
    a collection before it ends finalizes what the run left. What survives it is frozen, as this
    worker froze its collection (pytest_collection_finish) and each nested run freezes its own
    (memory.keep_for_the_run; the worker's freeze keeps them frozen): each full collection walked
    everything made since, the fuzzing stack's imports and caches too (~0.09 CPU-s a call in a
    worker that had fuzzed). Whole suite, CPU in the workers' collections (gc.callbacks), 2
    interleaved pairs: 6.15 / 5.27 -> 4.16 / 4.07 s. A process that froze nothing is left so."""
    out, err = io.StringIO(), io.StringIO()
    outer_hook = sys.unraisablehook
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        sys.unraisablehook = sys.__unraisablehook__
        try:
            code = pixelproof_main(list(args))
        except SystemExit as exc:  # argparse's own usage errors
            code = exc.code if isinstance(exc.code, int) else 2
        finally:
            gc.collect()
            if frozen():  # not gc.get_freeze_count(): it walks every frozen object (memory.frozen)
                freeze()
            sys.unraisablehook = outer_hook
    return subprocess.CompletedProcess(["pixelproof", *args], code, out.getvalue(), err.getvalue())


# ---------------------------------------------------------------- gateways of other designs
# Real servers on loopback written by a test, in front of the vendor mock (its recorder is the
# run's): test_prompt_not_forwarded, test_upstream_failure, test_unknown_models.
VENDOR_KEY = "pp-foreign-gateway-key-0123"
VENDOR_KEY_ENV = "PP_FOREIGN_GATEWAY_KEY"
Outcomes = dict[str, tuple[str, str]]
Handle = Callable[[Request, httpx.AsyncClient], Awaitable[Response]]


def _serving(config: MockConfig) -> Iterator[Running]:
    running = start(create_app(config))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def vendor_upstream() -> Iterator[Running]:
    """The vendor mock behind a gateway of another design (it takes VENDOR_KEY)."""
    yield from _serving(MockConfig(role="upstream", time_scale=1000, api_key=VENDOR_KEY))


@pytest.fixture(scope="module")
def vendor_server() -> Iterator[Running]:
    """The vendor mock on its own, keyless, with a 2 MB body cap (schemathesis' cases)."""
    yield from _serving(MockConfig(role="upstream", max_body_bytes=2_000_000))


# One TLS context for the per-request clients of the test gateways: httpx builds a new one (the
# system's CA bundle loaded) for every client otherwise, ~40 ms of CPU per forwarded request, and
# these clients only ever speak plain HTTP to loopback.
TLS_CONTEXT = ssl.create_default_context()


def foreign_gateway(upstream: str, handle: Handle) -> Starlette:
    """A gateway of another design: ``POST /v1/images/generations`` answered by ``handle`` with a
    client of the vendor mock (its key set), opened and closed per request so none is left open."""

    async def generations(request: Request) -> Response:
        headers = {"authorization": f"Bearer {VENDOR_KEY}"}
        async with httpx.AsyncClient(base_url=upstream, timeout=30, headers=headers,
                                     verify=TLS_CONTEXT) as client:  # fmt: skip
            return await handle(request, client)

    return Starlette(routes=[Route("/v1/images/generations", generations, methods=["POST"])])


ForeignRun = Callable[..., tuple[Outcomes, Observer]]


@pytest.fixture
def foreign_gateway_outcomes(
    catalogue: Catalogue, vendor_upstream: Running, monkeypatch: pytest.MonkeyPatch
) -> ForeignRun:
    """Judges the selected claimed cases against a gateway (an app started for the run, or one
    already running) on the unified surface, with the vendor mock as the recorder: the outcomes
    and the (closed) observer."""
    monkeypatch.setenv(VENDOR_KEY_ENV, VENDOR_KEY)

    def run(gateway: Starlette | Running, select: Callable[[Case], bool],
            models: list[str] | None = None, run_id: str | None = None) -> tuple[Outcomes, Observer]:  # fmt: skip
        running = start(gateway) if isinstance(gateway, Starlette) else gateway
        try:
            profile = Profile.model_validate({
                "surfaces": {"unified": {"base_url": running.url, "models": models or ["gpt-image-2"]}},
                "credentials": {"env": VENDOR_KEY_ENV}, "recorder": vendor_upstream.url, "timeout_s": 30,
            })  # fmt: skip
            cases = [c for c in cases_for(catalogue, profile) if c.claimed and select(c)]
            observer = Observer(catalogue, profile, run_id=run_id)
            try:
                return evaluate(observer, cases), observer
            finally:
                observer.close()
        finally:
            if running is not gateway:
                running.stop()

    return run


def by_rule(outcomes: Outcomes) -> dict[str, str]:
    """Outcomes by rule id (one case per rule: a single model)."""
    return {case_id.split("[")[0]: outcome for case_id, (outcome, _) in outcomes.items()}


# ---------------------------------------------------------------- tasks on the official channel
# test_stuck_tasks and test_stack_clock: tasks polled through the reference gateway, which waits
# on the vendor mock, judged on a clock the test chooses.
STACK_KEY_ENV = "PIXELPROOF_TASK_STACK_KEY"
STACK_KEY = "pp-task-stack-key-0123456789"
OFFICIAL_TASK_RULES = ("task.tasks-official.", "size.gpt_image_2_official.")


def answers_json_object(response: httpx.Response) -> bool:
    """Whether the answer's body is a JSON object (what every error of the mock's dialects is)."""
    try:
        return isinstance(response.json(), dict)
    except ValueError:
        return False


@contextlib.contextmanager
def stack_keyed_in_env(key_env: str, key: str) -> Iterator[Stack]:
    """The reference stack at 1000x guarded by ``key``, which the environment variable ``key_env``
    holds while it runs (a profile's key for one module only)."""
    with (
        pytest.MonkeyPatch.context() as env,
        embedded_stack(time_scale=1000, api_key=key) as running,
    ):
        env.setenv(key_env, key)
        yield running


@contextlib.contextmanager
def served_profile(
    folder: Path, key_env: str, key: str, faults: frozenset[str] = frozenset()
) -> Iterator[Path]:
    """A profile (``folder``/stack.json) of the reference stack at 1000x served in this process,
    guarded by ``key``, read from ``key_env`` (the caller sets it, in a child's environment too).
    A `run --target` held to it starts no stack process of its own (~0.45 CPU-s each): for runs
    whose test is not about the default stack's process."""
    with embedded_stack(faults, time_scale=1000, api_key=key) as stack:
        yield stack_profile_file(stack, key_env, folder / "stack.json")


def stack_profile_file(stack: Stack, key_env: str, path: Path, **update: Any) -> Path:
    """The embedded profile of ``stack`` (1000x, its key read from ``key_env``), with ``update``
    applied to its fields, written to ``path`` for `run --target`."""
    profile = embedded_profile(
        default_catalogue(), stack.gateway.url, stack.upstream.url, key_env, 1000
    )
    if update:
        profile = profile.model_copy(update=update)
    path.write_text(profile.model_dump_json(exclude_defaults=True))
    return path


def keyed_stack() -> Iterator[Stack]:
    """The reference stack at 1000x, guarded by STACK_KEY (a module fixture where used)."""
    with embedded_stack(time_scale=1000, api_key=STACK_KEY) as running:
        yield running


def judge_official_tasks(
    catalogue: Catalogue, stack: Stack, fault: str | None, clock: PollClock
) -> Outcomes:
    """The claimed official-channel cases of the embedded profile, judged with ``clock``
    (``fault``: the mock's fault header on every request)."""
    profile = embedded_profile(
        catalogue, stack.gateway.url, stack.upstream.url, STACK_KEY_ENV, 1000
    )
    if fault:
        profile = profile.model_copy(update={"headers": {FAULT_HEADER: fault}})
    cases = [c for c in cases_for(catalogue, profile)
             if c.rule.id.startswith(OFFICIAL_TASK_RULES) and c.claimed]  # fmt: skip
    observer = Observer(catalogue, profile, clock=clock)
    try:
        return evaluate(observer, cases)
    finally:
        observer.close()
