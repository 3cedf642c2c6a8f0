"""Contract fuzzing: one test per (surface, operation, mode) the target's claims allow.

Fuzzing runs in the setup phase (an unreachable target is an *error*), the findings are judged in
the test body (a broken promise is a *failure* naming the operation, the check, expected and
observed, and a curl line that reproduces it). ``--pixelproof-fuzz`` picks the modes (``auto``:
full, or negative against a paid profile; ``off`` collects nothing), ``--pixelproof-fuzz-mode``
deterministic (CI gates) or explore (nightly), ``--pixelproof-fuzz-budget`` the most requests
fuzzing may send in the whole run: it is split over the planned targets, so it holds however
pytest-xdist spreads them over workers (no per-worker division needed).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pixelproof.fuzz.targets import FuzzResult, FuzzTarget, fuzz_level, plan_targets, run_target
from pixelproof.observe import TargetError
from pixelproof.plugin import PixelproofSession, session_of
from pixelproof.report.allure import attach, fuzz_facts, label


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "fuzzed" not in metafunc.fixturenames:
        return
    session: PixelproofSession | None = session_of(metafunc.config)
    targets: list[FuzzTarget] = []
    if session is not None:
        option = metafunc.config.getoption
        level = fuzz_level(option("pixelproof_fuzz"), session.profile)
        budget, rules = option("pixelproof_fuzz_budget"), option("pixelproof_rules")
        targets = plan_targets(session.catalogue, session.profile, level, budget, rules)
    metafunc.parametrize("fuzzed", targets, ids=[t.id for t in targets], indirect=True)


@pytest.fixture(scope="session")
def fuzz_session(pixelproof: PixelproofSession, pytestconfig: pytest.Config) -> Iterator[Any]:
    """Imported here: schemathesis and hypothesis load only in a process that fuzzes."""
    from pixelproof.fuzz.runner import FuzzSession

    mode = pytestconfig.getoption("pixelproof_fuzz_mode")
    session = FuzzSession(
        pixelproof.catalogue,
        pixelproof.profile,
        mode=mode,
        run_id=pixelproof.run_id,
        guard=pixelproof.get_guard(),
        clock=pixelproof.get_clock(),
    )
    yield session
    session.close()


@pytest.fixture
def fuzzed(request: pytest.FixtureRequest, fuzz_session: Any) -> FuzzResult:
    """Fuzz one target (setup phase): transport failures are errors, not findings."""
    target: FuzzTarget = request.param
    label(request.node, fuzz_facts(target), target.id)
    if target.allowance <= 0:
        pytest.skip("the fuzz request budget leaves no request for this target")
    result = run_target(fuzz_session, target)
    request.node.user_properties += [("requests", result.requests), ("images", result.images)]
    if result.seed is not None:
        request.node.user_properties.append(("seed", result.seed))
    if result.errors:
        listing = "\n  ".join(result.errors[:5])
        raise TargetError(
            f"{target.id}: {len(result.errors)} request(s) got no answer:\n  {listing}"
        )
    if result.rate_limited:
        request.node.user_properties.append(("rate_limited", result.rate_limited))
        if not result.examples and not result.findings:
            raise TargetError(f"{target.id}: every case was answered 429 (rate limited), even "
                              "after waiting as asked: nothing judged")  # fmt: skip
    return result


@pytest.mark.pixelproof_fuzz
def test_fuzz(fuzzed: FuzzResult) -> None:
    if fuzzed.findings:
        report = fuzzed.report()
        attach("findings", report.encode("utf-8"), "text/plain", "txt")
        pytest.fail(report, pytrace=False)
