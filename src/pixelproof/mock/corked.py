"""One write per answer: uvicorn's HTTP protocol with a transport that joins a response's head and
body.

uvicorn writes the status line and headers, then the body, each straight to the socket: two
``send`` calls per answer, two TCP segments, and a client that wakes up for the head alone and
again for the body. On loopback that was the largest single item of the mock's CPU per request
(py-spy under ``bench/bench_mock.py --raw`` at one connection: ~40% of the samples in uvicorn's
``send``). ``Corked`` holds a small write (a head is a few hundred bytes) until the next write,
which leaves with it in one ``writelines``, or until the event loop's next turn, whichever comes
first: a head the app follows with nothing (a streamed answer still thinking) waits one loop turn,
not longer. Big writes pass straight through, so nothing large is ever held or copied.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HOLD_BYTES = 16 * 1024  # a write up to this size may wait for the next one (a head, a 100 Continue)


class Corked:
    """A transport proxy whose small writes wait, at most one loop turn, to leave with the next."""

    def __init__(self, transport: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.writelines([held, data])
        elif len(data) <= HOLD_BYTES:
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def writelines(self, parts: list[bytes]) -> None:  # through ``write``: nothing overtakes
        self.write(b"".join(parts))

    def write_now(self, parts: list[Any]) -> None:
        """``parts`` out now, in one write, after anything held (a whole answer: nothing to wait
        for, so no turn of the loop is spent on it)."""
        held, self._held = self._held, None
        self._transport.writelines([held, *parts] if held is not None else parts)

    def is_closing(self) -> bool:  # asked after every answer: not through ``__getattr__``
        return bool(self._transport.is_closing())

    def flush(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def __getattr__(self, name: str) -> Any:  # get_extra_info, is_closing, pause_reading, ...
        return getattr(self._transport, name)


class CorkedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing through ``Corked``."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(Corked(transport, self.loop))  # type: ignore[arg-type]
