"""Gateways written by others (tests/foreign_gateway.py, in front of the reference stack) that
keep their promises in ways the reference does not, or break them.

Image URLs: one that redirects to the image keeps the `url` promise, as any client fetching it
follows the redirect (judged broken before: "download failed: 302"); one that never reaches an
image is broken, saying how far it was followed; an API request's redirect is still an answer of
its own (test_run_bounds.py's redirect loop). A URL served under a generic type keeps
`output_format` (the label names no format); one labelled with another image type breaks it.

Rate limits: a 429 says "not now", nothing of the promise. Asked again after its Retry-After, a
gateway that then answers keeps every promise (judged broken before: "the request is accepted
(2xx)", or kept on rejection rules by a 429 that rejected nothing); one that never stops is not
judged at all: errors (exit 3), never a verdict. Every ask is a request, in the report and in the
fuzz budget. Where the upstream was made to fail, "try again later" is the gateway's answer and
is judged at once.

Gemini images as URLs (fileData parts) keep seed 000's "inlineData or URL" on every image rule
and on the contract; URLs that fetch nothing break them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import pixelproof_inprocess, stack_profile_file
from foreign_gateway import foreign_gateway, url_of
from pixelproof.client import MAX_REDIRECTS, RATE_LIMIT_RETRIES
from pixelproof.mock.server import Stack, embedded_stack

KEY_ENV, KEY = "PP_FOREIGN_KEY", "pp-foreign-key-0123456789"
RULES = ("--rules", "response_format.url", "--rules", "openai_images.response_format.url")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with embedded_stack(time_scale=1000, api_key=KEY) as running:
        yield running


def _run(
    stack: Stack, tmp_path: Path, *rules: str, surface: str = "unified", **gateway: Any
) -> tuple[int, dict[str, Any], str]:
    """`run --target` of the one ``surface``, reached through the foreign gateway."""
    profile = stack_profile_file(stack, KEY_ENV, tmp_path / "target.json")
    data = json.loads(profile.read_text())
    behind = data["surfaces"][surface]["base_url"]
    with foreign_gateway(behind, **gateway) as proxy, pytest.MonkeyPatch.context() as env:
        env.setenv(KEY_ENV, KEY)
        data["surfaces"] = {surface: {**data["surfaces"][surface], "base_url": url_of(proxy)}}
        profile.write_text(json.dumps(data))
        done = pixelproof_inprocess("run", "--target", str(profile), "--fuzz", "off", *rules,
                                    "--report-dir", str(tmp_path), "--run-id", "r")  # fmt: skip
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    run["limited_by_the_gateway"] = proxy.limited  # (the test's note: 429s the proxy answered)
    return done.returncode, run, done.stdout + done.stderr


@pytest.mark.parametrize("hops", [1, 3])
def test_image_urls_that_redirect_to_the_image_keep_the_promise(
    stack: Stack, tmp_path: Path, hops: int
) -> None:
    code, run, text = _run(stack, tmp_path, *RULES, hops=hops)
    assert code == 0, text[-3000:]
    judged = [o for o in run["outcomes"] if o["rule"] == "response_format.url"]
    assert judged
    assert all(o["outcome"] == "passed" for o in judged)
    # each download is counted with its hops: one generation and 1 + hops GETs per case
    assert all(o["requests"] == 2 + hops for o in judged), [o["requests"] for o in judged]


def test_an_image_url_that_only_redirects_is_broken_and_says_how_far_it_was_followed(
    stack: Stack, tmp_path: Path
) -> None:
    code, run, text = _run(stack, tmp_path, *RULES, loop=True)
    assert code == 1, text[-3000:]
    judged = [o for o in run["outcomes"] if o["rule"] == "response_format.url"]
    assert judged
    for outcome in judged:
        assert outcome["outcome"] == "failed"
        assert f"after {MAX_REDIRECTS} redirect(s) from http://127.0.0.1" in outcome["message"]
        assert "302" in outcome["message"]


@pytest.mark.parametrize(
    ("image_type", "exit_code"),
    [("application/octet-stream", 0), ("legacy", 0), ("image/gif", 1), ("text/html", 1)],
    ids=["generic-type-keeps", "legacy-names-keep", "another-image-type-breaks", "a-page-breaks"],
)
def test_a_url_served_as_a_generic_type_keeps_output_format_and_another_image_type_breaks_it(
    stack: Stack, tmp_path: Path, image_type: str, exit_code: int
) -> None:
    """Task results fetched from an object store that labels every file application/octet-stream:
    the bytes are the format asked for, and the label names none (they were judged broken:
    "declared type matches the bytes"). A label naming another image format is a lie."""
    code, run, text = _run(stack, tmp_path, "--rules", "output_format.*", surface="tasks-action",
                           image_type=image_type)  # fmt: skip
    assert code == exit_code, text[-3000:]
    judged = [o for o in run["outcomes"] if o["kind"] == "output_format"]
    assert judged
    if exit_code:
        assert all(f"declared {image_type}" in o["message"] for o in judged)
    else:
        assert all(o["outcome"] == "passed" for o in judged)


RATE_RULES = (
    "--rules",
    "size.gpt-image-2.*",
    "--rules",
    "model.required",
    "--rules",
    "n.default.*",
    "--rules",
    "edits.multipart",  # multipart: asked again, with a new boundary and the same files
)


def test_a_gateway_that_rate_limits_each_first_ask_keeps_its_promises(
    stack: Stack, tmp_path: Path
) -> None:
    (tmp_path / "clean").mkdir()
    (tmp_path / "throttled").mkdir()
    _, clean, _ = _run(stack, tmp_path / "clean", *RATE_RULES)
    code, run, text = _run(stack, tmp_path / "throttled", *RATE_RULES, throttle=1)
    assert code == 0, text[-3000:]
    assert {o["outcome"] for o in run["outcomes"]} == {"passed"}
    assert {o["case"] for o in run["outcomes"]} == {o["case"] for o in clean["outcomes"]}
    assert {"size", "n_default", "model_required", "edit"} <= {o["kind"] for o in run["outcomes"]}
    # each 429 is a request sent, asked again: the clean run's requests, and one more each
    limited = run["limited_by_the_gateway"]
    assert limited >= len(run["outcomes"]) // 2
    assert run["requests_sent"] == clean["requests_sent"] + limited


def test_a_gateway_that_never_stops_rate_limiting_is_not_judged(
    stack: Stack, tmp_path: Path
) -> None:
    code, run, text = _run(stack, tmp_path, *RATE_RULES, "--rules", "fuzz.unified.*",
                           "--fuzz", "negative", "--fuzz-budget", "6", throttle=-1)  # fmt: skip
    assert code == 3, text[-3000:]
    assert {o["outcome"] for o in run["outcomes"]} == {"error"}
    rule_cases = [o for o in run["outcomes"] if o["kind"] != "fuzz"]
    assert rule_cases
    for outcome in rule_cases:
        assert f"rate limited: answered 429 {1 + RATE_LIMIT_RETRIES} time(s)" in outcome["message"]
        assert "waited 0, 0, 0 s between" in outcome["message"]  # its Retry-After: 0
    fuzz = [o for o in run["outcomes"] if o["kind"] == "fuzz"]
    assert fuzz
    assert all("answered 429 (rate limited)" in o["message"] for o in fuzz)


def test_a_gateway_answering_429_when_its_channel_fails_keeps_the_failure_promises(
    stack: Stack, tmp_path: Path
) -> None:
    """The upstream fails (injected): "try again later" in a JSON error is an answer a client can
    read, judged as it is, at once (no waiting on it)."""
    started = time.monotonic()
    code, run, text = _run(stack, tmp_path, "--rules", "upstream.failure.*", busy=True)
    assert code == 0, text[-3000:]
    judged = [o for o in run["outcomes"] if o["kind"] == "upstream_failure"]
    assert judged
    assert {o["outcome"] for o in judged} == {"passed"}
    assert time.monotonic() - started < 30  # (3 waits of 1, 2 and 4 s a case, were they taken)


def test_fuzzing_a_gateway_that_rate_limits_each_first_ask_counts_every_ask_in_its_budget(
    stack: Stack, tmp_path: Path
) -> None:
    """Each fuzz case is asked twice (its 429, then its answer), judged on the answer; both asks
    are requests, counted in the report and held to --fuzz-budget."""
    code, run, text = _run(stack, tmp_path, "--rules", "fuzz.unified.*", "--fuzz", "negative",
                           "--fuzz-budget", "12", throttle=1)  # fmt: skip
    assert code == 0, text[-3000:]
    fuzz = [o for o in run["outcomes"] if o["kind"] == "fuzz"]
    assert fuzz
    assert {o["outcome"] for o in fuzz} <= {"passed", "skipped"}
    sent = [o["requests"] for o in fuzz if o["outcome"] == "passed"]
    assert sent
    # every ask counted, within the budget: each 429 and each answer (a target's last case may
    # get its 429 and no request left to ask again: not judged)
    assert sum(sent) <= 12, sent
    limited = run["limited_by_the_gateway"]
    assert len(sent) <= limited <= sum(sent) - len(sent), (limited, sent)


def test_a_gateway_throttling_failed_logins_is_judged_on_its_429(
    stack: Stack, tmp_path: Path
) -> None:
    """A request without the key, or with a wrong one, answered 429 "too many failed logins" every
    time it is asked: a refusal with a 4xx JSON error, never forwarded, which keeps the 4xx rules
    and breaks the SHOULD rules that ask for a 401 (it was reported unobserved)."""
    code, run, text = _run(stack, tmp_path, "--rules", "auth.*", key=KEY)
    assert code == 1, text[-3000:]
    judged = {o["case"]: o for o in run["outcomes"] if o["kind"] == "auth"}
    assert judged
    for case, outcome in judged.items():
        if ".401" in case:
            assert outcome["outcome"] == "failed", case
            assert "observed: 429" in outcome["message"], outcome["message"]
        else:
            assert outcome["outcome"] == "passed", (case, outcome["message"])
    assert any(".401" in c for c in judged)
    assert any(".401" not in c for c in judged)


@pytest.mark.parametrize("throttle", [0, 1], ids=["unthrottled", "first-ask-throttled"])
def test_a_first_ask_throttle_changes_no_auth_verdict(
    stack: Stack, tmp_path: Path, throttle: int
) -> None:
    """A gateway that checks no key breaks every auth promise, throttled or not: a 429 to a first
    ask is not a refusal of the credentials (the retry is answered 200 and judged). Judged at
    once, the 429 had kept auth.missing, auth.wrong and their not-forwarded rules."""
    code, run, text = _run(stack, tmp_path, "--rules", "auth.*", open_door=KEY, throttle=throttle)
    assert code == 1, text[-3000:]
    judged = {o["case"]: o for o in run["outcomes"] if o["kind"] == "auth"}
    assert judged
    assert {o["outcome"] for o in judged.values()} == {"failed"}, {
        c: o["outcome"] for c, o in judged.items()
    }
    assert "observed: 429" not in " ".join(o["message"] for o in judged.values())


def test_a_first_ask_throttle_leaves_the_upstream_failure_cases_judged(
    stack: Stack, tmp_path: Path
) -> None:
    """A 429 before the request reached the upstream is a rate limit: asked again, it reaches
    the upstream, which fails as made to, and the gateway's reply to that is judged (the cases
    were skipped: "no upstream failure was injected to judge")."""
    code, run, text = _run(stack, tmp_path, "--rules", "upstream.failure.*", throttle=1)
    assert code == 0, text[-3000:]
    judged = [o for o in run["outcomes"] if o["kind"] == "upstream_failure"]
    assert judged
    assert {o["outcome"] for o in judged} == {"passed"}


def test_stateful_fuzzing_never_judges_a_429(stack: Stack, tmp_path: Path) -> None:
    """Task submissions and queries answered 429 to the end: the stateful target judged nothing,
    an error, never a broken promise (it failed on "positive_data_acceptance ... observed: 429")."""
    code, run, text = _run(stack, tmp_path, "--fuzz", "full", "--fuzz-budget", "40",
                           "--rules", "fuzz.tasks-action.*", surface="tasks-action", throttle=-1)  # fmt: skip
    assert code == 3, text[-3000:]
    fuzz = [o for o in run["outcomes"] if o["kind"] == "fuzz"]
    assert any("->" in o["case"] or "stateful" in o["case"] for o in fuzz), [
        o["case"] for o in fuzz
    ]
    assert {o["outcome"] for o in fuzz} <= {"error", "skipped"}, [
        (o["case"], o["outcome"]) for o in fuzz
    ]


def test_image_downloads_answered_429_are_unobserved_in_rules_and_fuzzing(
    stack: Stack, tmp_path: Path
) -> None:
    """The answers are right; only their image URLs say 429. The rule cases are errors, the fuzz
    targets judge what they can and find nothing broken (they failed "fuzz.images_decode")."""
    code, run, text = _run(stack, tmp_path, "--fuzz", "full", "--fuzz-budget", "30",
                           "--rules", "fuzz.unified.*positive*", "--rules", "response_format.url",
                           downloads_limited=True)  # fmt: skip
    assert code == 3, text[-3000:]
    rules = [o for o in run["outcomes"] if o["rule"] == "response_format.url"]
    assert rules
    assert {o["outcome"] for o in rules} == {"error"}
    assert all("rate limited (429" in o["message"] for o in rules)
    fuzz = [o for o in run["outcomes"] if o["kind"] == "fuzz"]
    assert fuzz
    assert "failed" not in {o["outcome"] for o in fuzz}, [o["message"][:300] for o in fuzz]


def test_a_long_wait_is_said_on_the_terminal_during_a_run(
    stack: Stack, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A 429 asking for 5 s: the run says so where its user sees it (written to sys.stderr, the
    notice went into pytest's capture of the test and was never shown)."""
    code, _, text = _run(stack, tmp_path, "--rules", "size.gpt-image-2.1:1", throttle=1,
                           retry_after="5")  # fmt: skip
    assert code == 0, text[-3000:]
    said = capfd.readouterr().err
    assert "unified answered 429 (rate limited): waiting 5 s as asked" in said, said[-2000:]


