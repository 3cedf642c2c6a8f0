"""Named faults the mock can inject, each declaring the rules it breaks.

A fault is enabled for the whole process (``--fault NAME``) or for one request (header
``X-Pixelproof-Fault: a,b``), so parallel tests never see each other's faults. The harness's own
tests prove that every fault is caught by the rules it declares.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable
from dataclasses import dataclass

FAULT_HEADER = "x-pixelproof-fault"


@dataclass(frozen=True)
class Fault:
    name: str
    role: str  # gateway | upstream | any
    description: str
    breaks: tuple[str, ...]  # rule ids a run with this fault must fail ("" for infrastructure)
    infrastructure: bool = False  # an outage, judged as errors rather than broken promises
    holds: tuple[str, ...] = ()  # rule ids that must still pass: what the documents allow
    allowed: bool = False  # a variant the documents allow (breaks nothing), not a fault


def _f(
    name: str,
    role: str,
    description: str,
    *breaks: str,
    infra: bool = False,
    holds: tuple[str, ...] = (),
) -> Fault:
    return Fault(name, role, description, breaks, infra, holds)


def _v(name: str, role: str, description: str, *holds: str) -> Fault:
    """A behaviour the documents allow: the rules in ``holds`` must pass with it on."""
    return Fault(name, role, description, (), holds=holds, allowed=True)


# One rule per style of surface (sync, action tasks, Jimeng) that any answer-breaking fault fails.
_ANSWERED_BADLY = ("response_format.b64_json", "task.tasks-official.lifecycle", "jimeng.submit")

CATALOGUE: dict[str, Fault] = {
    f.name: f
    for f in [
        _f("size-ignored", "gateway", "unified sizes are ignored: every image is 1024x1024",
           "size.gpt-image-2.4:3", "size.gpt-image-2-pro.1:1.2k", "size.doubao-seedream-4-0-250828.16:9"),
        _f("official-table-swapped", "gateway", "the official channel maps 4:3 with the unified table (1536x1152)",
           "size.gpt_image_2_official.4:3.1k"),
        _f("no-fallback", "gateway", "sizes the upstream cannot take are forwarded unchanged",
           "fallback.gpt-image-2.16:9", "size.gpt-image-2.16:9"),
        _f("no-ratio-intent", "gateway", "falls back without appending the ratio intent to the prompt",
           "fallback.gpt-image-2.16:9", "fallback.gpt-image-2-pro.4:3.4k"),
        _f("n-zero-forwarded", "gateway", "n = 0 is forwarded to the upstream as 0",
           "n.default.zero", "n.default.zero.forwarded"),
        _f("n-default-two", "gateway", "n omitted yields two images (generations and edits)",
           "n.default.omitted", "n.edits.omitted"),
        _f("watermark-false-dropped", "gateway", "an explicit watermark: false is dropped (vendor default applies)",
           "watermark.false.forwarded"),
        _f("watermark-omitted-as-false", "gateway", "an omitted watermark is forwarded as false",
           "watermark.omitted.not-forwarded"),
        _f("refs-unlimited", "gateway", "reference-image limits are not enforced",
           "refs.tasks-action.16", "refs.tasks-official.9"),
        _f("refs-dropped", "gateway", "only the first reference image is forwarded", "refs.unified.forwarded"),
        _f("ref-format-unchecked", "gateway", "GIF references are accepted", "refs.tasks-action.format"),
        _f("ref-bytes-unchecked", "gateway", "references over 30 MB are accepted", "refs.tasks-action.30mb"),
        _f("response-format-ignored", "gateway", "response_format is ignored: always b64_json",
           "response_format.url"),
        _f("url-dead", "gateway", "returned URLs answer 404", "response_format.url"),
        _f("b64-corrupt", "gateway", "b64_json is not valid base64", "response_format.b64_json",
           "response_format.b64_json.seedream-url-alone", "response_format.b64_json.grok-url"),
        _f("base64-alias-rejected", "gateway", "response_format = base64 is rejected", "response_format.base64"),
        _f("output-format-ignored", "gateway", "output_format is ignored: always PNG",
           "output_format.jpeg", "output_format.webp"),
        _f("transparency-dropped", "gateway", "background = transparent yields an opaque image",
           "background.transparent"),
        _f("passthrough-dropped", "gateway", "background and style are not passed through",
           "passthrough.background", "passthrough.style"),
        _f("task-stuck", "gateway", "official-channel tasks never leave processing",
           "task.tasks-official.deadline"),
        _f("action-task-stuck", "gateway", "action-style tasks never leave processing",
           "task.tasks-action.deadline"),
        _f("task-failure-hidden", "gateway", "failed tasks are reported completed (without images)",
           "task.tasks-action.failed", "upstream.failure.tasks-action.503",
           "upstream.failure.tasks-action.unreachable", "upstream.failure.tasks-official.503",
           "upstream.failure.tasks-official.unreachable"),
        _f("unknown-task-200", "gateway", "unknown task ids answer 200 queued",
           "task.tasks-action.unknown", "task.tasks-official.unknown"),
        _f("caller-id-optional", "gateway", "official submissions without task_id are accepted",
           "task.tasks-official.caller-id"),
        _f("safety-bypassed", "gateway", "prompts are not reviewed", "safety.tasks-official.rejected"),
        _f("four-k-any-ratio", "gateway", "4K is accepted for every ratio",
           "ratio.gpt-image-2.1:1.4k", "size.gpt_image_2_official.1:1.4k"),
        _f("legacy-ratios-accepted", "gateway", "gpt-image-1.x accept any ratio",
           "ratio.gpt-image-1-official.16:9"),
        _f("error-shape-plain", "gateway", "unified errors are plain text, not the JSON error object",
           "error.shape.unified", "model.unknown"),
        _f("auth-open", "any", "any key (or none) is accepted", "auth.missing", "auth.wrong",
           "auth.missing.not-forwarded", "auth.wrong.not-forwarded"),
        _f("auth-forwarded", "gateway", "the gateway does not check keys: it forwards `Bearer undefined` upstream and passes the upstream's 401 through",
           # unified: the upstream's 401 relayed keeps the 4xx part; a task submitted is not refused
           "auth.missing.not-forwarded", "auth.wrong.not-forwarded", "auth.missing", "auth.wrong"),
        _f("auth-403", "gateway", "bad or missing keys are answered 403 (a JSON error) instead of 401",
           "auth.missing.401", "auth.wrong.401",
           holds=("auth.missing", "auth.wrong", "auth.missing.not-forwarded", "auth.wrong.not-forwarded")),
        _f("error-json-plain", "gateway", "unified errors are JSON {\"message\": ...} without OpenAI's error object",
           "error.shape.unified.openai", holds=("error.shape.unified", "model.required", "model.unknown")),
        _f("unknown-task-400", "gateway", "unknown task ids are answered 400 (a JSON error) instead of 404",
           "task.tasks-action.unknown.404", "task.tasks-official.unknown.404",
           holds=("task.tasks-action.unknown", "task.tasks-official.unknown")),
        _f("jimeng-unknown-404", "gateway", "the Jimeng result query answers an unknown task with HTTP 404, not status not_found",
           "jimeng.unknown-task.not_found", holds=("jimeng.unknown-task",)),
        _f("official-transparent-served", "gateway", "official-channel models serve background = transparent",
           "background.transparent.official"),
        _f("model-unvalidated", "gateway", "missing or unknown models are served by a default model",
           "model.unknown", "model.required", "model.unknown.not-forwarded"),
        _f("model-forwarded", "gateway", "an unknown model is forwarded upstream as it came, and the upstream's refusal relayed",
           "model.unknown.not-forwarded", "model.unknown.suffix.not-forwarded",
           "model.unknown.lookalike.not-forwarded",
           holds=("model.unknown", "model.unknown.suffix", "model.unknown.lookalike")),
        _f("prompt-unvalidated", "gateway", "a generation without prompt is forwarded with a default prompt",
           "prompt.required", "prompt.required.not-forwarded"),
        _f("prompt-forwarded", "gateway", "a generation without prompt is forwarded upstream as it came, and the upstream's refusal relayed",
           "prompt.required.not-forwarded", holds=("prompt.required",)),
        _f("model-prefix-match", "gateway", "an unknown model that starts with a documented name is served by that model",
           "model.unknown.suffix", "model.unknown.suffix.not-forwarded"),
        _f("model-lookalike-accepted", "gateway", "a model name equal to a documented one but for punctuation (dalle-3) is served",
           "model.unknown.lookalike", "model.unknown.lookalike.not-forwarded"),
        _f("jimeng-edits-refused", "gateway", "multipart edits are refused for Jimeng models (as the reference gateway did)",
           "edits.multipart.jimeng"),
        _f("edits-n-zero-forwarded", "gateway", "edits forward n = 0 to the upstream unchanged", "n.edits.zero"),
        _f("unified-fields-dropped", "gateway", "output_format, output_compression, moderation and quality are not forwarded (as seen live)",
           "output_format.unified.jpeg", "output_format.unified.webp", "passthrough.output_compression",
           "passthrough.moderation", "passthrough.quality"),
        _f("dall-e-defaults-wrong", "gateway", "omitted size and quality get other defaults (dall-e-3: 1792x1024, hd; gpt-image-1: high)",
           "default.size.dall-e", "default.quality.dall-e-3", "default.quality.gpt-image-1"),
        _f("jimeng-4k-overflow", "gateway", "Jimeng ratio at 4k is sized by area (5456x3072 for 16:9), which the vendor refuses as out of range",
           "ratio.jimeng-4.0.16:9.4k", "ratio.jimeng-4.0.21:9.4k"),
        _f("jimeng-star-size-rejected", "gateway", "Jimeng sizes written 1024*1024 are rejected (WxH only)",
           "size.jimeng.star"),
        _f("ratio-subset", "gateway", "Seedream and Grok take only the ratios of the size table (16:9, 9:16, 1:1)",
           "ratio.doubao-seedream-4-0-250828.4:3", "ratio.grok-4-2-image.21:9"),
        _f("ratio-ignored-openai", "gateway", "gpt-image-2 ignores ratio (3:4 answers the default size)",
           "ratio.gpt-image-2.3:4"),
        # seed 002, the action-style API's own promises (rules/tasks-action.yaml)
        _f("action-required", "gateway", "a submission without action is refused (no generate default)",
           "action.default.generate"),
        _f("image2image-without-images", "gateway", "image2image without image_urls is generated from the prompt alone",
           "action.image2image.requires-image_urls", "action.image2image.requires-image_urls.not-forwarded"),
        _f("inpaint-mask-optional", "gateway", "inpaint without mask_url is forwarded as an edit without a mask",
           "action.inpaint.requires-mask_url", "action.inpaint.requires-mask_url.not-forwarded"),
        _f("image2image-upstream-checks", "gateway", "image2image without image_urls is forwarded; the upstream's refusal fails the task",
           "action.image2image.requires-image_urls.not-forwarded", holds=("action.image2image.requires-image_urls",)),
        _f("action-defaults-not-auto", "gateway", "omitted quality, background and moderation are forwarded as high, opaque and low",
           "default.tasks-action.quality.auto", "default.tasks-action.background.auto",
           "default.tasks-action.moderation.auto"),
        _f("seed-negative-rejected", "gateway", "seed = -1 is refused (seed must be >= 0)", "seed.random"),
        _f("action-4k-upscaled", "gateway", "4k results are upscaled to a 4096 long side (4096x2304 for 16:9), over the pixel ceiling",
           "limit.tasks-action.pixel-ceiling.16:9.4k", "limit.tasks-action.pixel-ceiling.9:16.4k",
           "limit.tasks-action.pixel-ceiling.2:1.4k", "limit.tasks-action.pixel-ceiling.1:2.4k"),
        _f("result-url-1h", "gateway", "action-style result URLs expire after 1 hour (as OpenAI's dall-e URLs do), not 24",
           "url.tasks-action.valid-24h"),
        _f("legacy-resolution-honoured", "gateway", "older models honour resolution 2k (served by gpt-image-2 at 2048x2048)",
           "resolution.tasks-action.others-default"),
        _f("upstream-error-passed-through", "gateway", "an upstream 5xx is relayed as it came (its HTML page), a dropped upstream answered with an HTML 502",
           "upstream.failure.503", "upstream.failure.unreachable", "upstream.failure.gemini.503",
           "upstream.failure.gemini.unreachable"),
        _f("upstream-failure-hidden", "gateway", "a failed upstream is answered 200 with no images",
           "upstream.failure.503", "upstream.failure.unreachable", "upstream.failure.gemini.503",
           "upstream.failure.gemini.unreachable"),
        _f("variations-500", "gateway", "the variations route crashes with 500",
           "variations.not-implemented"),
        _f("edits-alias-missing", "gateway", "/v1/edits answers 404", "edits.alias"),
        _f("mask-dropped", "gateway", "the mask of an edit is not forwarded", "edits.mask"),
        _f("edits-json-unsupported", "gateway", "JSON edits are rejected (multipart only)", "edits.json"),
        _f("size-coerced", "gateway", "invalid dall-e sizes are silently replaced by 1024x1024",
           "size.dall-e-2.rejects-1792x1024", "size.dall-e-3.rejects-512x512"),
        _f("gemini-imagesize-dropped", "gateway", "Gemini imageSize is not forwarded (always 1K)",
           "size.gemini-3-pro-image-preview.1:1.2k"),
        _f("gemini-reference-dropped", "gateway", "Gemini inlineData reference parts are not forwarded",
           "gemini.inline-reference"),
        _f("jimeng-unknown-done", "gateway", "Jimeng result for an unknown task says done",
           "jimeng.unknown-task"),
        _f("jimeng-action-ignored", "gateway", "Jimeng submissions without Action/Version are processed",
           "jimeng.action-required"),
        _f("jimeng-done-empty", "gateway", "Jimeng tasks end done with code 10000 but no images",
           "jimeng.submit"),
        _f("revised-prompt-empty", "gateway", "revised_prompt is returned as an empty string",
           "prompt.revised"),
        _f("bad-ratio-500", "gateway", "an unknown aspect ratio crashes the action-style API with 500"),
        _f("schema-drift", "gateway", "task submissions answer task_id as a number (outside the contract)",
           "task.tasks-action.lifecycle"),
        # the vendor role: each breaks a vendor rule set (vendors.yaml), judged on the vendor surfaces
        _f("vendor-size-unchecked", "upstream", "OpenAI sizes are not checked: any WxH is served",
           "openai.size.gpt-image-2.rejects-not-16", "openai.size.dall-e-3.rejects-small"),
        _f("vendor-n-unchecked", "upstream", "OpenAI n limits are not enforced (dall-e-3 n = 2, n = 11 served)",
           "openai.n.rejects-11", "openai.n.dall-e-3.rejects-2"),
        _f("vendor-n-ignored", "upstream", "OpenAI and xAI answer one image whatever n says",
           "openai.n.2", "xai.n.2"),
        _f("vendor-created-missing", "upstream", "OpenAI and Ark answers lack `created`",
           "openai.response.shape", "ark.response.shape"),
        _f("vendor-url-ignored", "upstream", "OpenAI and xAI answer b64_json when a URL is asked or the default",
           "openai.response_format.url", "xai.response_format.default"),
        _f("vendor-gpt-url", "upstream", "OpenAI GPT image models answer URLs instead of base64",
           "openai.output.gpt-image.base64"),
        _f("vendor-opaque", "upstream", "OpenAI background = transparent yields an opaque image",
           "openai.background.transparent"),
        _f("vendor-revised-prompt-empty", "upstream", "dall-e-3 revised_prompt is an empty string",
           "openai.revised_prompt"),
        _f("vendor-edits-refused", "upstream", "OpenAI image edits answer 400 whatever is sent",
           "openai.edits.multipart"),
        _f("xai-png", "upstream", "xAI images are PNG, not JPEG", "xai.output.jpeg"),
        _f("ark-watermark-default-off", "upstream", "Ark adds no watermark when watermark is omitted",
           "ark.watermark.default"),
        _f("gemini-vendor-imagesize-ignored", "upstream", "Gemini imageSize is ignored: always 1K",
           "gemini_vendor.size.pro-2k"),
        _f("jimeng-visual-unknown-done", "upstream", "the visual API says done for a task never issued",
           "jimeng_visual.unknown-task"),
        _f("jimeng-visual-action-ignored", "upstream", "the visual API processes a submission without Action",
           "jimeng_visual.action-required"),
        _f("jimeng-visual-done-empty", "upstream", "the visual API ends done with code 10000 but no images",
           "jimeng_visual.submit"),
        # variants the documents allow: the rules they name must still pass
        _v("official-transparent-ignored", "gateway", "official-channel models ignore background = transparent (opaque image)",
           "background.transparent.official"),
        _v("seedream-url-alone", "gateway", "Seedream asked for b64_json answers url alone",
           "response_format.b64_json.seedream-url-alone"),
        _v("image2image-fails-late", "gateway", "image2image without image_urls is accepted, then the task fails with the reason (nothing forwarded)",
           "action.image2image.requires-image_urls", "action.image2image.requires-image_urls.not-forwarded"),
        _v("action-defaults-explicit-auto", "gateway", "omitted quality, background and moderation are forwarded as an explicit auto",
           "default.tasks-action.quality.auto", "default.tasks-action.background.auto", "default.tasks-action.moderation.auto"),
        _v("legacy-resolution-refused", "gateway", "older models refuse the resolution field with a 400 JSON error",
           "resolution.tasks-action.others-default"),
        _v("result-url-7d", "gateway", "action-style result URLs live 7 days (longer than the 24 h promised)",
           "url.tasks-action.valid-24h"),
        _v("watermark-omitted-as-true", "gateway", "an omitted watermark is forwarded as an explicit true",
           "watermark.omitted.not-forwarded"),
        _v("gemini-other-pixels", "upstream", "Gemini draws another pixel table (16:9 1K as 1376x768, 2K as 2752x1536)",
           "size.gemini-3-pro-image-preview.16:9.1k", "size.gemini-3-pro-image-preview.16:9.2k",
           "size.gemini-3-pro-image-preview.1:1.2k"),
        # a 5xx or malformed answer that repeats is the target's answer: it breaks the promise
        _f("http-500", "any", "every image call answers 500", *_ANSWERED_BADLY),
        _f("truncated-json", "any", "JSON answers are cut in half", *_ANSWERED_BADLY),
        _f("wrong-content-type", "any", "answers are sent as text/html", *_ANSWERED_BADLY),
        # infrastructure: no usable answer at all, judged as errors, not broken promises
        _f("slow", "any", "every answer is delayed by 2 s of real time", infra=True),
        _f("huge-body", "any", "answers are padded to 64 MiB", infra=True),
        _f("task-vanishes", "gateway", "a submitted task is unknown at its first poll", infra=True),
    ]
}  # fmt: skip

_request_faults: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "pixelproof_request_faults", default=frozenset()
)


class UnknownFault(ValueError):
    pass


def validate(names: Iterable[str]) -> frozenset[str]:
    names = frozenset(n.strip() for n in names if n.strip())
    unknown = sorted(names - CATALOGUE.keys())
    if unknown:
        raise UnknownFault(
            f"unknown fault(s): {', '.join(unknown)}; `pixelproof faults` lists the {len(CATALOGUE)} known ones"
        )
    return names


def parse_header(value: str | None) -> frozenset[str]:
    """Faults named in the request header; unknown names are ignored (never a 500)."""
    if not value:
        return frozenset()
    return frozenset(n.strip() for n in value.split(",")) & CATALOGUE.keys()


def set_request_faults(names: frozenset[str]) -> contextvars.Token[frozenset[str]]:
    return _request_faults.set(names)


def reset_request_faults(token: contextvars.Token[frozenset[str]]) -> None:
    _request_faults.reset(token)


def request_faults() -> frozenset[str]:
    return _request_faults.get()


def active(name: str) -> bool:
    """True when fault ``name`` is on for the request being handled (process or header)."""
    if name not in CATALOGUE:
        raise UnknownFault(name)  # a typo in the mock itself must not silently disable a fault
    return name in _request_faults.get()
