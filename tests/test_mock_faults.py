"""Every promise-breaking fault of the mock changes what a client sees or what the upstream gets.

One probe per fault: a request relevant to it, sent clean and with ``X-Pixelproof-Fault``; the
clean observation is the documented one (from the rule catalogue) and the faulty one differs.
A fault added to ``faults.CATALOGUE`` without a probe here fails ``test_every_fault_has_a_probe``.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from PIL import Image

from conftest import answers_json_object
from pixelproof.catalogue import Catalogue
from pixelproof.geometry import Size, ratio_matches
from pixelproof.images import ImageError, b64decode_strict, decode
from pixelproof.judging.expect import nearest_tier
from pixelproof.mock.faults import CATALOGUE as FAULTS
from pixelproof.mock.faults import FAULT_HEADER
from pixelproof.surfaces.paths import FILE_AGE_HEADER

if TYPE_CHECKING:
    from mock_pairs import MockPair

KEY = "pp-faults-key"
ABSENT = "<absent>"
JIMENG = {"Action": "CVSync2AsyncSubmitTask", "Version": "2022-08-31"}
ACTION = "/action/v1/images/generations"


@dataclass
class Run:
    """One side of a probe: the same requests, with or without the fault header."""

    pair: MockPair
    headers: dict[str, str]
    catalogue: Catalogue
    make_png: Callable[..., bytes]

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.pair.gateway.post(path, headers=self.headers, **kwargs)

    def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.pair.gateway.get(path, headers=self.headers if headers is None else headers)

    def generate(self, **body: Any) -> httpx.Response:
        body = {"model": "gpt-image-2", "prompt": "a lighthouse", **body}
        return self.post("/v1/images/generations", json=body)

    def forwarded(self, prompt: str) -> dict[str, Any]:
        [item] = self.pair.forwarded(contains=prompt.split()[-1])
        return dict(item)

    def action(self, **body: Any) -> httpx.Response:
        return self.post(
            ACTION,
            json={"model": "gpt-image-2", "prompt": "a lighthouse", **body},
        )

    def official(self, task_id: str | None = "caller-1", **params: Any) -> httpx.Response:
        body: dict[str, Any] = {
            "model": "gpt_image_2_official",
            "params": {"prompt": "x", **params},
        }
        if task_id:
            body["task_id"] = task_id
        return self.post("/official/v1/images/generations", json=body)

    def settle(self, path: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        """Advance past the documented client timeout, then poll until the task is terminal."""
        self.pair.advance(self.catalogue.defaults.polling["tasks-official"].timeout_s)
        hang_guard = time.monotonic() + 60  # the job's steps may wait in real time (Jimeng's)
        while time.monotonic() < hang_guard:
            body = self.get(path, headers).json()
            view = body["data"] if path.startswith("/official") else body
            if view["status"] in ("completed", "failed"):
                return dict(view)
        raise AssertionError(f"{path} never became terminal: {view}")

    def task_image(self, view: dict[str, Any]) -> Any:
        return decode(self.get(view["result"]["images"][0]["url"]).content)

    def png_b64(self, width: int = 64, height: int = 64) -> str:
        return base64.b64encode(self.make_png(width, height)).decode("ascii")


def nonce(text: str = "a lighthouse") -> str:
    return f"{text} {secrets.token_hex(6)}"


def rule(run: Run, rule_id: str, key: str) -> Any:
    return run.catalogue.rule(rule_id).expect[key]


@dataclass(frozen=True)
class Probe:
    observe: Callable[[Run], Any]
    clean: Callable[[Catalogue], Any]  # the documented observation on the clean gateway


PROBES: dict[str, Probe] = {}


def probe(fault: str, clean: Any) -> Callable[[Callable[[Run], Any]], Callable[[Run], Any]]:
    """Register ``observe`` for ``fault``; ``clean`` is a value or a function of the catalogue."""

    def register(observe: Callable[[Run], Any]) -> Callable[[Run], Any]:
        assert fault not in PROBES, f"two probes for {fault}"
        PROBES[fault] = Probe(observe, clean if callable(clean) else lambda _c: clean)
        return observe

    return register


def expect(rule_id: str, key: str) -> Callable[[Catalogue], Any]:
    return lambda catalogue: catalogue.rule(rule_id).expect[key]


# ---------------------------------------------------------------- sizes and fallback


@probe("size-ignored", expect("size.gpt-image-2.4:3", "size"))
def _size_ignored(run: Run) -> str:
    response = run.generate(size="1536x1152", response_format="b64_json")
    return str(decode(b64decode_strict(response.json()["data"][0]["b64_json"])).size)


@probe("no-fallback", expect("fallback.gpt-image-2.16:9", "closest_official"))
def _no_fallback(run: Run) -> str:
    prompt = nonce()
    run.generate(
        prompt=prompt, size=run.catalogue.rule("fallback.gpt-image-2.16:9").expect["target"]
    )
    return str(run.forwarded(prompt)["json"]["size"])


@probe("no-ratio-intent", True)
def _no_ratio_intent(run: Run) -> bool:
    prompt = nonce()
    run.generate(prompt=prompt, size="1920x1080")
    sent = run.forwarded(prompt)["json"]["prompt"]
    return bool(rule(run, "fallback.gpt-image-2.16:9", "ratio") in sent[len(prompt) :])


@probe("size-coerced", 400)
def _size_coerced(run: Run) -> int:
    return run.generate(model="dall-e-2", size="1792x1024").status_code


@probe("official-table-swapped", expect("size.gpt_image_2_official.4:3.1k", "size"))
def _official_table_swapped(run: Run) -> str:
    submitted = run.official(aspect_ratio="4:3", resolution="1K").json()
    view = run.settle(f"/official/v1/tasks/{submitted['data'][0]['task_id']}")
    return str(run.task_image(view).size)


@probe("four-k-any-ratio", 400)
def _four_k_any_ratio(run: Run) -> int:
    return run.official(aspect_ratio="1:1", resolution="4K").status_code


@probe("legacy-ratios-accepted", 400)
def _legacy_ratios_accepted(run: Run) -> int:
    return run.action(model="gpt-image-1-official", aspect_ratio="16:9").status_code


@probe("gemini-imagesize-dropped", expect("size.gemini-3-pro-image-preview.1:1.2k", "tier"))
def _gemini_imagesize_dropped(run: Run) -> str:
    body = {
        "contents": [{"parts": [{"text": "a lighthouse"}]}],
        "generationConfig": {"imageConfig": {"aspectRatio": "1:1", "imageSize": "2K"}},
    }
    answer = run.post("/v1beta/models/gemini-3-pro-image-preview:generateContent", json=body)
    [data] = [
        p["inlineData"]["data"]
        for p in answer.json()["candidates"][0]["content"]["parts"]
        if "inlineData" in p
    ]
    return nearest_tier(decode(b64decode_strict(data)).size)


# ---------------------------------------------------------------- n, watermark, passthrough


@probe("n-zero-forwarded", expect("n.default.zero.forwarded", "forwarded_n"))
def _n_zero_forwarded(run: Run) -> Any:
    prompt = nonce()
    run.generate(prompt=prompt, n=0, response_format="b64_json")
    return run.forwarded(prompt)["json"].get("n", ABSENT)


@probe("n-default-two", expect("n.default.omitted", "count"))
def _n_default_two(run: Run) -> int:
    return len(run.generate(response_format="b64_json").json()["data"])


def _seedream_watermark(run: Run, **extra: Any) -> Any:
    prompt = nonce()
    body = {"model": "doubao-seedream-4-0-250828", "prompt": prompt, "response_format": "b64_json"}
    run.post("/v1/images/generations", json=body | extra)
    return run.forwarded(prompt)["json"].get("watermark", ABSENT)


@probe("watermark-false-dropped", expect("watermark.false.forwarded", "forwarded"))
def _watermark_false_dropped(run: Run) -> Any:
    return _seedream_watermark(run, watermark=False)


@probe("watermark-omitted-as-false", ABSENT)
def _watermark_omitted_as_false(run: Run) -> Any:
    return _seedream_watermark(run)


@probe("passthrough-dropped", "transparent")
def _passthrough_dropped(run: Run) -> Any:
    prompt = nonce()
    run.generate(prompt=prompt, background="transparent", response_format="b64_json")
    return run.forwarded(prompt)["json"].get("background", ABSENT)


@probe("revised-prompt-empty", ABSENT)
def _revised_prompt_empty(run: Run) -> Any:
    """gpt-image-2 does not rewrite prompts: no revised_prompt at all, not an empty one."""
    return run.generate(response_format="b64_json").json()["data"][0].get("revised_prompt", ABSENT)


# ---------------------------------------------------------------- references


@probe("refs-unlimited", 400)
def _refs_unlimited(run: Run) -> int:
    limit = rule(run, "refs.tasks-action.16", "max")
    urls = [f"http://127.0.0.1/ref-{i}.png" for i in range(limit + 1)]
    return run.action(action="reference", image_urls=urls).status_code


@probe("refs-dropped", expect("refs.unified.forwarded", "count"))
def _refs_dropped(run: Run) -> int:
    prompt = nonce()
    count = rule(run, "refs.unified.forwarded", "count")
    run.generate(prompt=prompt, image=[run.png_b64(32 + i) for i in range(count)])
    return len(run.forwarded(prompt)["json"]["images"])


@probe("ref-format-unchecked", 400)
def _ref_format_unchecked(run: Run) -> int:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 200, 10)).save(out, "GIF")
    gif = base64.b64encode(out.getvalue()).decode("ascii")
    return run.action(action="image2image", image_urls=[gif]).status_code


@probe("ref-bytes-unchecked", 400)
def _ref_bytes_unchecked(run: Run) -> int:
    headers = run.headers | {"content-type": "application/json"}
    return run.pair.gateway.post(ACTION, content=_over_the_limit(run), headers=headers).status_code


_BODIES: weakref.WeakKeyDictionary[Any, bytes] = weakref.WeakKeyDictionary()  # pair -> body


def _over_the_limit(run: Run) -> bytes:
    """The image2image JSON body whose one reference decodes to a byte over the documented limit,
    the same JSON ``Run.action`` sends, written once for both sides of the probe (kept while
    their pair lives): encoding ~40 MB of base64, then a JSON body of it, cost ~0.2 CPU-s each."""
    body = _BODIES.get(run.pair)
    if body is None:
        limit = rule(run, "refs.tasks-action.30mb", "max_bytes")
        png = run.make_png(16, 16)
        big = base64.b64encode(png + b"\0" * (limit + 1 - len(png)))
        head = json.dumps(
            {"model": "gpt-image-2", "prompt": "a lighthouse", "action": "image2image"}
        )
        body = _BODIES[run.pair] = head[:-1].encode() + b', "image_urls": ["' + big + b'"]}'
    return body


@probe("gemini-reference-dropped", expect("gemini.inline-reference", "count"))
def _gemini_reference_dropped(run: Run) -> int:
    prompt = nonce()
    parts = [{"text": prompt}, {"inlineData": {"mimeType": "image/png", "data": run.png_b64()}}]
    run.post(
        "/v1beta/models/gemini-3-pro-image-preview:generateContent",
        json={"contents": [{"parts": parts}]},
    )
    sent = run.forwarded(prompt)["json"]["contents"][0]["parts"]
    return sum(1 for p in sent if "inlineData" in p)


# ---------------------------------------------------------------- output kinds and formats


@probe("response-format-ignored", ["url"])
def _response_format_ignored(run: Run) -> list[str]:
    return sorted(run.generate(response_format="url").json()["data"][0])


@probe("url-dead", 200)
def _url_dead(run: Run) -> int:
    url = run.generate(response_format="url").json()["data"][0]["url"]
    return run.get(url).status_code


@probe("b64-corrupt", True)
def _b64_corrupt(run: Run) -> bool:
    text = run.generate(response_format="b64_json").json()["data"][0]["b64_json"]
    try:
        decode(b64decode_strict(text))
    except ImageError:
        return False
    return True


@probe("base64-alias-rejected", 200)
def _base64_alias_rejected(run: Run) -> int:
    return run.generate(response_format="base64").status_code


@probe("output-format-ignored", expect("output_format.jpeg", "format"))
def _output_format_ignored(run: Run) -> str:
    task_id = run.action(output_format="jpeg").json()["task_id"]
    return str(run.task_image(run.settle(f"/action/v1/tasks/{task_id}")).format)


@probe("transparency-dropped", expect("background.transparent", "alpha"))
def _transparency_dropped(run: Run) -> bool:
    task_id = run.action(background="transparent", output_format="png").json()["task_id"]
    return bool(run.task_image(run.settle(f"/action/v1/tasks/{task_id}")).transparent_pixels)


# ---------------------------------------------------------------- tasks


@probe("task-stuck", "completed")
def _task_stuck(run: Run) -> str:
    """The job finishes (seen clean); the fault lies when the caller polls."""
    task_id = run.official(aspect_ratio="1:1", resolution="1K").json()["data"][0]["task_id"]
    path = f"/official/v1/tasks/{task_id}"
    run.settle(path, headers={"Authorization": f"Bearer {KEY}"})
    return str(run.get(path).json()["data"]["status"])


@probe("task-failure-hidden", expect("task.tasks-action.failed", "status"))
def _task_failure_hidden(run: Run) -> str:
    body = run.catalogue.rule("task.tasks-action.failed").request
    task_id = run.action(**body, image_urls=[run.png_b64()]).json()["task_id"]
    path = f"/action/v1/tasks/{task_id}"
    run.settle(path, headers={"Authorization": f"Bearer {KEY}"})
    return str(run.get(path).json()["status"])


@probe("unknown-task-200", expect("task.tasks-action.unknown.404", "status"))
def _unknown_task_200(run: Run) -> int:
    return run.get("/action/v1/tasks/task_never_issued").status_code


@probe("caller-id-optional", 400)
def _caller_id_optional(run: Run) -> int:
    return run.official(task_id=None).status_code


@probe("safety-bypassed", 400)
def _safety_bypassed(run: Run) -> int:
    return run.official(prompt=run.catalogue.defaults.safety.prompt).status_code


@probe("schema-drift", "str")
def _schema_drift(run: Run) -> str:
    return type(run.action().json()["task_id"]).__name__


# ---------------------------------------------------------------- errors, auth, routes


@probe("error-shape-plain", "application/json")
def _error_shape_plain(run: Run) -> str:
    response = run.generate(model="pixelproof-no-such-model")
    return response.headers["content-type"].split(";")[0]


@probe("auth-open", 401)
def _auth_open(run: Run) -> int:
    headers = {k: v for k, v in run.headers.items() if k != "Authorization"}
    body = {"model": "gpt-image-2", "prompt": "a lighthouse"}
    return run.pair.gateway.post("/v1/images/generations", json=body, headers=headers).status_code


@probe("model-unvalidated", 400)
def _model_unvalidated(run: Run) -> int:
    return run.post("/v1/images/generations", json={"prompt": "a lighthouse"}).status_code


@probe("variations-500", 501)
def _variations_500(run: Run) -> int:
    files = [("image", ("in.png", run.make_png(), "image/png"))]
    return run.post("/v1/images/variations", data={"model": "dall-e-2"}, files=files).status_code


@probe("edits-alias-missing", 200)
def _edits_alias_missing(run: Run) -> int:
    files = [("image", ("in.png", run.make_png(), "image/png"))]
    data = {"model": "gpt-image-1", "prompt": "a lighthouse"}
    return run.post("/v1/edits", data=data, files=files).status_code


@probe("mask-dropped", True)
def _mask_dropped(run: Run) -> bool:
    prompt = nonce()
    files = [
        ("image", ("in.png", run.make_png(), "image/png")),
        ("mask", ("mask.png", run.make_png(alpha=True), "image/png")),
    ]
    run.post("/v1/images/edits", data={"model": "gpt-image-1", "prompt": prompt}, files=files)
    return "mask" in run.forwarded(prompt)["files"]


@probe("edits-json-unsupported", 200)
def _edits_json_unsupported(run: Run) -> int:
    body = {"model": "gpt-image-2", "prompt": "a lighthouse", "image": run.png_b64()}
    return run.post("/v1/images/edits", json=body).status_code


# ---------------------------------------------------------------- Jimeng official format


@probe("jimeng-unknown-done", "not_found")
def _jimeng_unknown_done(run: Run) -> str:
    body = {"req_key": "jimeng_t2i_v40", "task_id": "never-issued"}
    answer = run.post("/jm", params=JIMENG | {"Action": "CVSync2AsyncGetResult"}, json=body)
    return str(answer.json()["data"]["status"])


@probe("jimeng-action-ignored", 400)
def _jimeng_action_ignored(run: Run) -> int:
    return run.post("/jm", json={"req_key": "jimeng_t2i_v40", "prompt": "x"}).status_code


@probe("jimeng-done-empty", 1)
def _jimeng_done_empty(run: Run) -> int:
    body = {"req_key": "jimeng_t2i_v40", "prompt": "a lighthouse", "width": 1024, "height": 1024}
    task_id = run.post("/jm", params=JIMENG, json=body).json()["data"]["task_id"]
    run.pair.advance(3600)
    query = {"req_key": "jimeng_t2i_v40", "task_id": task_id}
    answer = run.post("/jm", params=JIMENG | {"Action": "CVSync2AsyncGetResult"}, json=query)
    data = answer.json()["data"]
    assert data["status"] == "done", data
    return len(data.get("binary_data_base64") or [])


# ---------------------------------------------------------------- held to the documents (issue 12)


@probe("auth-forwarded", 0)
def _auth_forwarded(run: Run) -> int:
    prompt = nonce()
    headers = {k: v for k, v in run.headers.items() if k != "Authorization"}
    body = {"model": "gpt-image-2", "prompt": prompt}
    run.pair.gateway.post("/v1/images/generations", json=body, headers=headers)
    return len(run.pair.forwarded(contains=prompt.split()[-1]))


@probe("auth-403", expect("auth.wrong.401", "status"))
def _auth_403(run: Run) -> int:
    headers = {**run.headers, "Authorization": "Bearer wrong"}
    body = {"model": "gpt-image-2", "prompt": "a lighthouse"}
    return run.pair.gateway.post("/v1/images/generations", json=body, headers=headers).status_code


@probe("error-json-plain", True)
def _error_json_plain(run: Run) -> bool:
    return isinstance(run.generate(model="pixelproof-no-such-model").json().get("error"), dict)


@probe("unknown-task-400", expect("task.tasks-official.unknown.404", "status"))
def _unknown_task_400(run: Run) -> int:
    return run.get("/official/v1/tasks/task_never_issued").status_code


@probe("jimeng-unknown-404", expect("jimeng.unknown-task.not_found", "status"))
def _jimeng_unknown_404(run: Run) -> str:
    body = {"req_key": "jimeng_t2i_v40", "task_id": "never-issued"}
    answer = run.post("/jm", params=JIMENG | {"Action": "CVSync2AsyncGetResult"}, json=body)
    return str((answer.json().get("data") or {}).get("status"))


@probe("official-transparent-served", 400)
def _official_transparent_served(run: Run) -> int:
    body = {"model": "gpt-image-1-official", "background": "transparent", "output_format": "png"}
    return run.action(**body).status_code


@probe("action-task-stuck", "completed")
def _action_task_stuck(run: Run) -> str:
    task_id = run.action().json()["task_id"]
    run.pair.advance(run.catalogue.defaults.polling["tasks-action"].timeout_s)
    return str(run.get(f"/action/v1/tasks/{task_id}").json()["status"])


# ---------------------------------------------------------------- answers that break every promise
@probe("http-500", 200)
def _http_500(run: Run) -> int:
    return run.generate(response_format="b64_json").status_code


@probe("truncated-json", (200, True))
def _truncated_json(run: Run) -> tuple[int, bool]:
    """The gateway forwards the fault header: its upstream's answer is cut too (a 502 here)."""
    response = run.generate(response_format="b64_json")
    return response.status_code, answers_json_object(response)


