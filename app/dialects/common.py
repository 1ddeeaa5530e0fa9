"""What every session dialect's front door shares: the Bearer key (the same `admin api-keys create`
key as our own API), each dialect's error envelope for every failure on its routes (statuses and
texts as Checkout Sessions answers them, `app.sessions.routes.ANSWERS`), and the outbox rows of
its sessions' events."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    ValidationException,
)
from litestar.types import ExceptionHandlersMap
from sqlalchemy.ext.asyncio import AsyncSession

from app.answers import answer, retry_headers
from app.errors import AppError
from app.ids import new_id
from app.orders.rows import OrderView
from app.sessions.events import CheckoutSessionChanged, SessionEvent
from app.sessions.models import CheckoutSession
from app.sessions.routes import ANSWERS
from app.webhooks.outbox import enqueue

log = logging.getLogger("app.dialects")

Envelope = Callable[[int, str], dict[str, Any]]
"""A dialect's error body for an HTTP status and a message."""
EventBody = Callable[
    [CheckoutSession, SessionEvent, dt.datetime, str, OrderView | None], dict[str, Any] | None
]
"""A dialect's webhook body for a session event (None: the dialect does not report it)."""


def error_handlers(envelope: Envelope) -> ExceptionHandlersMap:
    """Exception handlers for a dialect's routes: every failure answers in its envelope."""

    def reply(status: int, message: str, headers: dict[str, str] | None = None) -> Response[Any]:
        return Response(
            envelope(status, message),
            status_code=status,
            media_type=MediaType.JSON,
            headers=headers,
        )

    def app_error(_: Request[Any, Any, Any], exc: AppError) -> Response[Any]:
        return reply(*answer(exc, ANSWERS), retry_headers(exc))

    def http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
        if isinstance(exc, NotFoundException):
            return reply(404, "not found")
        if isinstance(exc, MethodNotAllowedException):
            return reply(405, "method not allowed")
        if isinstance(exc, ValidationException):
            first = exc.extra[0] if isinstance(exc.extra, list) and exc.extra else {}
            where = first.get("key") if isinstance(first, dict) else None
            detail = first.get("message") if isinstance(first, dict) else None
            return reply(
                400, f"invalid {where}: {detail}" if where and detail else "invalid request"
            )
        headers = dict(exc.headers or {}) or None
        return reply(exc.status_code, str(exc.detail), headers)

    def internal(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        log.error("http.unhandled %s %s", request.method, request.url.path, exc_info=exc)
        return reply(500, "internal server error")

    return {AppError: app_error, HTTPException: http_error, Exception: internal}


def iso(moment: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC with a `Z`, to the second."""
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_BODIES: dict[str, tuple[str, EventBody]] = {}


def register_webhooks(dialect: str, row_format: str, body: EventBody) -> None:
    """Called by each dialect module at import: how its sessions' events become outbox rows."""
    _BODIES[dialect] = (row_format, body)


async def on_checkout_session_changed(
    session: AsyncSession, changes: Sequence[CheckoutSessionChanged]
) -> None:
    """One outbox row per event of a dialect's session, in the dialect's format (the sender signs
    each attempt afresh and retries with backoff for `[webhooks].max_age_seconds`)."""
    for change in changes:
        checkout = change.checkout
        known = _BODIES.get(checkout.dialect or "")
        if known is None or not checkout.webhook_url:
            continue
        row_format, render = known
        event_id = new_id()
        payload = render(checkout, change.event, change.at, f"evt_{event_id.hex}", change.order)
        if payload is None:
            continue
        event_type = str(payload.get("type", change.event.value))[:40]
        enqueue(
            session,
            event_type,
            checkout.webhook_url,
            payload,
            row_format,
            order_id=checkout.order_id,
            event_id=event_id,
            at=change.at,
        )
