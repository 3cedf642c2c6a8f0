"""Identical requests, one answer: the pipeline's memo of answers that are a function of the
request alone.

A client that sends the same small request again and again (a load test, a retry loop, the
bench's keep-alive client) made the mock parse the same JSON, redact the same headers, run the
vendor's checks and encode the same answer every time: at one connection that work is the
latency, and py-spy put it at about half of the mock's CPU per request (bench/README.md). A
handler says when its answer depends on nothing but the request (``Incoming.replayable``: the
OpenAI vendor's ``b64_json`` answers, which draw from the image cache and touch no state), and
the pipeline then keeps that answer, with what it recorded, under the request's exact bytes.

An answer is replayed only when nothing it was made from can have changed:

- the same method, path, query string, raw headers (so the same fault header, key, content
  type) and body bytes, and the same configured keys and body limit;
- no fault on (configured or asked for): a faulted answer is never kept, nor replayed;
- the same second of the mock's clock, the ``created`` the answer carries (an entry is kept only
  when the clock read the same second before and after the handler ran);
- the gateway role never keeps anything (its answers come from its upstream).

A replayed request is recorded as the first one was (the same fields passed through the same
``Recorder.add``, with its own sequence number and time), then answered with the same bytes.
Small requests only, a few entries, kept from a request's second sighting on and forgotten when
the clock's second moves on: the memo never holds more than a few answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from pixelproof.mock.clock import Clock
from pixelproof.mock.recorder import Recorded, Recorder
from pixelproof.mock.state import MockConfig

MAX_REQUEST_BYTES = 8 * 1024  # raw headers and body of a request the memo may key on
MAX_ANSWER_BYTES = 256 * 1024  # a larger answer is made anew each time
MAX_ENTRIES = 16
MAX_SEEN = 1024
RECORDED_FIELDS = ("method", "path", "query", "headers", "json", "form", "body_size")


@dataclass(frozen=True)
class Replay:
    wall: int  # the clock's second the answer was made in (its ``created``)
    fields: dict[str, Any]  # what the recorder was given, time and files aside (there were none)
    notes: dict[str, Any]
    response: Response

    def record(self, recorder: Recorder, clock: Clock) -> Recorded:
        """The request recorded as the first one was: the same fields through the same ``add``
        (which copies them), at the clock's time now."""
        item = recorder.add({"time": clock.now(), **self.fields, "files": {}})
        item.status = self.response.status_code
        item.notes.update(self.notes)
        return item


def request_key(scope: Any, body: bytes | bytearray, config: MockConfig) -> tuple[Any, ...] | None:
    """What an answer may be kept under: every byte of the request and the configuration the
    pipeline reads; None when no answer may be kept or replayed for it."""
    if config.faults or config.role == "gateway" or len(body) > MAX_REQUEST_BYTES:
        return None
    try:
        headers = tuple(scope["headers"])
        hash(headers)
    except TypeError:  # an ASGI server that gives headers as lists: no memo
        return None
    return (  # keep() reads the headers and the body as key[4] and key[5]
        scope["method"],
        scope.get("root_path", ""),
        scope["path"],
        scope.get("query_string", b""),
        headers,
        bytes(body),
        config.api_key,
        config.upstream_key,
        config.max_body_bytes,
    )


class Memo:
    """One endpoint's kept answers, all of one second of its mock's clock. An answer is kept the
    second time its request is seen in that second: a stream of distinct requests (a run's,
    each with its own nonce) costs a key and a hash per request, and keeps nothing."""

    def __init__(self) -> None:
        self._wall: int | None = None
        self._entries: dict[tuple[Any, ...], Replay] = {}
        self._seen: set[int] = set()  # hashes of the keys answered once in this second

    def _second(self, wall: int) -> None:
        if wall != self._wall:
            self._entries.clear()
            self._seen.clear()
            self._wall = wall

    def get(self, key: tuple[Any, ...], clock: Clock) -> Replay | None:
        wall = clock.wall()
        if wall != self._wall:
            self._second(wall)
            return None
        replay = self._entries.get(key)
        return replay if replay is not None and replay.wall == wall else None  # made this second

    def keep(self, key: tuple[Any, ...], wall: int, clock: Clock, recorded: Recorded,
             notes: dict[str, Any], response: Response) -> None:  # fmt: skip
        """Keep ``response`` if it is a plain 200 of known bytes made within one clock second
        (``wall``, read before the handler ran, is still the clock's) from a request that sent
        no file."""
        if (
            type(response).__call__ is not Response.__call__
            or response.background is not None
            or response.status_code != 200
            or len(response.body) > MAX_ANSWER_BYTES
            or recorded.files
            or clock.wall() != wall
        ):
            return
        self._second(wall)
        if (seen := hash(key)) not in self._seen:
            if len(self._seen) >= MAX_SEEN:
                self._seen.clear()
            self._seen.add(seen)
            return
        if sum(len(k) + len(v) for k, v in key[4]) + len(key[5]) > MAX_REQUEST_BYTES:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        fields = {name: getattr(recorded, name) for name in RECORDED_FIELDS}
        self._entries[key] = Replay(wall, fields, dict(notes), response)