@probe("wrong-content-type", "application/json")
def _wrong_content_type(run: Run) -> str:
    response = run.generate(response_format="b64_json")
    return response.headers["content-type"].split(";")[0]


@probe("prompt-unvalidated", 400)
def _prompt_unvalidated(run: Run) -> int:
    return run.post("/v1/images/generations", json={"model": "gpt-image-2"}).status_code


@probe("prompt-forwarded", (400, 0))
def _prompt_forwarded(run: Run) -> tuple[int, int]:
    tag = f"pp:{secrets.token_hex(6)}"
    answer = run.post("/v1/images/generations", json={"model": "gpt-image-2", "user": tag})
    return answer.status_code, len(run.pair.forwarded(contains=tag))


@probe("model-forwarded", (404, 0))
def _model_forwarded(run: Run) -> tuple[int, int]:
    tag = f"pp:{secrets.token_hex(6)}"
    answer = run.post("/v1/images/generations", json={"model": "no-such-model", "prompt": tag})
    return answer.status_code, len(run.pair.forwarded(contains=tag))


@probe("jimeng-edits-refused", "image")
def _jimeng_edits_refused(run: Run) -> str:
    """A file that is no image: the clean gateway takes the Jimeng edit and judges the upload
    (param image); the fault refuses the model first (param model). No job is waited for."""
    files = [("image", ("in.png", b"not an image", "image/png"))]
    form = {"model": "jimeng-4.0", "prompt": "a lighthouse", "response_format": "b64_json"}
    answer = run.post("/v1/images/edits", data=form, files=files)
    return str(answer.json()["error"]["param"])


