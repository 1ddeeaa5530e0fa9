"""The OpenCheckout dialect (seeds 000 and 004) at `/api/checkout/sessions`: seed 000's request,
seed 004's session object and status words, seed 000's error table, and webhooks whose top level
carries `status` and `metadata` (so `if (event.status === "completed")` works as written).

    our session   open   complete    expired   canceled
    OpenCheckout  open   completed   expired   canceled
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from litestar import MediaType, Request, Response, get, post
from litestar.params import FromPath

from app.dialects import common
from app.errors import SubscriptionRefused
from app.http import Config, Db
from app.orders.rows import OrderView
from app.sessions import service, testmode
from app.sessions.events import SessionEvent
from app.sessions.models import CheckoutSession, SessionStatus
from app.sessions.routes import Key, Paging, SessionApi, read_body, validated
from app.sessions.schemas import CreateSessionRequest, receipt_in_minor_units
from app.webhooks import formats

NAME = "opencheckout"
PATH = "/api/checkout/sessions"
STATUS = {
    SessionStatus.OPEN: "open",
    SessionStatus.COMPLETE: "completed",
    SessionStatus.EXPIRED: "expired",
    SessionStatus.CANCELED: "canceled",
}
ERROR_TYPES = {401: "authentication_error", 404: "not_found"}


def envelope(status: int, message: str) -> dict[str, Any]:
    """Seed 000's error table: 401 authentication_error, 400 invalid_request_error, 404
    not_found, 500 api_error (other 4xx are invalid_request_error)."""
    kind = ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {"error": {"type": kind, "message": message}}


def session_object(
    cs: CheckoutSession, base_url: str, order: OrderView | None = None
) -> dict[str, Any]:
    """Seed 004's session: `url` (the hosted page) while open, its status words, ISO times; with
    its order, what arrived (`amount_received`, `amount_due` in minor units, `payment_exceptions`:
    docs/payments.md), additively."""
    return {
        "id": cs.id,
        "object": "checkout_session",
        "url": service.session_link(base_url, cs.id) if cs.is_open else None,
        "mode": cs.mode,
        "status": STATUS[SessionStatus(cs.status)],
        "payment_status": cs.payment_status,
        "amount_total": cs.amount_total,
        "currency": cs.currency,
        "line_items": cs.line_items,
        "metadata": cs.metadata_ or {},
        "customer_email": cs.customer_email,
        "success_url": cs.success_url,
        "cancel_url": cs.cancel_url,
        "livemode": cs.livemode,
        "created_at": common.iso(cs.created_at),
        "expires_at": common.iso(cs.expires_at),
        "completed_at": common.iso(cs.completed_at),
        **(receipt_in_minor_units(order) if order is not None else {}),
    }


def event_body(
    cs: CheckoutSession,
    event: SessionEvent,
    at: dt.datetime,
    event_id: str,
    order: OrderView | None = None,
) -> dict[str, Any]:
    """`id`, `type`, `status`, `metadata` on top, the session under `session`. A payment that
    confirmed after the session ended reports `status: "completed"` (the money arrived)."""
    status = (
        "completed"
        if event is SessionEvent.ASYNC_PAYMENT_SUCCEEDED
        else STATUS[SessionStatus(cs.status)]
    )
    return {
        "id": event_id,
        "type": event.value,
        "status": status,
        "metadata": cs.metadata_ or {},
        "session_id": cs.id,
        "created_at": common.iso(at),
        "session": session_object(cs, "", order),
    }


common.register_webhooks(NAME, formats.OPENCHECKOUT, event_body)


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response[Any]:
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)


class OpenCheckoutController(SessionApi):
    path = PATH
    tags = ["OpenCheckout dialect"]
    exception_handlers = common.error_handlers(envelope)

    @post("/", status_code=200, summary="Create a checkout session (OpenCheckout)")
    async def create(
        self, request: Request[Any, Any, Any], db_session: Db, settings: Config, api_key: Key
    ) -> Response[Any]:
        raw, data = await read_body(request, settings)
        body = validated(CreateSessionRequest, data)
        if body.mode == "subscription":
            raise SubscriptionRefused
        await testmode.check_key_limits(db_session, settings, api_key)
        base = service.public_base(settings, for_new_session=True)
        result = await service.create_session_once(
            db_session,
            settings,
            api_key,
            body,
            lambda checkout, order: json.dumps(session_object(checkout, base, order)),
            raw_body=raw,
            idempotency_key=request.headers.get("idempotency-key"),
            dialect=NAME,
            webhook_url=settings.dialects.opencheckout.webhook_url,
        )
        headers = {"Idempotent-Replayed": "true"} if result.replayed else None
        return _json(result.body, 200, headers)

    @get("/", summary="List checkout sessions, newest first (OpenCheckout)")
    async def list_sessions(
        self, db_session: Db, settings: Config, api_key: Key, page: Paging
    ) -> Response[Any]:
        rows, more = await service.list_sessions(
            db_session, api_key, limit=page.limit, starting_after=page.starting_after
        )
        base = service.public_base(settings)
        orders = await service.orders_of(db_session, rows)
        data = [
            session_object(cs, base, orders.get(cs.order_id) if cs.order_id else None)
            for cs in rows
        ]
        return _json({"object": "list", "data": data, "has_more": more})

    @get("/{session_id:str}", summary="Retrieve a checkout session (OpenCheckout)")
    async def retrieve(
        self, session_id: FromPath[str], db_session: Db, settings: Config, api_key: Key
    ) -> Response[Any]:
        checkout = await service.get_session(db_session, api_key, session_id)
        orders = await service.orders_of(db_session, [checkout])
        order = orders.get(checkout.order_id) if checkout.order_id else None
        return _json(session_object(checkout, service.public_base(settings), order))

    @post("/{session_id:str}/expire", status_code=200, summary="Expire an open session")
    async def expire(
        self, session_id: FromPath[str], db_session: Db, settings: Config, api_key: Key
    ) -> Response[Any]:
        checkout = await service.expire_session(db_session, api_key, session_id)
        return _json(session_object(checkout, service.public_base(settings)))
