"""The client against misbehaving servers: every exchange ends by its deadline, bodies stop at the
cap, the breaker stops a dead surface, a 429 is asked again as its Retry-After says (within the
run's deadline), and credentials (header or query) never show."""

from __future__ import annotations

import datetime as dt
import email.utils
import time
from typing import Any

import pytest

import hostile
from pixelproof.client import RATE_LIMIT_RETRIES, RATE_LIMIT_WAIT_S, Client, Exchange, retry_after
from pixelproof.deadline import Guard
from pixelproof.redact import Redactor

SENTINEL = "sentinel-key-5f0c1e"


# The deadline is 0.25 s (nothing legitimate waits on it: these servers never answer); without
# it they hold an exchange for 30 s (hang) to 80 min (drip), so a bound far above the deadline
# tells the two apart on however loaded a machine.
DEADLINE_S = 0.25
HELD_AT_MOST_S = 15.0


def timed_send(url: str, path: str = "/x") -> tuple[Exchange, float]:
    client = Client(url, None, DEADLINE_S)
    started = time.monotonic()
    try:
        return client.send("GET", path), time.monotonic() - started
    finally:
        client.close()


@pytest.mark.parametrize("behaviour", [hostile.drip, hostile.drip_headers, hostile.hang])
def test_timeout_is_a_deadline_for_the_whole_exchange(behaviour: hostile.Behaviour) -> None:
    with hostile.serve(behaviour) as url:
        exchange, took = timed_send(url)
    assert str(exchange.error).startswith("timed out"), exchange
    assert took < HELD_AT_MOST_S, f"a {behaviour.__name__} server held the exchange {took:.1f}s"
    assert exchange.body == b""


def test_streamed_body_stops_at_the_cap_and_keeps_nothing() -> None:
    with hostile.rss_growth() as growth, hostile.serve(hostile.huge_chunked(400 << 20)) as url:
        client = Client(url, None, 20)
        exchange = client.send("GET", "/x")
        client.close()
    assert exchange.error is not None
    assert "byte cap" in exchange.error
    assert exchange.body == b""
    assert growth() < 150  # at its peak: what it read up to the 48 MiB cap, never the 400 MB


def test_declared_huge_body_is_refused_before_reading() -> None:
    with hostile.serve(hostile.huge_length(10 * 1024 * 1024 * 1024)) as url:
        client = Client(url, None, 20)
        exchange = client.send("GET", "/x")
        client.close()
    # No clock: a client that read before refusing would end on its 20 s deadline ("timed out"),
    # not with the declared length.
    assert exchange.error is not None
    assert "declared 10,737,418,240 bytes" in exchange.error
    assert exchange.body == b""


def test_breaker_stops_a_surface_after_consecutive_failures() -> None:
    guard = Guard(breaker_after=3)
    client = Client(hostile.refused_url(), None, 2, guard=guard, surface="unified")
    errors = [client.send("GET", "/x").error for _ in range(5)]
    client.close()
    assert all(e and e.startswith("ConnectError") for e in errors[:3]), errors
    assert errors[3] is not None
    assert errors[3].startswith("not sent: unified gave no answer 3 times")
    assert "first: ConnectError" in errors[3]
    assert Guard(breaker_after=3).refusal("unified") is None  # another run starts closed


def test_an_answer_resets_the_breaker() -> None:
    guard = Guard(breaker_after=2)
    guard.record("s", "ConnectError: x")
    guard.record("s", None)
    guard.record("s", "ConnectError: y")
    assert guard.refusal("s") is None
    guard.record("s", "ConnectError: z")
    assert guard.refusal("s") is not None
    assert "first: ConnectError: y" in str(guard.refusal("s"))


def test_run_deadline_refuses_later_sends() -> None:
    now = [100.0]
    guard = Guard(run_timeout_s=60, clock=lambda: now[0])
    assert guard.refusal("unified") is None
    now[0] = 161.0
    assert guard.refusal("unified") == "not sent: the run deadline passed (run_timeout_s=60)"
    client = Client("http://127.0.0.1:9", None, 5, guard=guard, surface="unified")
    assert client.send("GET", "/x").error == guard.refusal("unified")
    client.close()


def _echo(sock: object) -> None:
    """Answers 400 with the whole request head in the body (a target that echoes the key)."""
    head = hostile.read_request(sock)  # type: ignore[arg-type]
    sock.sendall(hostile.answer(400, head.decode("latin-1").encode("utf-8")))  # type: ignore[attr-defined]


def test_credentials_in_a_custom_header_and_the_query_never_show() -> None:
    redactor = Redactor.for_credentials("X-Auth-Token", "key", SENTINEL)
    with hostile.serve(_echo) as url:
        client = Client(url, ("X-Auth-Token", SENTINEL), 5, auth_query=("key", SENTINEL),
                        redactor=redactor)  # fmt: skip
        exchange = client.send("POST", "/v1/images/generations", json_body={"prompt": SENTINEL},
                               params={"Action": "x"})  # fmt: skip
        client.close()
    assert exchange.status == 400
    assert SENTINEL.encode() in exchange.body  # the target really received (and echoed) it
    shown = exchange.describe_request() + exchange.describe_response() + repr(exchange.url)
    assert SENTINEL not in shown
    assert "key=%5Bredacted%5D" in exchange.url or "key=[redacted]" in exchange.url
    assert "Action=x" in exchange.url
    assert exchange.request_headers["x-auth-token"] == "[redacted]"