@pytest.mark.parametrize("budget", [16, 40])
def test_fuzzing_image_urls_that_only_redirect_stays_within_its_budget(
    stack: Stack, tmp_path: Path, budget: int
) -> None:
    """A download follows redirects only with requests left: --fuzz-budget 16 sent 26 through
    image URLs that redirect to themselves, 40 sent 47."""
    _, run, text = _run(stack, tmp_path, "--fuzz", "full", "--fuzz-budget", str(budget),
                        "--rules", "fuzz.unified.*", loop=True)  # fmt: skip
    fuzz = [o for o in run["outcomes"] if o["kind"] == "fuzz"]
    assert fuzz, text[-2000:]
    assert 0 < sum(o.get("requests") or 0 for o in fuzz) <= budget, [
        o.get("requests") for o in fuzz
    ]


def test_a_gemini_gateway_answering_image_urls_keeps_its_promises(
    stack: Stack, tmp_path: Path
) -> None:
    """Seed 000 gives the Gemini models' typical output as "inlineData or URL": a gateway that
    answers each image as a URL (a fileData part, Gemini's own shape for one) keeps every promise
    the inline answer keeps: the rules' (judged broken before: no image in the answer) and the
    contract's, fuzzed (broken before: a part that is neither text nor inlineData)."""
    fuzz = ("--fuzz", "full", "--fuzz-budget", "60")
    code, run, text = _run(stack, tmp_path, *fuzz, surface="gemini", gemini_urls="served")
    assert code == 0, text[-3000:]
    judged = [o for o in run["outcomes"] if o["outcome"] != "not-claimed"]
    assert len(judged) > 20
    assert {o["outcome"] for o in judged} == {"passed"}
    kinds = {o["kind"] for o in judged}
    assert {"fuzz", "gemini_reference", "gemini_size"} <= kinds, kinds


