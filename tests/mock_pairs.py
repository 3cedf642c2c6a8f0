"""The reference gateway and the vendor mock in this process: a pair of apps, their clients, and
a client that answers on the calling thread's own event loop (no portal thread)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.testclient import TestClient

from pixelproof.mock import MockConfig, app_state, create_app

# In process: nothing listens on this address; tests that need a real hop use mock.server.start.
MOCK_BASE_URL = "http://127.0.0.1"


class MockPair:
    """The reference gateway in front of the vendor mock, both in process, one event loop each."""

    def __init__(
        self, gateway_app: Starlette, upstream_app: Starlette, stack: contextlib.ExitStack
    ) -> None:
        self.gateway_app = gateway_app
        self.upstream_app = upstream_app
        self.gateway = stack.enter_context(TestClient(gateway_app, base_url=MOCK_BASE_URL))
        self.upstream = stack.enter_context(TestClient(upstream_app, base_url=MOCK_BASE_URL))

    def forwarded(self, **filters: str | int) -> list[dict[str, Any]]:
        """What reached the upstream, oldest first, read from its recorder over HTTP."""
        response = self.upstream.get("/__pixelproof/requests", params=filters)
        assert response.status_code == 200, response.text
        return list(response.json()["requests"])

    def advance(self, seconds: float) -> None:
        """Move both clocks: gateway tasks and upstream jobs follow them."""
        for app in (self.gateway_app, self.upstream_app):
            app_state(app).clock.advance(seconds)


def mock_apps(**config: Any) -> tuple[Starlette, Starlette]:
    """(gateway, vendor) apps built from MockConfig keywords (an api_key guards both hops), the
    gateway talking to the vendor in process."""
    upstream_app = create_app(MockConfig(role="upstream", **config))
    gateway_config = MockConfig(role="gateway", upstream_key=config.get("api_key"), **config)
    transport = httpx.ASGITransport(app=upstream_app)
    return create_app(gateway_config, upstream_transport=transport), upstream_app


def new_mock_pair(stack: contextlib.ExitStack, **config: Any) -> MockPair:
    """A gateway + vendor pair built from MockConfig keywords (an api_key guards both hops), its
    clients closed with ``stack``."""
    return MockPair(*mock_apps(**config), stack)


class InlineClient:
    """Requests to an ASGI app on an event loop of the calling thread. Starlette's TestClient
    hands each request to a portal thread's loop and back: ~1.85 ms of CPU a request, ~0.4 ms
    here. The app runs only while a request is answered, so this is for tests that read each
    answer, not for ones that wait between requests for a job the app runs in the background;
    jobs still pending at ``close`` are cancelled."""

    def __init__(self, app: Starlette, base_url: str = MOCK_BASE_URL) -> None:
        self.loop = asyncio.new_event_loop()
        self.transport = httpx.ASGITransport(app=app)
        self.http = httpx.AsyncClient(transport=self.transport, base_url=base_url)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        request = self.http.build_request(method, url, **kwargs)
        return self.loop.run_until_complete(self._exchange(request))

    async def _exchange(self, request: httpx.Request) -> httpx.Response:
        """The client's request, built as it builds it, handed to the app's transport directly:
        the client's send adds auth, redirects, cookies and event hooks, none of which these
        exchanges have (the mock sets no cookie), for ~110 us of CPU of ~480 a request."""
        response = await self.transport.handle_async_request(request)
        response.request = request
        await response.aread()
        return response

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def settle(self, timeout_s: float = 60) -> None:
        """Run the loop until the jobs the app started in the background are done (what
        TestClient's loop does between requests, here all of it, before the test reads on)."""
        pending = asyncio.all_tasks(self.loop)
        if pending:
            self.loop.run_until_complete(asyncio.wait(pending, timeout=timeout_s))

    def close(self) -> None:
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()

        async def finish() -> None:
            await asyncio.gather(*pending, return_exceptions=True)
            await self.http.aclose()

        self.loop.run_until_complete(finish())
        self.loop.close()