@probe("model-prefix-match", 404)
def _model_prefix_match(run: Run) -> int:
    return run.generate(model=f"gpt-image-2-{secrets.token_hex(3)}").status_code


@probe("model-lookalike-accepted", 404)
def _model_lookalike_accepted(run: Run) -> int:
    return run.generate(model="dalle-3").status_code


@probe("edits-n-zero-forwarded", 200)
def _edits_n_zero_forwarded(run: Run) -> int:
    files = [("image", ("in.png", run.make_png(), "image/png"))]
    data = {"model": "gpt-image-1", "prompt": "a lighthouse", "n": "0"}
    return run.post("/v1/images/edits", data=data, files=files).status_code


@probe("unified-fields-dropped", {"output_format": "jpeg", "moderation": "low"})
def _unified_fields_dropped(run: Run) -> dict[str, Any]:
    prompt = nonce()
    run.generate(prompt=prompt, output_format="jpeg", moderation="low")
    sent = run.forwarded(prompt)["json"]
    return {k: sent.get(k) for k in ("output_format", "moderation")}


@probe("dall-e-defaults-wrong", {"size": None, "quality": None})
def _dall_e_defaults_wrong(run: Run) -> dict[str, Any]:
    prompt = nonce()
    run.generate(model="dall-e-3", prompt=prompt)
    sent = run.forwarded(prompt)["json"]
    return {k: sent.get(k) for k in ("size", "quality")}