def test_a_gemini_gateway_whose_image_urls_fetch_nothing_breaks_them(
    stack: Stack, tmp_path: Path
) -> None:
    code, run, text = _run(stack, tmp_path, surface="gemini", gemini_urls="missing")
    assert code == 1, text[-3000:]
    broken = [o for o in run["outcomes"] if o["outcome"] == "failed"]
    assert any(o["rule"] == "gemini.inline-reference" for o in broken)
    assert all("download failed" in o["observed"] and "404" in o["observed"] for o in broken), [
        o["observed"] for o in broken if "404" not in o["observed"]
    ]


def test_google_s_own_api_answering_image_urls_breaks_its_size_rules(
    stack: Stack, tmp_path: Path
) -> None:
    """Seed 000's "inlineData or URL" is the gateway's promise: Google's API answers inlineData
    (DOMAIN.md), so its surface, answering URLs, carries no image."""
    code, run, text = _run(stack, tmp_path, surface="gemini-vendor", gemini_urls="served")
    assert code == 1, text[-3000:]
    sized = [o for o in run["outcomes"] if o["rule"].startswith("gemini_vendor.size.")]
    assert sized
    assert {o["outcome"] for o in sized} == {"failed"}


@pytest.mark.parametrize("surface", ["unified", "tasks-action"])
def test_fuzzing_through_redirecting_image_urls_judges_no_redirect_it_had_no_request_for(
    stack: Stack, tmp_path: Path, surface: str
) -> None:
    """Image URLs that redirect twice to the image keep fuzzing's promises. The budget leaves
    some downloads a request short of the image: one not fetched is not judged (judged broken
    before: "download failed: 302", with one hop followed or none)."""
    code, run, text = _run(stack, tmp_path, "--fuzz", "full", "--fuzz-budget", "100",
                           "--rules", f"fuzz.{surface}.*", surface=surface, hops=2)  # fmt: skip
    assert code == 0, text[-3000:]
    fuzz = [o for o in run["outcomes"] if o["kind"] == "fuzz"]
    assert fuzz
    assert {o["outcome"] for o in fuzz} == {"passed"}


