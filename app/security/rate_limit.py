"""Applying the limiter (`app.security.limits`) to routes: an ASGI middleware for a router's HTTP
requests and WebSocket upgrades, and `enforce` for handlers that limit one step (admin secret
checks, QR renders). All of them key on `scope_client`, so `[server].trusted_proxies` holds for
every limit at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from app.config import Settings
from app.http import services_of
from app.security.limits import Decision, Limit, scope_client


def client_of(scope: Scope | dict[str, Any], settings: Settings) -> str:
    return scope_client(scope, settings.server.trusted_proxies)


async def enforce(scope: Scope, limit: Limit, key: str | None = None) -> Decision:
    """Count one hit of `limit` for this request's client (or `key`); 429 past the limit."""
    services = services_of(scope["app"].state)
    who = key if key is not None else client_of(scope, services.settings)
    decision = await services.limiter.hit(limit, who)
    decision.raise_if_denied()
    return decision


async def deny_upgrade(
    scope: Scope, send: Send, status: int, text: str, headers: dict[str, str] | None = None
) -> None:
    """Refuse a WebSocket upgrade with a plain HTTP response (as Ocrch does); where the server
    cannot send one, close with 4000 + status (4429, 4401, …)."""
    if "websocket.http.response" in (scope.get("extensions") or {}):
        raw = [(b"content-type", b"text/plain; charset=utf-8")]
        raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        start: Any = {"type": "websocket.http.response.start", "status": status, "headers": raw}
        await send(start)
        body: Any = {"type": "websocket.http.response.body", "body": text.encode()}
        await send(body)
    else:
        close: Any = {"type": "websocket.close", "code": 4000 + status, "reason": text}
        await send(close)


class RateLimitMiddleware:
    """`limit_of(settings)` requests per minute per client on every HTTP request and WebSocket
    upgrade of the router it is attached to; 429 with `Retry-After` beyond it."""

    def __init__(self, app: ASGIApp, name: str, limit_of: Callable[[Settings], int]) -> None:
        self.app = app
        self.name = name
        self.limit_of = limit_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        services = services_of(scope["app"].state)
        limit = Limit(self.name, self.limit_of(services.settings), 60.0)
        decision = await services.limiter.hit(limit, client_of(scope, services.settings))
        if not decision.allowed and scope["type"] == ScopeType.WEBSOCKET:
            await deny_upgrade(
                scope, send, 429, "rate limit exceeded, retry later", decision.headers()
            )
            return
        decision.raise_if_denied()
        await self.app(scope, receive, send)
