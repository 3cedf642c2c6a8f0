"""Fuzz cases go out through pixelproof's own client, so they get the same bounds as the suites.

schemathesis serializes a case (``Case.as_transport_kwargs``: its headers, URL, query and body
encoders), ``requests`` prepares the wire form as the ``requests.Session`` schemathesis would send
it through prepares it (same method, URL, headers and body), and the surface's ``Client`` sends
it: whole-exchange deadline, one body cap, the run's guard and breaker, the profile's credentials
added below this layer so no report sees them. Its Exchange becomes schemathesis' own
``Response``, the type its checks read.

Before, each case went through ``Case.call``: schemathesis' requests transport, a session, an
adapter handing the prepared request to the ``Client`` and a ``requests.Response`` built back
from its Exchange; that layer cost about as much CPU per case as the ``Client`` itself
(bench/README.md). What got no answer is raised as a ``requests`` error (as before), which the
fuzz session records as an *error*, never a finding.

A JSON answer is read as the rule cases read it (``Exchange.parsed``: ``json.loads`` on the bytes,
as httpx's, requests' and fetch's ``.json()`` do), so that one answer gets one verdict: where
that reading and schemathesis' differ (a UTF-8 byte order mark, UTF-16 or UTF-32 text, which it
decodes as UTF-8 unless the charset says otherwise), its checks find the value already parsed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import requests
from requests.hooks import default_hooks
from requests.structures import CaseInsensitiveDict
from schemathesis.core import media_types
from schemathesis.core.transport import Response
from schemathesis.generation.overrides import Override
from schemathesis.hooks import (
    GLOBAL_HOOK_DISPATCHER,
    HookContext,
    dispatch_after_call,
    dispatch_before_call,
)

if TYPE_CHECKING:
    from pixelproof.client import Client, Exchange

# What the requests.Session that schemathesis sent through added to every case (its user agent,
# Accept, Accept-Encoding, Connection): kept, so the wire carries the same headers as before
SESSION_HEADERS = dict(requests.utils.default_headers())


class CaseSender:
    """Sends schemathesis cases through the longest-prefix matching ``Client``."""

    def __init__(self, clients: dict[str, Client], fallback: Client) -> None:
        self.clients = dict(sorted(clients.items(), key=lambda kv: -len(kv[0])))
        self.fallback = fallback
        self.asked_again = 0  # requests sent again after a 429 (Client.send): requests too

    def client_for(self, url: str) -> Client:
        return next((c for base, c in self.clients.items() if url.startswith(base)), self.fallback)

    def send(
        self, case: Any, base_url: str, headers: dict[str, str], most: int | None = None
    ) -> Response:
        """Send ``case`` to ``base_url`` with ``headers`` as ``case.call`` would have sent it;
        ``most``: the requests it may take, asks after a 429 included (``Client.send``)."""
        headers = dict(headers)
        for name, value in SESSION_HEADERS.items():
            headers.setdefault(name, value)
        context = _called(case, base_url)
        prepared = self.prepare(**case.as_transport_kwargs(base_url=base_url, headers=headers))
        url = str(prepared.url)
        body = prepared.body
        content = body.encode("utf-8") if isinstance(body, str) else body
        if content is not None and not isinstance(content, bytes):
            content = b"".join(content)  # a generator body (never made by schemathesis)
        sent = {k: v for k, v in prepared.headers.items() if k.lower() != "content-length"}
        exchange = self.client_for(url).send(
            str(prepared.method), url, content=content, headers=sent, most=most
        )
        self.asked_again += exchange.sent - 1
        if exchange.error:
            timed_out = exchange.error.startswith("timed out")
            error = requests.Timeout if timed_out else requests.ConnectionError
            raise error(exchange.error, request=prepared)
        response = Response(
            status_code=exchange.status or 0,
            headers={name: [value] for name, value in exchange.response_headers.items()},
            content=exchange.body,
            request=prepared,
            elapsed=dt.timedelta(seconds=exchange.elapsed_s).total_seconds(),
            verify=_verify(case),
            message="",
            http_version="1.1",
            encoding=requests.utils.get_encoding_from_headers(
                CaseInsensitiveDict(exchange.response_headers)
            ),
            _override=Override.from_send_kwargs({"headers": headers}),
        )
        _read_as_the_rules_read(response, exchange)
        dispatch_after_call(GLOBAL_HOOK_DISPATCHER, case.operation.schema.hooks, context=context,
                            case=case, response=response)  # fmt: skip
        return response

    def prepare(self, method: str, url: str, params: Any = None, data: Any = None,
                headers: Any = None, cookies: Any = None, files: Any = None, auth: Any = None,
                json: Any = None) -> requests.PreparedRequest:  # fmt: skip
        """The request ``requests.Session.request`` prepared from the same arguments, with the
        session's state empty as schemathesis left it (no headers, cookies, params or auth of its
        own, no environment): only its merging drops ``None`` headers and parameters."""
        prepared = requests.PreparedRequest()
        prepared.prepare(method=method.upper(), url=url, headers=_without_none(headers),
                         files=files, data=data or {}, json=json,
                         params=_without_none(params or {}), auth=auth, cookies=cookies or {},
                         hooks=default_hooks())  # fmt: skip
        return prepared

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


def _read_as_the_rules_read(response: Response, exchange: Exchange) -> None:
    """Gives ``response`` the JSON value the rule cases read in ``exchange`` where schemathesis
    would decode the bytes otherwise (``json.detect_encoding``, the step ``json.loads`` takes on
    bytes, finds a byte order mark or UTF-16/32); what neither reading takes as JSON is left to
    schemathesis, which says why. Its deserializer reads ``_deserialized`` first."""
    body = exchange.body
    if not body or json.detect_encoding(body) == "utf-8":
        return
    try:
        if not media_types.is_json(exchange.content_type):
            return
    except ValueError:  # a malformed Content-Type: content_type_conformance says so
        return
    ok, value = exchange.parsed()
    if ok:
        response._deserialized = value


def _called(case: Any, base_url: str) -> Any:
    """What ``Case.call`` does before its transport sends: the ``before_call`` hooks, the case's
    metadata brought up to date with its containers and then frozen, and the base URL kept (the
    checks' reproduction reads it). These are schemathesis 4.32.5's steps and private names,
    hence pyproject's lower bound."""
    context = HookContext(operation=case.operation)
    case._sync_validated_hashes()
    dispatch_before_call(
        GLOBAL_HOOK_DISPATCHER, context=context, case=case, kwargs={"allow_redirects": False}
    )
    case._check_modifications()
    if case._meta and case._meta.is_dirty():
        case._revalidate_metadata()
    case.freeze_metadata()
    object.__setattr__(case, "_base_url", base_url)
    return context


def _verify(case: Any) -> Any:
    verify = case.operation.schema.config.tls_verify_for(operation=case.operation)
    return True if verify is None else verify


def _without_none(setting: Any) -> Any:
    """A mapping without its ``None`` values, as ``requests.sessions.merge_setting`` leaves it."""
    if not isinstance(setting, Mapping):
        return setting
    return {k: v for k, v in setting.items() if v is not None}