def test_json_null_is_json_and_deep_nesting_is_not() -> None:
    null = Exchange("GET", "u", {}, status=200, body=b"null")
    assert null.is_json()
    assert null.json() is None
    deep = Exchange("GET", "u", {}, status=200, body=b"[" * 100_000 + b"]" * 100_000)
    assert not deep.is_json()
    assert deep.describe_response(50).startswith("200")


def test_large_bodies_are_spilled_but_read_back_whole() -> None:
    data = bytes(range(256)) * 20_000  # 5 MB
    exchange = Exchange("GET", "u", {}, status=200, body=data)
    assert "_body" in exchange.__dict__
    assert not isinstance(exchange.__dict__["_body"], bytes)
    assert exchange.body == data


def _proxy_env(monkeypatch: pytest.MonkeyPatch, proxy: str) -> None:
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("http_proxy", proxy)


def test_an_environment_proxy_is_used_and_still_bounded_by_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A user behind HTTP_PROXY reaches remote targets through it, and a proxy that drips holds
    the exchange no longer than a dripping target would."""
    with hostile.serve(_echo) as proxy:
        _proxy_env(monkeypatch, proxy)
        client = Client("http://vendor.pixelproof.invalid", None, 5)
        seen = client.send("GET", "/v1/models")
        client.close()
    assert seen.status == 400, seen  # answered by the proxy: the .invalid host resolves nowhere
    assert b"GET http://vendor.pixelproof.invalid/v1/models" in seen.body
    with hostile.serve(hostile.drip) as proxy:
        _proxy_env(monkeypatch, proxy)
        exchange, took = timed_send("http://vendor.pixelproof.invalid")
    assert str(exchange.error).startswith("timed out"), exchange
    assert took < HELD_AT_MOST_S, f"a dripping proxy held the exchange {took:.1f}s"


def test_loopback_targets_never_go_through_a_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    _proxy_env(monkeypatch, hostile.refused_url())
    with hostile.serve(_echo) as url:
        client = Client(url, None, 5)
        exchange = client.send("GET", "/direct")
        client.close()
    assert exchange.status == 400, exchange
    assert b"GET /direct HTTP/1.1" in exchange.body


@pytest.mark.parametrize(
    ("header", "default", "wait"),
    [
        (None, 2.0, 2.0),  # none: the client's own back-off
        ("3", 1.0, 3.0),
        ("0", 1.0, 0.0),
        ("-5", 1.0, 0.0),
        ("86400", 1.0, RATE_LIMIT_WAIT_S),  # capped: a day is a refusal, not a wait
        ("soon", 4.0, 4.0),
        ("nan", 4.0, 4.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 1.0, 0.0),  # a date long past
    ],
)
def test_retry_after_reads_seconds_and_dates_within_bounds(
    header: str | None, default: float, wait: float
) -> None:
    assert retry_after(header, default) == wait


def test_retry_after_reads_a_future_http_date() -> None:
    when = email.utils.format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=20), True)
    assert 15.0 < retry_after(when, 1.0) <= 20.0


def test_a_429_is_asked_again_after_its_wait_and_never_past_the_run_deadline(
    capfd: pytest.CaptureFixture[str],
) -> None:
    asked: list[float] = []

    def limited(sock: Any) -> None:
        hostile.read_request(sock)
        asked.append(time.monotonic())
        sock.sendall(hostile.answer(429, b"{}", extra="Retry-After: 7\r\n"))

    with hostile.serve(limited) as url:
        client = Client(url, None, 5.0, surface="unified")
        slept: list[float] = []
        client.sleep = slept.append  # the waits, not taken
        exchange = client.send("GET", "/x")
        assert exchange.status == 429
        assert slept == [7.0, 7.0, 7.0]
        said = capfd.readouterr().err  # a wait that long is said: a run's line would sit silent
        assert "unified answered 429 (rate limited): waiting 7 s as asked" in said
        assert "(3 of 3)" in said
        assert exchange.sent == 1 + RATE_LIMIT_RETRIES == len(asked)
        client.close()
        # 10 s left of the run: one wait of 7 fits, a second would pass the deadline
        ahead = [0.0]  # the waits, taken on a clock that jumps (the exchanges' deadlines read it)
        guard = Guard(run_timeout_s=10.0, clock=lambda: time.monotonic() + ahead[0])
        client = Client(url, None, 5.0, guard=guard)
        client.sleep = lambda s: ahead.__setitem__(0, ahead[0] + s)
        assert client.send("GET", "/x").waited_s == [7.0]
        client.close()
