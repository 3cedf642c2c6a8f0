"""Verdicts are pure functions of (rule, evidence): judged here from recorded evidence, no server.

tests/fixtures/evidence/<kind>.json holds, for every rule kind, the evidence of one case observed
on the clean embedded stack (a kept promise) and on the stack with a fault that breaks it (a
broken one), recorded by tests/fixtures/evidence/record.py. Sockets are closed while judging, so
a verdict that tried any I/O would error here.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from pixelproof.catalogue import Catalogue
from pixelproof.judging.failures import RuleFailure
from pixelproof.judging.recorded import load
from pixelproof.judging.verdicts import judge

EVIDENCE = Path(__file__).parent / "fixtures" / "evidence"
FILES = sorted(EVIDENCE.glob("*.json"))


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a verdict tried to open a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _recorded(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


def test_every_rule_kind_has_recorded_evidence(catalogue: Catalogue) -> None:
    missing = sorted({rule.kind for rule in catalogue} - {p.stem for p in FILES})
    assert missing == [], (
        f"record them: python tests/fixtures/evidence/record.py {' '.join(missing)}"
    )
    assert sorted(p.stem for p in FILES) == sorted({rule.kind for rule in catalogue})


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_a_kept_promise_passes(path: Path, catalogue: Catalogue) -> None:
    judge(load(_recorded(path)["kept"], catalogue))


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_a_broken_promise_fails_and_speaks(path: Path, catalogue: Catalogue) -> None:
    recorded = _recorded(path)
    evidence = load(recorded["broken"], catalogue)
    with pytest.raises(RuleFailure) as failure:
        judge(evidence)
    message = str(failure.value)
    assert message.startswith(f"rule {recorded['case']} ")
    assert f"source: {evidence.rule.cite()}" in message
    assert "expected: " in message
    assert "observed: " in message


def test_recorded_evidence_holds_no_secret() -> None:
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        assert "pp-record-" not in text, f"the recording key leaked into {path.name}"
