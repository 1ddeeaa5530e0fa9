"""How `serve` runs uvicorn: read deadlines against slow clients, a connection cap, and no
proxy-header rewriting (the client address is `app.security.limits.client_address`'s job).

uvicorn has a keep-alive timeout but no deadline for a request that is still arriving: a client
sending one header byte (or one body byte) every few seconds holds its connection forever, and
500 of them hold 500 sockets, tasks and buffers. `DeadlineHttpProtocol` gives every request
`[server].header_timeout_seconds` from its first byte (or from the connection, for the first
request) to the end of its headers, then `[server].body_timeout_seconds` to the end of its body.
Past either it answers `408 Request Timeout` with `Connection: close` (or just closes, when a
response is already under way) and the application sees the client as gone.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.config import Settings

_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 16\r\n"
    b"connection: close\r\n"
    b"\r\n"
    b"request timeout\n"
)


class DeadlineHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header and body read deadlines (see the module doc)."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._reading_body = False

    def _arm(self, seconds: float, *, body: bool = False) -> None:
        self._disarm()
        self._reading_body = body
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if not self._reading_body:
            self.transport.write(_TIMEOUT_RESPONSE)
        elif cycle is not None and not cycle.response_started:
            cycle.disconnected = True  # the app sees the client gone; its answer is dropped
            cycle.message_event.set()
            self.transport.write(_TIMEOUT_RESPONSE)
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:
            self._arm(self.header_timeout)

    def on_headers_complete(self) -> None:
        self._arm(self.body_timeout, body=True)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._disarm()
        super().handle_websocket_upgrade()


def protocol_for(settings: Settings) -> type[DeadlineHttpProtocol]:
    """The protocol class carrying this configuration's deadlines (uvicorn takes a class)."""
    return type(
        "ConfiguredHttpProtocol",
        (DeadlineHttpProtocol,),
        {
            "header_timeout": settings.server.header_timeout_seconds,
            "body_timeout": settings.server.body_timeout_seconds,
        },
    )


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` that follow from the configuration."""
    cap = settings.server.max_connections
    return {
        "http": protocol_for(settings),
        "limit_concurrency": cap or None,
        "proxy_headers": False,
        "timeout_keep_alive": 5,
    }