def test_json_answers_with_a_byte_order_mark_get_one_verdict(stack: Stack, tmp_path: Path) -> None:
    """A gateway whose JSON answers start with a UTF-8 byte order mark is read as the SDKs read
    it (httpx's and requests' ``.json()``, fetch's) by the rule cases and by fuzzing alike: its
    promises are kept. Fuzzing failed every target before ("JSON deserialization error": the
    contract's check decoded the text and met the mark) while the rule cases kept them."""
    code, run, text = _run(stack, tmp_path, "--fuzz", "full", "--fuzz-budget", "40",
                           "--rules", "fuzz.unified.*", "--rules", "response_format.*",
                           bom=True)  # fmt: skip
    assert code == 0, text[-3000:]
    kinds = {o["kind"] for o in run["outcomes"]}
    assert "fuzz" in kinds, kinds
    assert len(kinds) > 1, kinds
    assert {o["outcome"] for o in run["outcomes"]} == {"passed"}, [
        (o["case"], o["message"][:300]) for o in run["outcomes"] if o["outcome"] != "passed"
    ]


@pytest.mark.parametrize("twins", ["empty", "null"])
def test_the_output_field_an_answer_does_not_use_may_come_along_empty_or_null(
    stack: Stack, tmp_path: Path, twins: str
) -> None:
    """``{"url": "http://...", "b64_json": ""}`` (a struct serialized without omitting empty
    fields) or ``null`` (LiteLLM): the image is the URL, and the answer is inside the contract.
    Before, "" was read as the image ("b64_json: empty or not a string": 34 cases of the unified
    surface broken), and fuzzing failed both on the contract ("null is not of type string",
    "'' is not a 'uri'")."""
    code, run, text = _run(stack, tmp_path, "--fuzz", "full", "--fuzz-budget", "40",
                           "--rules", "fuzz.unified.*positive*", "--rules", "response_format.*",
                           "--rules", "n.default.*", twins=twins)  # fmt: skip
    assert code == 0, text[-3000:]
    assert {o["outcome"] for o in run["outcomes"]} == {"passed"}, [
        (o["case"], o["message"][:300]) for o in run["outcomes"] if o["outcome"] != "passed"
    ]
    assert "fuzz" in {o["kind"] for o in run["outcomes"]}


