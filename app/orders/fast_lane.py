"""A short way through the framework for `POST /api/v1/service/orders`, the hottest route.

Why: once the database work was grouped (`app.orders.fast_create`), Litestar's per-request
machinery around the handler (exception and CORS middleware, routing and host check, the `Request`
and `Response` objects, the compression wrapper, the `before_request` hook) cost about as much CPU
as the create itself (docs/benchmarks.md). The fast lane sits in front of that stack and
answers the common case itself: a plain POST with no `Origin` header, no query string, and nothing
the edge check would refuse. It still goes through our `RequestContextMiddleware` (request id
echoed and in every log line, metrics, the `http.request` line), reads the body with the same
bound, and runs the same `OrderCreator.create_from`, so the checks, their order and their texts
are those of the route.

Everything else is rendered by the app as before: a request the lane does not take goes to the
full stack untouched; an error, an idempotent replay, or an answer the compression middleware
would gzip is handed to the route handler through the scope (`OUTCOME`), which raises or returns
it, so exception handlers, CORS and compression produce exactly what they always did. The
request-context middleware inside the app then only passes through (`CONTEXT_DONE`), so a
request is counted and logged once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar._asgi.utils import is_valid_host
from litestar.datastructures import State
from litestar.exceptions import InternalServerException
from litestar.types import ASGIApp, Receive, Scope, Send

from app.idempotency import StoredResponse
from app.observability import CONTEXT_DONE, RequestContextMiddleware
from app.orders.fast_create import order_creator

PATH = "/api/v1/service/orders"
_PLAIN = "stablecheckout.create_plain"
OUTCOME = "stablecheckout.create_outcome"
"""Scope key: what the lane found, for the route handler to render through the full stack."""
_CLIENT_GONE = "client disconnected prematurely"
"""Litestar's text for a body that ends in a disconnect (`app.http` turns it into a 408)."""


@dataclass(slots=True)
class Outcome:
    result: StoredResponse | None = None
    error: Exception | None = None

    def unwrap(self) -> StoredResponse:
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


@dataclass(slots=True)
class _Plain:
    """What the lane reads from the headers of a request it takes."""

    signature: str | None = None
    key: str | None = None


def _plain(scope: Scope) -> _Plain | None:
    """The headers the create needs, or None when the full stack must see the request: an
    `Origin` (CORS), a query string or NUL (the edge check), an odd host or content length,
    or a header the create reads given twice. (`Accept-Encoding` does not matter here: answers
    big enough to compress go through the app.)"""
    if scope.get("query_string") or scope.get("root_path"):
        return None
    plain = _Plain()
    for name, value in scope["headers"]:
        if b"\x00" in value:
            return None
        if name == b"ocrch-signature":
            if plain.signature is not None:
                return None
            plain.signature = value.decode("latin-1")
        elif name == b"idempotency-key":
            if plain.key is not None:
                return None
            plain.key = value.decode("latin-1")
        elif (
            name == b"origin"
            or (name == b"host" and not is_valid_host(value))
            or (name == b"content-length" and not value.isdigit())
        ):
            return None
    return plain


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The body, or None once it passes `limit` bytes (as `app.http.read_limited_body`)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        event: Any = await receive()
        if event["type"] == "http.disconnect":
            raise InternalServerException(_CLIENT_GONE)
        chunk = event.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not event.get("more_body", False):
            return b"".join(chunks)


class CreateFastLane:
    """ASGI app in front of the Litestar stack (`app.asgi_handler`); see the module doc."""

    def __init__(self, app: ASGIApp, state: State, *, compress_from: int) -> None:
        self.app = app
        self.state = state
        self.compress_from = compress_from
        self._in_context = RequestContextMiddleware(self._create)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        http: Any = scope
        if http["type"] == "http" and http["path"] == PATH and http["method"] == "POST":
            plain = _plain(scope)
            if plain is not None:
                http[_PLAIN] = plain
                await self._in_context(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _create(self, scope: Scope, receive: Receive, send: Send) -> None:
        http: Any = scope
        plain: _Plain = http.pop(_PLAIN)
        creator = order_creator(self.state)
        try:
            raw = await _read_body(receive, creator.max_body)
            result = await creator.create_from(raw, plain.signature, plain.key)
        except Exception as exc:  # noqa: BLE001 - rendered by the app's exception handlers
            outcome = Outcome(error=exc)
        else:
            body = result.body
            # Litestar gzips only bodies of `compress_from` bytes or more: those go through it.
            if not result.replayed and len(body) < self.compress_from:
                await send(
                    {
                        "type": "http.response.start",
                        "status": result.status_code,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body, "more_body": False})
                return
            outcome = Outcome(result=result)
        http[OUTCOME] = outcome
        http[CONTEXT_DONE] = True
        await self.app(scope, receive, send)


def install(app: Any, *, compress_from: int) -> None:
    """Put the lane in front of `app`'s ASGI stack (after Litestar built it)."""
    app.asgi_handler = CreateFastLane(app.asgi_handler, app.state, compress_from=compress_from)