def generate_jimeng(run: Run, **body: Any) -> int:
    """Jimeng on the unified entry polls its vendor task: move the mock clocks until it answers.
    The clocks move until the answer is there, however long the machine takes to get there (a
    fixed number of moves was a real-time budget: a loaded machine could use it up first and
    leave the task queued on a stopped clock); 120 s only guards against a hang."""
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(run.generate, model="jimeng-4.0", **body)
        hang_guard = time.monotonic() + 120
        while not answer.done() and time.monotonic() < hang_guard:
            run.pair.advance(5)
            time.sleep(0.002)  # yield to the request thread
        return answer.result(timeout=0).status_code


@probe("jimeng-4k-overflow", 200)
def _jimeng_4k_overflow(run: Run) -> int:
    return generate_jimeng(run, ratio="16:9", resolution="4k")


@probe("jimeng-star-size-rejected", 200)
def _jimeng_star_size_rejected(run: Run) -> int:
    return generate_jimeng(run, size="1024*1024")


@probe("ratio-subset", 200)
def _ratio_subset(run: Run) -> int:
    return run.generate(model="grok-4-2-image", ratio="21:9").status_code


@probe("ratio-ignored-openai", "3:4")
def _ratio_ignored_openai(run: Run) -> str:
    response = run.generate(ratio="3:4", response_format="b64_json")
    size = decode(b64decode_strict(response.json()["data"][0]["b64_json"])).size
    return "3:4" if ratio_matches(size, "3:4", 0.005) else str(size)