@pytest.mark.parametrize("surface", ["tasks-action", "tasks-official"])
def test_a_gateway_inventing_a_task_for_an_unknown_id_breaks_the_must(
    stack: Stack, tmp_path: Path, surface: str
) -> None:
    """``200 {"code": "success", "data": {"task_id": <never issued>, "status": "queued"}}`` is a
    task, never a refusal: the MUST rule is broken (it passed: any code but 0, 200 or 10000 was
    read as a refusal, "success" included)."""
    code, run, text = _run(stack, tmp_path, "--rules", f"task.{surface}.unknown",
                           surface=surface, invent_tasks=True)  # fmt: skip
    assert code == 1, text[-3000:]
    outcomes = {o["rule"]: o["outcome"] for o in run["outcomes"]}
    assert outcomes == {f"task.{surface}.unknown": "failed"}, outcomes


def test_image_urls_with_an_uppercase_scheme_keep_the_promise(stack: Stack, tmp_path: Path) -> None:
    """``HTTP://127.0.0.1:.../img.png`` is an http URL (schemes are case-insensitive; httpx
    fetches it): judged "not an http(s) URL" before, on every url case."""
    code, run, text = _run(stack, tmp_path, *RULES, upper_scheme=True)
    assert code == 0, text[-3000:]
    assert {o["outcome"] for o in run["outcomes"]} == {"passed"}


