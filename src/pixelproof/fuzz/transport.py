"""Fuzz requests go through pixelproof's own client, so they get the same bounds as the suites.

schemathesis sends with ``requests``; this adapter hands each prepared request to the surface's
``Client`` (whole-exchange deadline, one body cap, the run's guard and breaker, the profile's
credentials added below the ``requests`` layer so no report sees them) and turns its Exchange
back into a ``requests.Response``. What got no answer is raised as a ``requests`` error, which
the fuzz session records as an *error*, never a finding.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from urllib3 import HTTPHeaderDict

from pixelproof.client import Client


class _Raw:
    """What schemathesis reads from ``response.raw``: the header list and the HTTP version."""

    version = 11

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = HTTPHeaderDict(headers)

    def close(self) -> None:
        return None


class ClientAdapter(BaseAdapter):
    """A ``requests`` adapter that sends through the longest-prefix matching ``Client``."""

    def __init__(self, clients: dict[str, Client], fallback: Client) -> None:
        super().__init__()
        self.clients = dict(sorted(clients.items(), key=lambda kv: -len(kv[0])))
        self.fallback = fallback

    def client_for(self, url: str) -> Client:
        return next((c for base, c in self.clients.items() if url.startswith(base)), self.fallback)

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:  # fmt: skip
        url = str(request.url)
        body = request.body
        content = body.encode("utf-8") if isinstance(body, str) else body
        if content is not None and not isinstance(content, bytes):
            content = b"".join(content)  # a generator body (never streamed by schemathesis)
        headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
        exchange = self.client_for(url).send(
            str(request.method), url, content=content, headers=headers
        )
        if exchange.error:
            timed_out = exchange.error.startswith("timed out")
            error = requests.Timeout if timed_out else requests.ConnectionError
            raise error(exchange.error, request=request)
        response = requests.Response()
        response.status_code = exchange.status or 0
        response.headers = CaseInsensitiveDict(exchange.response_headers)
        response._content = exchange.body
        response._content_consumed = True
        response.raw = _Raw(exchange.response_headers)
        response.url = url
        response.request = request
        response.reason = ""
        response.encoding = requests.utils.get_encoding_from_headers(response.headers)
        response.elapsed = dt.timedelta(seconds=exchange.elapsed_s)
        return response

    def close(self) -> None:
        return None