# ---------------------------------------------------------------- a failed upstream
@probe("upstream-error-passed-through", (502, "application/json"))
def _upstream_error_passed_through(run: Run) -> tuple[int, str]:
    response = run.generate(prompt="a lighthouse [pixelproof-upstream:503]")
    return response.status_code, response.headers.get("content-type", "").split(";")[0]


@probe("upstream-failure-hidden", 502)
def _upstream_failure_hidden(run: Run) -> int:
    return run.generate(prompt="a lighthouse [pixelproof-upstream:503]").status_code


# ---------------------------------------------------------------- seed 002's action-style promises
def _settled_action(run: Run, **body: Any) -> dict[str, Any]:
    task_id = run.action(**body).json()["task_id"]
    return run.settle(f"/action/v1/tasks/{task_id}")


@probe("action-required", 200)
def _action_required(run: Run) -> int:
    return run.action().status_code  # no action: generate


@probe("seed-negative-rejected", 200)
def _seed_negative_rejected(run: Run) -> int:
    return run.action(seed=-1).status_code


@probe("image2image-without-images", 400)
def _image2image_without_images(run: Run) -> int:
    return run.action(action="image2image").status_code


@probe("image2image-upstream-checks", 400)
def _image2image_upstream_checks(run: Run) -> int:
    return run.action(action="image2image").status_code


