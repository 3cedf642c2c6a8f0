"""Sending fuzz cases and judging the answers: one ``FuzzSession`` per process (pytest worker).

Every request goes through ``FuzzSession.send``: it takes a unit of the target's allowance (or
sends nothing), adds the profile's credentials and headers plus an ``X-Pixelproof-Tag`` naming
the run (a recorder can count exactly what fuzzing sent), and turns transport failures into
errors (infrastructure), never findings. ``judge`` runs schemathesis' conformance checks with
pixelproof's registered ones and keeps every failure as a ``Finding`` with its curl line.
"""

from __future__ import annotations

import json
import random
from typing import TYPE_CHECKING, Any

import hypothesis
import requests
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from pixelproof.client import RATE_LIMITED, Client, Exchange
from pixelproof.deadline import Guard
from pixelproof.fuzz.cases import anchor_kwargs, image_media_types, required_drops, targeted
from pixelproof.fuzz.checks import ACTIVE, BUDGET_NOTE, CHECKS, Judging, PixelproofFailure
from pixelproof.fuzz.codec_tables import one_pass_codec_tables
from pixelproof.fuzz.contracts import SurfaceSchemas, load_surface
from pixelproof.fuzz.findings import Finding, curl_of
from pixelproof.fuzz.oracle import Expectation, Oracle
from pixelproof.fuzz.pinned import deterministic_seed, pinned_generation
from pixelproof.fuzz.request import Contract, Request
from pixelproof.fuzz.reuse import reused_strategies
from pixelproof.fuzz.stateful import run_stateful
from pixelproof.fuzz.targets import Allowance, BudgetSpent, FuzzResult, FuzzTarget, new_seed
from pixelproof.fuzz.transport import CaseSender
from pixelproof.observe import TAG_HEADER, task_id_of
from pixelproof.polling import Cadence, PollClock, RealTime

if TYPE_CHECKING:
    from pixelproof.catalogue import Catalogue
    from pixelproof.target import Profile

BUILTIN = [status_code_conformance, content_type_conformance, response_schema_conformance]
SUBMIT_SHARE = 0.6  # of a negative target's allowance, for the targeted families (the rest: random)


class _Run:
    """One target's state while it runs."""

    def __init__(self, target: FuzzTarget, judging: Judging, seed: int | None) -> None:
        self.target, self.judging = target, judging
        self.allowance = Allowance(target.allowance)
        self.result = FuzzResult(target, seed=seed)
        self.submitted: dict[str, float] = {}  # task id -> when


