"""Fuzz cases go out through pixelproof's own client, prepared as the ``requests`` session that
schemathesis sent them through prepared them: the same method, URL, headers and body, the
profile's key added below what a finding prints, and nothing from the user's environment."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Any

import pytest
import requests

import hostile
from pixelproof.catalogue import Catalogue
from pixelproof.fuzz.cases import anchor_kwargs
from pixelproof.fuzz.runner import FuzzSession
from pixelproof.target import embedded_profile

KEY_ENV = "PIXELPROOF_FUZZ_TRANSPORT_KEY"
KEY = "pp-fuzz-transport-key-7c2e"
BOUNDARY = re.compile(rb"[0-9a-f]{32}")


def _echo(sock: socket.socket) -> None:
    """Answers 400 with the whole request it got (head and body) as the body."""
    sock.sendall(hostile.answer(400, hostile.read_request(sock)))


def _session(catalogue: Catalogue, url: str) -> FuzzSession:
    return FuzzSession(catalogue, embedded_profile(catalogue, url, url, KEY_ENV, 1000), run_id="tr")


def _anchor(session: FuzzSession, surface: str, label: str, **extra: Any) -> Any:
    operation = session.surface(surface).operations("contract")[label]
    kwargs = anchor_kwargs(session.catalogue, session.profile, surface, label, "tr")[0]
    return operation.Case(**{**kwargs, **extra})


def _generation_answered_by(catalogue: Catalogue, behaviour: hostile.Behaviour) -> Any:
    """schemathesis' Response to a unified generation case sent to a server doing ``behaviour``."""
    with hostile.serve(behaviour) as url:
        session = _session(catalogue, url)
        try:
            case = _anchor(session, "unified", "POST /v1/images/generations")
            return session.sender.send(case, url, session.headers("unified"))
        finally:
            session.close()


def test_a_case_carries_the_profiles_key_on_the_wire_only_and_no_netrc_login(
    catalogue: Catalogue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client adds the key below what findings print (the response's request), and nothing
    reads the user's ~/.netrc, which no profile asked for and a curl line would then carry."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password pp-netrc-secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv(KEY_ENV, KEY)
    response = _generation_answered_by(catalogue, _echo)
    wire = response.content.lower()
    assert wire.startswith(b"post /v1/images/generations"), wire
    assert f"authorization: bearer {KEY}".encode() in wire, wire
    assert b"pp-netrc-secret" not in wire, wire
    assert b"basic " not in wire, wire
    assert b"x-pixelproof-tag: fuzz-tr" in wire
    # the headers requests' session added (fuzz traffic carries them as it did through it)
    for name, value in requests.utils.default_headers().items():
        assert f"\r\n{name}: {value}\r\n".lower().encode() in wire, (name, wire)
    shown = {k.lower(): v for k, v in response.request.headers.items()}  # what a finding prints
    assert "authorization" not in shown, shown
    assert KEY not in repr(shown) + str(response.request.url)
    assert response.status_code == 400
    assert response.headers["content-type"] == ["application/json"]


@pytest.mark.parametrize(
    ("surface", "label", "extra"),
    [
        ("unified", "POST /v1/images/generations", {}),
        ("unified", "POST /v1/images/edits", {}),
        ("jimeng-official", "POST /jm", {"query": {"Action": "CVSync2AsyncSubmitTask", "Version": None}}),
        ("gemini", "POST /v1beta/models/{model}:generateContent", {"headers": {"X-Null": None}}),
    ],
)  # fmt: skip
def test_the_sender_prepares_what_the_requests_session_prepared(
    catalogue: Catalogue, surface: str, label: str, extra: dict[str, Any]
) -> None:
    """Same method, URL, headers and body (multipart boundaries aside) as ``Session.request``
    prepared them with the session's headers emptied, as schemathesis' transport left it."""
    session = _session(catalogue, "http://127.0.0.1:9")
    try:
        case = _anchor(session, surface, label, **extra)
        headers = {**session.headers(surface), "X-Absent": None}
        kwargs = case.as_transport_kwargs(base_url="http://127.0.0.1:9", headers=headers)
        ours = session.sender.prepare(**kwargs)
    finally:
        session.close()
    theirs = requests.Session()
    theirs.trust_env, theirs.headers = False, {}  # type: ignore[assignment]
    data, params = kwargs.pop("data", None), kwargs.pop("params", None)
    expected = theirs.prepare_request(
        requests.Request(data=data or {}, params=params or {}, **kwargs)
    )
    assert (ours.method, ours.url) == (expected.method, expected.url)
    assert _unbounded(ours.headers) == _unbounded(expected.headers)
    assert BOUNDARY.sub(b"-", _bytes(ours.body)) == BOUNDARY.sub(b"-", _bytes(expected.body))
    assert "X-Absent" not in ours.headers
    assert "X-Null" not in ours.headers


def _unbounded(headers: Any) -> list[tuple[str, bytes]]:
    return [(k, BOUNDARY.sub(b"-", v.encode())) for k, v in headers.items()]


def _bytes(body: Any) -> bytes:
    return body.encode() if isinstance(body, str) else bytes(body or b"")


BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize(
    ("body", "ctype", "read"),
    [
        (BOM + b'{"data": []}', "application/json", {"data": []}),
        ('{"data": ["é"]}'.encode("utf-16"), "application/json", {"data": ["é"]}),
        (BOM + b'{"data": []}', "application/problem+json; charset=utf-8", {"data": []}),
        (BOM + b'{"data": [', "application/json", None),  # not JSON either way
        (BOM + b'{"data": []}', "text/plain", None),  # not a JSON answer: not read as one
        (BOM + b'{"data": []}', "garbage", None),
    ],
    ids=["bom", "utf-16", "bom-problem-json", "bom-not-json", "bom-text-plain", "bom-bad-type"],
)  # fmt: skip
def test_a_json_answer_is_read_as_the_rule_cases_read_it(
    catalogue: Catalogue, body: bytes, ctype: str, read: Any
) -> None:
    """A byte order mark or UTF-16 text: the rule cases read the JSON (``json.loads`` on the bytes,
    as the SDKs' ``.json()`` do), and so do fuzzing's checks; schemathesis alone decoded the text
    as UTF-8 and failed the contract. What is not JSON, or not typed as JSON, is left to it."""

    def answer(sock: socket.socket) -> None:
        hostile.read_request(sock)
        sock.sendall(hostile.answer(200, body, ctype))

    response = _generation_answered_by(catalogue, answer)
    assert response.content == body
    if read is not None:
        assert response.json() == read
    else:
        with pytest.raises(json.JSONDecodeError):
            response.json()