@probe("inpaint-mask-optional", 400)
def _inpaint_mask_optional(run: Run) -> int:
    return run.action(action="inpaint", image_urls=[run.png_b64()]).status_code


@probe("action-defaults-not-auto", (ABSENT, ABSENT, ABSENT))
def _action_defaults_not_auto(run: Run) -> tuple[Any, ...]:
    prompt = nonce()
    _settled_action(run, prompt=prompt)
    sent = run.forwarded(prompt)["json"]
    return tuple(sent.get(k, ABSENT) for k in ("quality", "background", "moderation"))


@probe("action-4k-upscaled", expect("size.gpt_image_2_official.16:9.4k", "size"))
def _action_4k_upscaled(run: Run) -> str:
    view = _settled_action(run, aspect_ratio="16:9", resolution="4k")
    return str(run.task_image(view).size)


@probe("legacy-resolution-honoured", True)
def _legacy_resolution_honoured(run: Run) -> bool:
    """Seed 002: the older models "use default": 2k answers what no resolution answers."""
    asked = {"model": "gpt-image-1-official", "aspect_ratio": "1:1"}
    with_tier = run.task_image(_settled_action(run, **asked, resolution="2k")).size
    return bool(with_tier == run.task_image(_settled_action(run, **asked)).size)


@probe("result-url-1h", 200)
def _result_url_1h(run: Run) -> int:
    url = _settled_action(run)["result"]["images"][0]["url"]
    return run.get(url, headers=run.headers | {FILE_AGE_HEADER: "86340"}).status_code


