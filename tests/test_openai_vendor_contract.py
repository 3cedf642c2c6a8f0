"""The vendor mock accepts what OpenAI's published OpenAPI document says the real API accepts
(openai/openai-openapi, as openai.yaml records it) and answers in the shapes it publishes: model
optional with its defaults, null read as omitted, streamed answers, variations of a real image."""

from __future__ import annotations

import base64
import functools
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from jsonschema import Draft202012Validator
from starlette.testclient import TestClient

from pixelproof.fuzz.pinned import pinned_generation
from pixelproof.images import decode
from pixelproof.mock.app import create_app
from pixelproof.mock.server import Running
from pixelproof.mock.state import MockConfig
from pixelproof.resources import contracts_dir
from pixelproof.samples import sample_bytes

CONTRACT = contracts_dir() / "openapi" / "openai.yaml"
GENERATIONS, EDITS, VARIATIONS = (
    "/v1/images/generations",
    "/v1/images/edits",
    "/v1/images/variations",
)


@functools.cache
def _document() -> dict[str, Any]:
    """The contract, read once per process (tests only read it), as the fuzzer reads it."""
    import yaml

    from pixelproof.fuzz.contracts import SAFE_LOADER

    return dict(yaml.load(CONTRACT.read_text(encoding="utf-8"), Loader=SAFE_LOADER))


def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator({**_document(), "$ref": f"#/components/schemas/{name}"})


def _conforms(name: str, value: Any) -> None:
    errors = [e.message for e in _validator(name).iter_errors(value)]
    assert errors == [], f"{name}: {errors[:3]}"


@pytest.fixture(scope="module")
def vendor() -> TestClient:
    return TestClient(create_app(MockConfig(role="upstream")))


def _decoded(client: TestClient, item: dict[str, Any]) -> Any:
    if "b64_json" in item:
        return decode(base64.b64decode(item["b64_json"]))
    answer = client.get(item["url"])
    assert answer.status_code == 200
    return decode(answer.content)


