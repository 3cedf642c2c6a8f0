"""OpenAI's streamed image answers (`stream: true`, GPT image models): a `text/event-stream` of
partial images, then the final one with its usage, as OpenAI's published document describes them
(openai/openai-openapi, ImageGenStreamEvent / ImageEditStreamEvent)."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from pixelproof.mock.errors import ApiError

TRUE, FALSE = ("true", "1"), ("false", "0")


def wants_stream(body: dict[str, Any], model: str) -> int | None:
    """None: answer JSON. Else the number of partial images to stream before the final one."""
    stream = body.get("stream")
    if isinstance(stream, str) and stream.lower() in TRUE + FALSE:  # a multipart form field
        stream = stream.lower() in TRUE
    if stream is not None and not isinstance(stream, bool):
        raise ApiError(400, "stream must be a boolean", param="stream")
    partial = _partial_images(body.get("partial_images"))
    if not stream:
        return None
    if not model.startswith("gpt-image"):
        raise ApiError(400, f"stream is only supported for the GPT image models, not {model}",
                       param="stream")  # fmt: skip
    return partial


def _partial_images(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, str) and value.strip().isdigit():  # a multipart form field
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON's 2.0 is an integer to JSON Schema
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 3:
        raise ApiError(400, "partial_images must be an integer between 0 and 3",
                       param="partial_images", code="integer_out_of_range")  # fmt: skip
    return value


def event_stream(prefix: str, answer: dict[str, Any], partials: int) -> Response:
    """``answer`` (the JSON answer already built) as events: ``prefix`` is image_generation or
    image_edit; each image is preceded by ``partials`` partial images (the same bytes here)."""
    common = {
        k: answer[k] for k in ("size", "quality", "background", "output_format") if k in answer
    }
    common["created_at"] = answer.get("created", 0)
    chunks = []
    for item in answer.get("data") or []:
        for index in range(partials):
            event = {"type": f"{prefix}.partial_image", "b64_json": item.get("b64_json"),
                     **common, "partial_image_index": index}  # fmt: skip
            chunks.append(_sse(event))
        final = {"type": f"{prefix}.completed", "b64_json": item.get("b64_json"), **common}
        if "usage" in answer:
            final["usage"] = answer["usage"]
        chunks.append(_sse(final))
    return Response("".join(chunks), media_type="text/event-stream")


def _sse(event: dict[str, Any]) -> str:
    return f"event: {event['type']}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n"