# ---------------------------------------------------------------- the tests

# vendor-role faults are probed on the vendor mock itself, in test_vendor_faults.py
RULE_FAULTS = sorted(
    f.name for f in FAULTS.values() if f.breaks and not f.infrastructure and f.role != "upstream"
)


def test_every_fault_has_a_probe() -> None:
    """A new promise-breaking fault needs a probe here; a probe for no such fault is stale."""
    assert sorted(PROBES) == RULE_FAULTS


@pytest.mark.parametrize("fault", RULE_FAULTS)
def test_fault_changes_what_is_observed(
    fault: str,
    mock_pair_factory: Callable[..., MockPair],
    catalogue: Catalogue,
    make_png: Callable[..., bytes],
) -> None:
    if fault not in PROBES:
        pytest.fail(f"no probe for fault {fault!r} (see test_every_fault_has_a_probe)")
    pair = mock_pair_factory(time_scale=1e-6, api_key=KEY)
    auth = {"Authorization": f"Bearer {KEY}"}
    probe_ = PROBES[fault]
    clean = probe_.observe(Run(pair, auth, catalogue, make_png))
    assert clean == probe_.clean(catalogue), f"clean gateway: {clean!r}"
    faulty = probe_.observe(Run(pair, auth | {FAULT_HEADER: fault}, catalogue, make_png))
    assert faulty != clean, f"{fault}: the faulty answer looks like the clean one ({clean!r})"


def test_unknown_fault_names_in_the_header_are_ignored(
    mock_pair_factory: Callable[..., MockPair],
) -> None:
    pair = mock_pair_factory(time_scale=1e-6)
    body = {"model": "gpt-image-2", "prompt": "a lighthouse", "size": "1536x1024"}
    response = pair.gateway.post(
        "/v1/images/generations",
        json=body | {"response_format": "b64_json"},
        headers={FAULT_HEADER: "no-such-fault, size-ignored-typo"},
    )
    assert response.status_code == 200
    item = response.json()["data"][0]
    assert decode(b64decode_strict(item["b64_json"])).size == Size(1536, 1024)