class FuzzSession:
    def __init__(self, catalogue: Catalogue, profile: Profile, *, mode: str = "deterministic",
                 run_id: str = "local", guard: Guard | None = None,
                 clock: PollClock | None = None) -> None:  # fmt: skip
        self.catalogue, self.profile, self.mode, self.run_id = catalogue, profile, mode, run_id
        self.clock = clock or RealTime()  # what waiting for a submitted task waits with
        self.schemas: dict[str, SurfaceSchemas] = {}
        self.oracle = Oracle(catalogue, profile, {}, {})
        guard = guard or Guard(profile.run_timeout_s, profile.breaker_after)
        creds = profile.credentials
        auth, query = creds.auth()
        self.redactor = creds.redactor()
        clients = {
            profile.base_url(s) + "/": Client(profile.base_url(s), auth, profile.timeout_s, auth_query=query,
                                              redactor=self.redactor, guard=guard, surface=s, run=run_id)
            for s in profile.surfaces
        }  # fmt: skip
        self.plain = Client("", None, profile.timeout_s, redactor=self.redactor, guard=guard,
                            surface="image downloads", run=run_id)  # fmt: skip
        self.sender = CaseSender(clients, self.plain)
        # shown (redacted) in a finding's curl line; the client adds the real ones below requests
        self.auth_shown = {creds.header: f"{creds.scheme} [redacted]".strip()} if auth else {}
        self.secret_headers = (creds.header.lower(),) if creds.header else ()
        self.sent = 0

    def close(self) -> None:
        self.sender.close()
        self.plain.close()

    def surface(self, name: str) -> SurfaceSchemas:
        if name not in self.schemas:
            loaded = load_surface(self.catalogue, self.profile, name)
            loaded.positive.config.generation.update(modes=[GenerationMode.POSITIVE])
            self.schemas[name] = loaded
            self.oracle.contracts[name] = Contract(loaded.contract)
            self.oracle.subsets[name] = Contract(loaded.subset, strict=True)
        return self.schemas[name]

    # ------------------------------------------------------------------ sending and judging
    def headers(self, surface: str) -> dict[str, str]:
        """The profile's headers for ``surface`` (routing by provider or upstream host) and the tag."""
        return {**self.profile.headers_for(surface), TAG_HEADER: f"fuzz-{self.run_id}"}

    def send(self, run: _Run, case: Any) -> Any:
        if not run.allowance.take():
            return None
        before = self.sender.asked_again
        try:
            return self.sender.send(
                case, self.profile.base_url(run.target.surface), self.headers(run.target.surface),
                most=1 + run.allowance.left,  # (this ask is taken: what is left, asks again)
            )  # fmt: skip
        except requests.RequestException as exc:
            run.result.errors.append(
                f"{case.method} {case.formatted_path}: {type(exc).__name__}: {exc}"[:300]
            )
            return None
        finally:
            sent = 1 + self.sender.asked_again - before
            self.sent += sent
            run.result.requests += sent
            run.allowance.charge(sent - 1)

    def download(self, run: _Run, url: str) -> Exchange:
        if not run.allowance.take():
            return Exchange("GET", url, {}, error=f"not fetched: {BUDGET_NOTE}")
        got = self.plain.download(url, most=1 + run.allowance.left)
        self.sent += got.sent
        run.result.requests += got.sent
        run.allowance.charge(got.sent - 1)
        return got

    def exercise(self, run: _Run, case: Any, note: str = "") -> None:
        response = self.send(run, case)
        if response is None:
            return
        run.result.examples += 1
        if _nested_too_deep(response.content):  # a malformed answer: a finding, never a traceback
            failure = PixelproofFailure(case.operation.label, "fuzz.response_schema_conformance",
                                        EXPECTED["fuzz.response_schema_conformance"],
                                        f"{response.status_code}: JSON nested too deep to parse "
                                        f"({len(response.content):,} bytes)")  # fmt: skip
            run.result.findings.append(self.finding(run, case, response, failure, note))
            return
        self.check_answer(run, case, response, note)
        self.remember_task(run, case, response)

    def check_answer(self, run: _Run, case: Any, response: Any, note: str = "") -> None:
        if response.status_code == RATE_LIMITED:  # after Client.send's waits: "not now", unjudged
            run.result.rate_limited += 1
            run.result.examples -= 1  # (its caller counted it as judged: exercise, stateful)
            return
        expected = run.judging.expectation(case).outcome
        run.result.answers[f"{expected}->{response.status_code // 100}xx"] += 1
        token = ACTIVE.set(run.judging)
        failures: list[Failure] = []
        try:
            case.validate_response(response, checks=[*BUILTIN, *CHECKS])
        except FailureGroup as group:
            failures = [f for f in group.exceptions if isinstance(f, Failure)]
        except Failure as failure:
            failures = [failure]
        finally:
            ACTIVE.reset(token)
        for failure in failures:
            run.result.findings.append(self.finding(run, case, response, failure, note))

    def finding(self, run: _Run, case: Any, response: Any, failure: Failure, note: str) -> Finding:
        request = Request.of(run.target.surface, case)
        sent = response.request
        url = str(sent.url)
        if self.profile.credentials.query and self.profile.credentials.value():
            url += ("&" if "?" in url else "?") + f"{self.profile.credentials.query}=[redacted]"
        routing = tuple(h.lower() for h in self.profile.headers_for(run.target.surface))
        curl = curl_of(sent.method, url, {**dict(sent.headers), **self.auth_shown}, request.body,
                       request.media_type, self.secret_headers, shown=routing)  # fmt: skip
        curl, text = self.redactor.text(curl), self.redactor.text  # a target may echo the key
        operation = f"{run.target.surface} {request.label}"
        if isinstance(failure, PixelproofFailure):
            return Finding(operation, failure.check, text(failure.expected),
                           text(failure.observed), curl, note)  # fmt: skip
        check = f"fuzz.{failure.checks[0]}" if failure.checks else _check_name(failure)
        expected = EXPECTED.get(check, failure.title)
        observed = f"{response.status_code}: {failure.title}: " + " ".join(failure.message.split())
        return Finding(operation, check, text(expected), text(observed)[:500], curl, note)

    def remember_task(self, run: _Run, case: Any, response: Any) -> None:
        """A submission the target took: its id is a known task for later queries."""
        if not 200 <= response.status_code < 300 or case.method.upper() != "POST":
            return
        surface = run.target.surface
        if surface == "jimeng-official" and case.query.get("Action") != "CVSync2AsyncSubmitTask":
            return
        try:
            task_id = task_id_of(surface, response.json())
        except (ValueError, RecursionError):
            return
        if task_id is None or surface not in ("tasks-action", "tasks-official", "jimeng-official"):
            return
        exp = run.judging.expectation(case)
        self.oracle.tasks[task_id] = Expectation(
            "accept", "a task this run submitted is found", "fuzz.task_query", size=exp.size,
            alt_size=exp.alt_size, ratio=exp.ratio, image_rule=exp.image_rule,
        )  # fmt: skip
        run.submitted[task_id] = self.clock.monotonic()
        run.judging.images += 1  # a submitted task buys its image, queried or not

    # ------------------------------------------------------------------ targets
    def run(self, target: FuzzTarget) -> FuzzResult:
        judging = Judging(self.oracle, target.surface, lambda url: self.download(state, url))
        state = _Run(target, judging, new_seed(self.mode))
        schemas = self.surface(target.surface)
        with image_media_types(), pinned_generation(), reused_strategies(), one_pass_codec_tables():
            if target.mode == "stateful":
                run_stateful(self, state, schemas)
            else:
                self.run_examples(state, schemas)
        state.result.images = judging.images
        return state.result

    def run_examples(self, run: _Run, schemas: SurfaceSchemas) -> None:
        target = run.target
        positive = target.mode == "positive"
        operation = schemas.operations("subset" if positive else "contract")[target.label]
        anchors = [operation.Case(**kw) for kw in anchor_kwargs(
            self.catalogue, self.profile, target.surface, target.label, self.run_id)]  # fmt: skip
        if positive:
            for case in anchors:
                self.exercise(run, case, "anchor: a documented request")
        else:
            self.run_targeted(run, schemas, operation, anchors)
        mode = GenerationMode.POSITIVE if positive else GenerationMode.NEGATIVE
        self.generate(
            run, operation.as_strategy(generation_mode=mode), f"schemathesis {mode.value}"
        )

    def run_targeted(
        self, run: _Run, schemas: SurfaceSchemas, operation: Any, anchors: list[Any]
    ) -> None:
        self.run_form_drops(run, schemas, operation, anchors)
        json_anchor = next((c for c in anchors if c.media_type == "application/json"), None)
        if json_anchor is None:
            return
        rng = None if run.result.seed is None else random.Random(run.result.seed)
        cases = targeted(
            self.catalogue, self.profile, schemas, run.target.label, json_anchor.body, rng
        )
        budget = max(1, int(run.allowance.total * SUBMIT_SHARE))
        for description, body in cases[:budget]:
            case = operation.Case(body=body, media_type="application/json", query=dict(json_anchor.query),
                                  path_parameters=dict(json_anchor.path_parameters))  # fmt: skip
            self.exercise(run, self.judged_variant(run, case), f"targeted: {description}")

    def run_form_drops(
        self, run: _Run, schemas: SurfaceSchemas, operation: Any, anchors: list[Any]
    ) -> None:
        """Multipart anchors (edits, variations) lose one required part at a time too."""
        for anchor in (c for c in anchors if c.media_type == "multipart/form-data"):
            for _, description, body in required_drops(schemas, run.target.label, anchor.body,
                                                       anchor.media_type):  # fmt: skip
                case = operation.Case(body=body, media_type=anchor.media_type)
                self.exercise(run, case, f"targeted: {description} (multipart)")

    def judged_variant(self, run: _Run, case: Any) -> Any:
        """On the unified entry a field only some channels read is mutated on a model that reads it."""
        if run.target.surface != "unified" or not isinstance(case.body, dict):
            return case
        if run.judging.expectation(case).outcome == "reject":  # kept for check_answer
            return case
        for model in self.profile.models("unified"):
            body = {**case.body, "model": model}
            variant = case.operation.Case(body=body, media_type=case.media_type)
            if run.judging.expectation(variant).outcome == "reject":
                return variant
        return case

    def generate(self, run: _Run, strategy: Any, note: str) -> None:
        left = run.allowance.left
        if left <= 0:
            return

        @settings(max_examples=left, database=None, deadline=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck), print_blob=False,
                  report_multiple_bugs=False)  # fmt: skip
        @given(strategy)
        def explore(case: Any) -> None:
            if run.allowance.left <= 0:
                raise BudgetSpent
            self.exercise(run, case, note)

        seed = deterministic_seed(run.target.id) if run.result.seed is None else run.result.seed
        explore = hypothesis.seed(seed)(explore)
        try:
            explore()
        except BudgetSpent:
            pass
        except hypothesis.errors.Unsatisfiable:
            run.result.notes.append(
                f"{note}: schemathesis could not generate cases for this operation"
            )

    def cadence(self, surface: str) -> Cadence | None:
        if surface not in self.catalogue.defaults.polling:
            return None
        return Cadence.for_surface(self.catalogue, self.profile, surface)


EXPECTED = {
    "fuzz.response_schema_conformance": "an answer inside the documented response schema",
    "fuzz.status_code_conformance": "a status code the contract documents for this operation",
    "fuzz.content_type_conformance": "a content type the contract documents for this answer",
}


def _nested_too_deep(content: bytes) -> bool:
    if content.count(b"[") + content.count(b"{") < 500:
        return False  # cannot nest past the recursion limit: no need to parse it twice
    try:
        json.loads(content)
    except RecursionError:
        return True
    except ValueError:
        return False
    return False


def _check_name(failure: Failure) -> str:
    names = {"JsonSchemaError": "response_schema_conformance", "MalformedJson": "response_schema_conformance",
             "UndefinedStatusCode": "status_code_conformance", "UndefinedContentType": "content_type_conformance",
             "MalformedMediaType": "content_type_conformance", "MissingContentType": "content_type_conformance"}  # fmt: skip
    return "fuzz." + names.get(type(failure).__name__, type(failure).__name__)
