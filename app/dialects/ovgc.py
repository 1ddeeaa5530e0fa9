"""The OVGC dialect (seed 001) at `/api/checkout-sessions`: amount in minor units, `email`
required, currency USD by default (another fiat currency is quoted through `[rates]`), 30-minute
sessions, answers in a `data` envelope with `expires_at` as `YYYY-MM-DD HH:MM:SS` UTC, errors as
`{"error":{"code":…,"message":…}}`, and `payment.succeeded` / `payment.declined` webhooks.

    our session   open      complete    expired   canceled (the shopper cancelled)
    OVGC          pending   completed   expired   declined
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from litestar import MediaType, Request, Response, get, post
from litestar.params import FromPath
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from app.db import utcnow
from app.dialects import common
from app.http import Config, Db
from app.orders.rows import OrderView
from app.sessions import service, testmode
from app.sessions.events import SessionEvent
from app.sessions.models import CheckoutSession, SessionStatus
from app.sessions.routes import Key, SessionApi, read_body, validated
from app.sessions.schemas import MAX_AMOUNT_CENTS, CreateSessionRequest, receipt_in_minor_units
from app.webhooks import formats

NAME = "ovgc"
PATH = "/api/checkout-sessions"
TTL = dt.timedelta(minutes=30)
"""Seed 001: "Sessions expire after 30 minutes. This is fixed and cannot be changed." """
STATUS = {
    SessionStatus.OPEN: "pending",
    SessionStatus.COMPLETE: "completed",
    SessionStatus.EXPIRED: "expired",
    SessionStatus.CANCELED: "declined",
}
CODES = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 404: "NOT_FOUND"}
EVENTS = {
    SessionEvent.COMPLETED: "payment.succeeded",
    SessionEvent.ASYNC_PAYMENT_SUCCEEDED: "payment.succeeded",
    SessionEvent.CANCELED: "payment.declined",
}
"""Seed 001's events; an expiry has none (`GET` says `expired`)."""


def envelope(status: int, message: str) -> dict[str, Any]:
    """Seed 001's error codes; other 4xx are BAD_REQUEST, 5xx INTERNAL_ERROR."""
    code = CODES.get(status, "INTERNAL_ERROR" if status >= 500 else "BAD_REQUEST")
    return {"error": {"code": code, "message": message}}


class CreateRequest(BaseModel):
    """Seed 001's parameters, exactly."""

    model_config = ConfigDict(extra="forbid")

    amount: StrictInt = Field(ge=1, le=MAX_AMOUNT_CENTS)
    currency: StrictStr = Field(default="USD", min_length=3, max_length=3)
    email: StrictStr = Field(min_length=3, max_length=320)
    product_title: StrictStr | None = Field(default=None, min_length=1, max_length=250)
    success_url: StrictStr
    cancel_url: StrictStr
    metadata: dict[str, StrictStr | StrictInt] | None = None


def expires_text(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def session_object(cs: CheckoutSession, order: OrderView | None = None) -> dict[str, Any]:
    """The `GET` object: seed 001's `id`, `amount`, `currency`, `status`, and what was sent; with
    its order, what arrived (minor units, docs/payments.md), additively."""
    product = cs.line_items[0]["price_data"]["product_data"]["name"] if cs.line_items else None
    return {
        "id": cs.id,
        "amount": cs.amount_total,
        "currency": cs.currency.upper(),
        "status": STATUS[SessionStatus(cs.status)],
        "email": cs.customer_email,
        "product_title": product,
        "metadata": cs.metadata_ or {},
        "success_url": cs.success_url,
        "cancel_url": cs.cancel_url,
        "created_at": expires_text(cs.created_at),
        "expires_at": expires_text(cs.expires_at),
        **(receipt_in_minor_units(order) if order is not None else {}),
    }


def event_body(
    cs: CheckoutSession,
    event: SessionEvent,
    at: dt.datetime,
    event_id: str,
    order: OrderView | None = None,
) -> dict[str, Any] | None:
    name = EVENTS.get(event)
    if name is None:
        return None
    return {
        "id": event_id,
        "type": name,
        "event": name,
        "created_at": expires_text(at),
        "data": session_object(cs, order),
    }


common.register_webhooks(NAME, formats.OVGC, event_body)


def dotted(loc: tuple[int | str, ...]) -> str:
    """Seed 001 names parameters as they are written in JSON: `metadata.plan`."""
    return ".".join(str(part) for part in loc) or "body"


def _json(data: dict[str, Any], status: int = 200) -> Response[Any]:
    return Response(json.dumps(data).encode(), status_code=status, media_type=MediaType.JSON)


class OvgcController(SessionApi):
    path = PATH
    tags = ["OVGC dialect"]
    exception_handlers = common.error_handlers(envelope)

    # Explicit ids: Litestar derives both dialects' ids from paths that differ only by a hyphen.
    @post(
        "/",
        status_code=201,
        summary="Create a checkout session (OVGC)",
        operation_id="OvgcCheckoutSessionsCreate",
    )
    async def create(
        self, request: Request[Any, Any, Any], db_session: Db, settings: Config, api_key: Key
    ) -> Response[Any]:
        _, data = await read_body(request, settings)
        body = validated(CreateRequest, data, dotted)
        await testmode.check_key_limits(db_session, settings, api_key)
        base = service.public_base(settings, for_new_session=True)
        expires_at = utcnow() + TTL
        request_ = CreateSessionRequest(
            mode="payment",
            amount=body.amount,
            currency=body.currency,
            product_title=body.product_title,
            email=body.email,
            success_url=body.success_url,
            cancel_url=body.cancel_url,
            metadata=body.metadata,
            expires_at=int(expires_at.timestamp()) + 1,
        )
        checkout = await service.create_session(
            db_session,
            settings,
            api_key,
            request_,
            dialect=NAME,
            webhook_url=settings.dialects.ovgc.webhook_url,
        )
        session = {
            "id": checkout.id,
            "amount": checkout.amount_total,
            "currency": checkout.currency.upper(),
            "status": STATUS[SessionStatus(checkout.status)],
            "expires_at": expires_text(checkout.expires_at),
        }
        link = service.session_link(base, checkout.id)
        return _json({"data": {"session": session, "checkout_url": link}}, 201)

    @get(
        "/{session_id:str}",
        summary="Verify a checkout session's status (OVGC)",
        operation_id="OvgcCheckoutSessionsRetrieve",
    )
    async def retrieve(
        self, session_id: FromPath[str], db_session: Db, api_key: Key
    ) -> Response[Any]:
        checkout = await service.get_session(db_session, api_key, session_id)
        orders = await service.orders_of(db_session, [checkout])
        order = orders.get(checkout.order_id) if checkout.order_id else None
        return _json({"data": session_object(checkout, order)})