def test_a_generation_without_model_is_dall_e_2_as_published(vendor: TestClient) -> None:
    answer = vendor.post(GENERATIONS, json={"prompt": "a lighthouse"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    _conforms("ImagesResponse", body)
    assert "url" in body["data"][0]  # dall-e-2 answers a URL by default; GPT models never do
    assert _decoded(vendor, body["data"][0]).size.width == 1024


def test_an_integral_number_is_an_integer_as_json_schema_says(vendor: TestClient) -> None:
    """The contract types n and partial_images as integers; to JSON Schema (and a JSON parser of
    any other language) 2.0 is one, so a mock refusing it would be stricter than its contract."""
    body = {"model": "dall-e-2", "prompt": "a lighthouse", "n": 2.0, "response_format": "b64_json"}
    answer = vendor.post(GENERATIONS, json=body)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["data"]) == 2
    refused = vendor.post(GENERATIONS, json={**body, "n": 2.5})
    assert refused.status_code == 400, refused.text


def test_a_gpt_only_parameter_without_model_is_served_by_a_gpt_image_model(
    vendor: TestClient,
) -> None:
    answer = vendor.post(GENERATIONS, json={"prompt": "a lighthouse", "output_format": "webp"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    _conforms("ImagesResponse", body)
    assert _decoded(vendor, body["data"][0]).format == "webp"
    assert set(body["usage"]) >= {"input_tokens", "output_tokens", "total_tokens"}


def test_null_fields_read_as_omitted(vendor: TestClient) -> None:
    nulls = dict.fromkeys(["model", "n", "size", "quality", "style", "response_format",
                           "output_format", "background", "moderation", "output_compression",
                           "stream", "partial_images"])  # fmt: skip
    answer = vendor.post(GENERATIONS, json={"prompt": "a lighthouse", **nulls})
    assert answer.status_code == 200, answer.text
    _conforms("ImagesResponse", answer.json())


def _events(text: str) -> list[dict[str, Any]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        event = json.loads(lines["data"])
        assert lines["event"] == event["type"]
        events.append(event)
    return events


def test_a_streamed_generation_answers_partial_then_final_events(vendor: TestClient) -> None:
    body = {"model": "gpt-image-2", "prompt": "a lighthouse", "stream": True, "partial_images": 2}
    answer = vendor.post(GENERATIONS, json=body)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/event-stream")
    events = _events(answer.text)
    for event in events:
        _conforms("StreamEvent", event)
    assert [e["type"] for e in events] == [
        "image_generation.partial_image",
        "image_generation.partial_image",
        "image_generation.completed",
    ]
    assert [e.get("partial_image_index") for e in events[:2]] == [0, 1]
    assert "usage" in events[-1]
    assert decode(base64.b64decode(events[-1]["b64_json"])).size.width == 1024


def test_a_streamed_edit_takes_input_fidelity_and_the_published_default_model(
    vendor: TestClient,
) -> None:
    answer = vendor.post(
        EDITS,
        files={"image": ("in.png", sample_bytes("png512"), "image/png")},
        data={"prompt": "make it blue", "input_fidelity": "high", "stream": "true"},
    )
    assert answer.status_code == 200, answer.text
    assert [e["type"] for e in _events(answer.text)] == ["image_edit.completed"]


def test_stream_is_for_gpt_image_models_only(vendor: TestClient) -> None:
    body = {"model": "dall-e-3", "prompt": "a lighthouse", "stream": True}
    answer = vendor.post(GENERATIONS, json=body)
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "stream"


def test_variations_answer_real_images_of_the_asked_size(vendor: TestClient) -> None:
    answer = vendor.post(
        VARIATIONS,
        files={"image": ("in.png", sample_bytes("png512"), "image/png")},
        data={"n": "2", "size": "256x256", "response_format": "b64_json"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    _conforms("ImagesResponse", body)
    assert [str(_decoded(vendor, item).size) for item in body["data"]] == ["256x256"] * 2


@pytest.mark.parametrize(
    ("files", "data", "param"),
    [
        ({"image": ("in.gif", "gif64", "image/gif")}, {}, "image"),
        ({}, {"n": "1"}, "image"),
        ({"image": ("in.png", "png512", "image/png")}, {"model": "gpt-image-1"}, "model"),
        ({"image": ("in.png", "png512", "image/png")}, {"size": "1536x1024"}, "size"),
        (
            {"image": ("in.png", "png512", "image/png")},
            {"prompt": "not a variation field"},
            "prompt",
        ),
    ],
)
def test_variations_refuse_what_the_published_document_rules_out(
    vendor: TestClient, files: dict[str, Any], data: dict[str, str], param: str
) -> None:
    sent = {k: (name, sample_bytes(sample), mime) for k, (name, sample, mime) in files.items()}
    answer = vendor.post(VARIATIONS, files=sent or None, data=data)
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == param


def test_positive_cases_of_the_contract_are_answered_as_it_says(vendor_server: Running) -> None:
    """Requests the contract allows get no 5xx, and every answer has the declared type and shape
    (a 400 for what only the rule tables rule out, such as a size one model cannot take, is fine)."""
    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.core.failures import Failure
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
    )

    schema = schemathesis.openapi.from_path(CONTRACT)
    problems: list[str] = []
    statuses: list[int] = []
    accepted: set[str] = set()

    @settings(max_examples=40, database=None, deadline=None, derandomize=True,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(case=schema.as_strategy(GenerationMode.POSITIVE))
    def fuzz(case: Any) -> None:
        response = case.call(base_url=vendor_server.url, timeout=30)
        statuses.append(response.status_code)
        if response.status_code < 300:
            accepted.add(case.operation.label)
        try:
            case.validate_response(response, checks=[not_a_server_error, content_type_conformance,
                                                     response_schema_conformance])  # fmt: skip
        except (Failure, AssertionError) as exc:
            problems.append(f"{case.operation.label} {response.status_code}: {str(exc)[:300]}")

    with pinned_generation():
        fuzz()
    assert problems == []
    # Most refusals are for what no schema says (bytes that are no image, a model that does not
    # exist). Which operations draw an acceptable request here depends on what Hypothesis drew
    # earlier in the same worker (it was seen to vary under xdist), so acceptance per operation is
    # pinned by the explicit tests above (generation, streamed edit, variations); this run checks
    # the answers' shapes and that allowed requests are not all refused.
    assert accepted, f"every allowed request refused: {statuses}"


def _sse_problems(content: bytes) -> list[str]:
    """What schemathesis' response check (the fuzzer's) says of a streamed generation answer."""
    import requests
    import schemathesis
    from schemathesis.core.failures import Failure
    from schemathesis.core.transport import Response
    from schemathesis.specs.openapi.checks import response_schema_conformance

    operation = schemathesis.openapi.from_path(CONTRACT)["/v1/images/generations"]["POST"]
    case = operation.Case(body={"model": "gpt-image-2", "prompt": "p", "stream": True},
                          media_type="application/json")  # fmt: skip
    request = requests.Request("POST", "http://127.0.0.1:9" + GENERATIONS).prepare()
    answer = Response(200, {"content-type": ["text/event-stream"]}, content, request, 0.01, False)
    try:
        case.validate_response(answer, checks=[response_schema_conformance])
    except (Failure, AssertionError, BaseExceptionGroup) as exc:
        return [str(exc)[:300]] + [str(e)[:300] for e in getattr(exc, "exceptions", ())]
    return []


def test_a_streamed_answer_is_judged_by_its_events_data(vendor: TestClient) -> None:
    """Each event's ``data`` is the StreamEvent object; the event itself is the SSE frame. The
    contract once gave StreamEvent as each event's schema, which schemathesis (reading Open API
    before 3.2 as SSE readers do) applies to the frame ``{event, data}``: every correct stream was
    a finding, seen only when a fuzz run happened to draw an accepted ``stream: true``."""
    body = {"model": "gpt-image-2", "prompt": "a lighthouse", "stream": True, "partial_images": 1}
    answer = vendor.post(GENERATIONS, json=body)
    assert answer.status_code == 200, answer.text
    assert _sse_problems(answer.content) == []
    first = answer.text.split("\n\n")[0]
    event, data = (line.split(": ", 1)[1] for line in first.splitlines())
    broken = json.loads(data)
    del broken["type"]
    frame = f"event: {event}\ndata: {json.dumps(broken)}\n\n".encode()
    assert '"type" is a required property' in " ".join(_sse_problems(frame))
    assert "cannot deserialize" in " ".join(_sse_problems(b"event: x\ndata: not json\n\n"))
