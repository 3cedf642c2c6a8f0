"""The run's own Allure writer (report/allure_results.py) against allure-pytest's listener, both
active in one pytest session over tests of every outcome: the same result files, field by field
(ids and times aside), and no fixture container files of its own."""

from __future__ import annotations

import json

import pytest

from allure_pair import differences, results

pytest_plugins = ["pytester"]

OUTCOMES = '''
import logging
import sys

import pytest

from pixelproof.report.allure import CaseFacts, attach, label


@pytest.fixture
def breaks():
    raise ValueError("setup broke")


@pytest.fixture
def breaks_later():
    yield
    raise RuntimeError("teardown broke")


def test_passes():
    print("to stdout")


def test_fails():
    assert 1 == 2, "one is not two"


def test_breaks():
    raise KeyError("not an assertion")


def test_setup_breaks(breaks):
    pass


def test_teardown_breaks(breaks_later):
    pass


@pytest.mark.skip(reason="not claimed")
def test_skipped():
    pass


def test_skips_itself():
    pytest.skip("nothing to judge")


@pytest.mark.xfail(reason="waived", strict=True, raises=AssertionError)
def test_waived():
    assert False


@pytest.mark.xfail(reason="maybe")
def test_passes_anyway():
    pass


@pytest.mark.xfail(reason="waived", strict=True)
def test_fixed_while_waived():
    pass


@pytest.mark.parametrize("x", [1, "a b", b"raw"])
def test_logs(x):
    """A docstring, as the test's description."""
    logging.getLogger("t").warning("warned %s", x)
    sys.stderr.write("to stderr\\n")


@pytest.fixture
def labelled(request):
    facts = CaseFacts(
        labels=(("epic", "gemini"), ("feature", "fuzz"), ("story", "fuzz.x"), ("severity", "normal")),
        parameters=(("operation", "POST /x"), ("mode", "negative")),
        description="the rule's statement",
        link=("contracts/sources/x.txt", "x.txt § y"),
    )
    label(request.node, facts, "fuzz.x")


def test_labelled_and_attached(labelled):
    attach("findings", "a finding".encode(), "text/plain", "txt")
    attach("returned image 1", b"not really a png", "image/png", "png")
    assert False, "a finding"


@pytest.mark.slow
class TestGroup:
    def test_method(self):
        pass
'''


def test_the_same_results_as_allure_pytest(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_outcomes=OUTCOMES)
    pytester.makeini("[pytest]\nmarkers =\n    slow: a tag\n")
    ours, theirs = pytester.path / "ours", pytester.path / "theirs"
    run = pytester.inline_run(
        "--pixelproof-allure", str(ours), "--alluredir", str(theirs), "-p", "no:cacheprovider"
    )
    assert len(run.getreports("pytest_runtest_logreport")) > 0
    mine = results(ours)
    assert len(mine) == 15
    # allure-pytest replaces a description given in a fixture with the test's docstring
    assert differences(ours, theirs) == {"description": ["test_labelled_and_attached"]}
    labelled = mine["test_labelled_and_attached"]
    assert labelled["description"] == "the rule's statement"
    assert [a["name"] for a in labelled["attachments"]] == ["findings", "returned image 1"]
    assert list(theirs.glob("*-container.json"))  # allure-pytest writes fixture containers
    assert not list(ours.glob("*-container.json"))  # the run's writer does not
    statuses = {name: r["status"] for name, r in mine.items()}
    assert statuses["test_breaks"] == "broken"
    assert statuses["test_fails"] == "failed"
    assert statuses["test_waived"] == "skipped"
    assert statuses["test_fixed_while_waived"] == "failed"
    assert mine["test_fails"]["statusDetails"]["message"].startswith(
        "AssertionError: one is not two"
    )
    logs = mine["test_logs[a b]"]
    assert {a["name"] for a in logs["attachments"]} == {"log", "stderr"}
    assert [a["name"] for a in mine["test_passes"]["attachments"]] == ["stdout"]
    assert json.loads((ours / f"{logs['uuid']}-result.json").read_text())["uuid"] == logs["uuid"]
    for result in mine.values():  # a case's time is its whole run: setup to teardown
        assert result["start"] <= result["stop"]


def test_every_file_is_written_by_the_end_of_the_session(pytester: pytest.Pytester) -> None:
    """Results go to the writer thread in batches; the session's end hands over the last one."""
    pytester.makepyfile(test_many="import pytest\n\n@pytest.mark.parametrize('i', range(150))\n"
                                  "def test_i(i):\n    pass\n")  # fmt: skip
    ours = pytester.path / "ours"
    pytester.inline_run("--pixelproof-allure", str(ours), "-p", "no:cacheprovider")
    assert len(results(ours)) == 150
    assert not list(ours.glob("*.tmp"))
