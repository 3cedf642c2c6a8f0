"""The reference gateway's client for its upstream (the vendor mock, or a real vendor)."""

from __future__ import annotations

from typing import Any

import httpx

from pixelproof.deadline import shared_tls
from pixelproof.images import ImageError, b64decode_strict
from pixelproof.mock import faults
from pixelproof.mock.errors import ApiError
from pixelproof.mock.gateway_faults import upstream_failed
from pixelproof.mock.hop import Hop, usable
from pixelproof.mock.http import RUN_TRACE

MAX_IMAGE_BYTES = 48 * 1024 * 1024
# Ten 4K images as base64 fit; an upstream that never stops answering does not take the gateway's
# memory with it (it answers 502 instead).
MAX_ANSWER_BYTES = 256 * 1024 * 1024


async def _capped(response: httpx.Response, cap: int, what: str) -> bytes:
    """The body, streamed, or a 502 once it passes ``cap`` (declared or still streaming)."""
    declared = response.headers.get("content-length", "")
    data = bytearray()
    if not (declared.isdigit() and int(declared) > cap):
        async for chunk in response.aiter_bytes():
            data += chunk
            if len(data) > cap:
                break
        else:
            return bytes(data)
    raise ApiError(502, f"{what} over {cap:,} bytes", type="upstream_error")


def _too_big() -> ApiError:
    return ApiError(502, f"upstream answer over {MAX_ANSWER_BYTES:,} bytes", type="upstream_error")


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:  # a page (HTML) is described, never pasted into the gateway's JSON error
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        return f"{response.reason_phrase or 'no reason'} ({kind}, {len(response.content)} bytes)"
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if body.get("message"):
            return str(body["message"])
    return str(body)[:300]


class Upstream:
    """POSTs JSON or multipart to the upstream; maps its failures onto gateway errors."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 120.0,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.origin = httpx.URL(base_url).copy_with(path="/", query=None, fragment=None)
        # httpx builds a TLS context per client unless given one (~70 ms of the stack's start-up
        # each); this client only ever speaks to its origin, so a plain-HTTP one needs none
        tls = shared_tls() if self.origin.scheme == "https" else False
        self.client = httpx.AsyncClient(base_url=base_url.rstrip("/"), headers=headers,
                                        transport=transport, timeout=timeout_s, verify=tls)  # fmt: skip
        self._transport, self._timeout_s = transport, timeout_s
        self._anonymous: httpx.AsyncClient | None = None
        self.hop = (Hop(self.client.base_url, headers, timeout_s, MAX_ANSWER_BYTES, _too_big)
                    if usable(self.origin, transport) else None)  # fmt: skip

    @property
    def anonymous(self) -> httpx.AsyncClient:
        """For image URLs on any other origin, fetched without the upstream's key; made on first
        use (most runs never need it)."""
        if self._anonymous is None:
            self._anonymous = httpx.AsyncClient(
                transport=self._transport, timeout=self._timeout_s, verify=shared_tls()
            )
        return self._anonymous

    def _headers(self) -> dict[str, str]:
        names = faults.request_faults()
        headers = {faults.FAULT_HEADER: ",".join(sorted(names))} if names else {}
        run = RUN_TRACE.get()
        if run:  # the client's trace passed on: the harness's own call, or the probe's forwarded
            headers["X-Pixelproof-Run"] = run
        if "auth-forwarded" in names:
            headers["Authorization"] = "Bearer undefined"  # the client's (absent) key, as seen live
        return headers

    async def post(
        self,
        path: str,
        json: Any = None,
        data: dict[str, Any] | None = None,
        files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        try:
            if self.hop is not None and json is not None and data is None and files is None:
                answer = await self.hop.post(path, json, params, self._headers())
                status, ctype, content = answer.status, answer.content_type, answer.content
            else:
                async with self.client.stream("POST", path, json=json, data=data, files=files,
                                              params=params, headers=self._headers()) as streamed:  # fmt: skip
                    content = await _capped(streamed, MAX_ANSWER_BYTES, "upstream answer")
                status, ctype = streamed.status_code, streamed.headers.get("content-type", "")
            response = httpx.Response(status, headers={"content-type": ctype}, content=content)
        except httpx.HTTPError as exc:
            relayed = upstream_failed(None)
            if relayed is not None:
                raise relayed from None
            raise ApiError(
                502, f"upstream unreachable: {type(exc).__name__}", type="upstream_error"
            ) from None
        if response.status_code >= 500:
            ctype = response.headers.get("content-type", "")
            relayed = upstream_failed(response.status_code, response.content, ctype)
            if relayed is not None:
                raise relayed
            raise ApiError(
                502,
                f"upstream error {response.status_code}: {_message(response)}",
                type="upstream_error",
            )
        if response.status_code == 401 and faults.active("auth-forwarded"):
            raise ApiError(401, f"upstream: {_message(response)}", type="authentication_error")
        if response.status_code >= 400:
            raise ApiError(
                response.status_code if response.status_code != 401 else 502,
                f"upstream rejected the request: {_message(response)}",
                type="invalid_request_error" if response.status_code != 401 else "upstream_error",
                code="upstream_rejected",
            )
        try:
            if response.content.isspace():  # a padded outage: json.loads would scan it all twice
                raise ValueError("only whitespace")
            body = response.json()
        except ValueError:
            raise ApiError(
                502, "upstream answered with a body that is not JSON", type="upstream_error"
            ) from None
        if not isinstance(body, dict):
            raise ApiError(
                502, "upstream answered with JSON that is not an object", type="upstream_error"
            )
        return body

    def same_origin(self, url: str) -> bool:
        try:
            other = httpx.URL(url)
        except httpx.InvalidURL:
            return False
        return (other.scheme, other.host, other.port) == (
            self.origin.scheme, self.origin.host, self.origin.port
        )  # fmt: skip

    async def fetch(self, url: str) -> bytes:
        """Download an image the upstream answered by URL; the upstream's key goes only to the
        configured upstream origin, never to a host an answer names."""
        client = self.client if self.same_origin(url) else self.anonymous
        try:
            async with client.stream("GET", url) as response:
                if response.status_code != 200:
                    raise ApiError(502, f"upstream image URL answered {response.status_code}",
                                   type="upstream_error")  # fmt: skip
                return await _capped(response, MAX_IMAGE_BYTES, "upstream image")
        except httpx.HTTPError as exc:
            raise ApiError(
                502, f"upstream image download failed: {type(exc).__name__}", type="upstream_error"
            ) from None


def image_bytes(item: dict[str, Any]) -> bytes | str:
    """Bytes of a b64 answer item, or the URL to fetch."""
    if item.get("b64_json"):
        try:
            return b64decode_strict(str(item["b64_json"]))
        except ImageError as exc:
            raise ApiError(
                502, f"upstream sent invalid base64: {exc}", type="upstream_error"
            ) from None
    if item.get("url"):
        return str(item["url"])
    raise ApiError(502, "upstream answer item has neither b64_json nor url", type="upstream_error")