def test_an_image_url_answering_503_once_is_not_judged_and_one_that_repeats_is_broken(
    stack: Stack, tmp_path: Path
) -> None:
    """A download is asked once more after a 5xx, as an API request is: a 503 that does not
    repeat is an error (every url case was broken: "download failed: 503"); one that does is
    the URL's answer, a broken promise."""
    code, run, text = _run(stack, tmp_path, *RULES, flaky_downloads=1)
    assert code == 3, text[-3000:]
    assert {o["outcome"] for o in run["outcomes"]} == {"error"}
    assert all("a 5xx that did not repeat" in o["message"] for o in run["outcomes"])
    (tmp_path / "again").mkdir()
    code, run, text = _run(stack, tmp_path / "again", *RULES, flaky_downloads=-1)
    assert code == 1, text[-3000:]
    assert {o["outcome"] for o in run["outcomes"]} == {"failed"}
    assert all("download failed" in o["message"] for o in run["outcomes"])


def test_a_task_result_listing_bare_image_urls_is_judged_on_its_images(
    stack: Stack, tmp_path: Path
) -> None:
    """``result.images: ["http://..."]`` (no seed gives the result's shape; the contract's is
    inferred): each URL is fetched and judged. The answer was read as holding no image, and
    every image rule of the surface broke a MUST ("at least 1 image(s) ... observed 0")."""
    code, run, text = _run(stack, tmp_path, "--rules", "seed.*", "--rules", "output_format.*",
                           surface="tasks-action", bare_task_urls=True)  # fmt: skip
    assert code == 0, text[-3000:]
    assert run["outcomes"]
    assert {o["outcome"] for o in run["outcomes"]} == {"passed"}
