"""Writing webhook events into the outbox, in the same transaction as the change they report.

The webhooks domain subscribes to domain events (`app.subscriptions`) and writes one outbox row
per integration that wants to hear about them, in that integration's format
(`app.webhooks.formats`); it never learns which code emitted the event.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.chains import CHAINS, Blockchain
from app.db import utcnow
from app.errors import (
    NoSessionWebhookUrl,
    OrderNotFound,
    SessionOrderNotFound,
    SessionStillOpen,
    TransferNotFound,
)
from app.ids import new_id
from app.money import format_base_units
from app.orders.events import OrderStatusChanged
from app.orders.models import SERVICE_API, Order
from app.orders.receipts import order_receipt
from app.orders.rows import OrderView
from app.payments.quotes import webhook_fiat_fields, webhook_fiat_fields_of
from app.sessions.events import (
    TERMINAL_EVENT,
    CheckoutSessionChanged,
    SessionEvent,
    session_of_order,
)
from app.sessions.models import INTEGRATION as SESSION_INTEGRATION
from app.sessions.models import CheckoutSession, SessionStatus
from app.sessions.schemas import session_out
from app.transfers.events import PaymentExceptionRecorded, TransferUnmatched
from app.transfers.models import Transfer
from app.transfers.rows import TransferRow
from app.webhooks import formats
from app.webhooks.models import EventType, WebhookAttempt, WebhookEvent
from app.webhooks.outbox import Outgoing, enqueue, enqueue_many

SESSION_FORMATS = (formats.CHECKOUT_SESSION, formats.OPENCHECKOUT, formats.OVGC)
"""Formats of a session's own events: ours and the API dialects' (`app.dialects`)."""


def order_status_payload(
    order: OrderView, fiat: dict[str, object] | None = None
) -> dict[str, object]:
    """Fields of `order_status_changed` in Ocrch's order, without the per-attempt `timestamp`;
    then the additive ones: a fiat order's `currency` and locked `quote` (`app.payments.quotes`),
    and what the order received (`amount_received`, `amount_due`, `payment_exceptions`), as the
    Service and User APIs show it. Ocrch's own fields keep their names, order and values; a
    client that does not know the additive ones ignores them (the signature covers the body as
    sent)."""
    receipt = order_receipt(order)
    return {
        "event_type": EventType.ORDER_STATUS_CHANGED.value,
        "order_id": str(order.id),
        "merchant_order_id": order.merchant_order_id,
        "status": order.status,
        "amount": str(order.amount),
        **(fiat or {}),
        **receipt,
    }


def payment_exception_payload(event: PaymentExceptionRecorded) -> dict[str, object]:
    """`payment_exception` (docs/payments.md), without the per-attempt `timestamp`; `amount` is
    the transfer's, in coin units."""
    transfer = event.transfer
    return {
        "event_type": EventType.PAYMENT_EXCEPTION.value,
        "order_id": str(event.order.id),
        "merchant_order_id": event.order.merchant_order_id,
        "kind": event.kind,
        "amount": format_base_units(transfer.amount, event.decimals),
        "blockchain": transfer.blockchain,
        "stablecoin": transfer.token,
        "tx_hash": transfer.tx_hash,
    }


async def on_payment_exception(
    session: AsyncSession, flagged: Sequence[PaymentExceptionRecorded]
) -> None:
    """`payment_exception` to the order's `webhook_url`, signed like its `order_status_changed`,
    for the orders the Service API made (a checkout session shows the same facts on its object)."""
    await enqueue_many(
        session,
        [
            Outgoing(
                EventType.PAYMENT_EXCEPTION,
                event.order.webhook_url,
                payment_exception_payload(event),
                formats.OCRCH,
                order_id=event.order.id,
                transfer_id=event.transfer.id,
            )
            for event in flagged
            if event.order.integration == SERVICE_API
        ],
    )


async def on_order_status_changed(
    session: AsyncSession, changes: Sequence[OrderStatusChanged]
) -> None:
    """Ocrch `order_status_changed` for the orders the Service API made."""
    orders = [change.order for change in changes if change.order.integration == SERVICE_API]
    fiat = await webhook_fiat_fields_of(session, orders)
    await enqueue_many(
        session,
        [
            Outgoing(
                EventType.ORDER_STATUS_CHANGED,
                order.webhook_url,
                order_status_payload(order, fiat.get(order.id)),
                formats.OCRCH,
                order_id=order.id,
            )
            for order in orders
        ],
    )


async def on_transfer_unmatched(
    session: AsyncSession, unmatched: Sequence[TransferUnmatched]
) -> None:
    """Ocrch `unknown_transfer_received`, where the merchant configured a URL for it."""
    await enqueue_many(
        session,
        [
            Outgoing(
                EventType.UNKNOWN_TRANSFER_RECEIVED,
                item.report_url,
                unknown_transfer_payload(item.transfer),
                formats.OCRCH,
                order_id=item.transfer.order_id,
                transfer_id=item.transfer.id,
            )
            for item in unmatched
            if item.report_url
        ],
    )


async def on_checkout_session_changed(
    session: AsyncSession, changes: Sequence[CheckoutSessionChanged]
) -> None:
    """The session's event (body fixed now; the sender signs each attempt afresh)."""
    fiat = await webhook_fiat_fields_of(session, [c.order for c in changes if c.order])
    for change in changes:
        quote = fiat.get(change.order.id) if change.order else None
        write_session_event(session, change.checkout, change.event, change.at, change.order, quote)


def _order_status_event(
    session: AsyncSession, order: Order, fiat: dict[str, object] | None = None
) -> WebhookEvent:
    payload = order_status_payload(order, fiat)
    return enqueue(
        session,
        EventType.ORDER_STATUS_CHANGED,
        order.webhook_url,
        payload,
        formats.OCRCH,
        order_id=order.id,
    )


def write_session_event(
    session: AsyncSession,
    checkout: CheckoutSession,
    event: SessionEvent,
    now: dt.datetime,
    order: OrderView | None = None,
    fiat: dict[str, object] | None = None,
) -> WebhookEvent | None:
    """The session event's outbox row; a session priced in a fiat currency other than usd also
    shows the locked `quote` its order was paid at (`fiat`, from `webhook_fiat_fields`)."""
    if not checkout.webhook_url or checkout.dialect:
        return None  # a dialect's session is reported by its dialect (app.dialects.webhooks)
    event_id = new_id()
    shown = session_out(checkout, None, order).model_dump(mode="json")
    if fiat and fiat.get("quote") is not None:
        shown["quote"] = fiat["quote"]
    payload = {
        "id": f"evt_{event_id.hex}",
        "object": "event",
        "type": event.value,
        "created": int(now.timestamp()),
        "livemode": checkout.livemode,
        "data": {"object": shown},
    }
    return enqueue(
        session,
        event.value,
        checkout.webhook_url,
        payload,
        formats.CHECKOUT_SESSION,
        order_id=checkout.order_id,
        event_id=event_id,
        at=now,
    )


def unknown_transfer_payload(transfer: Transfer | TransferRow) -> dict[str, object]:
    """`unknown_transfer_received` as Ocrch's code sends it (api.md §5), without `timestamp`."""
    return {
        "event_type": EventType.UNKNOWN_TRANSFER_RECEIVED.value,
        "transfer_id": transfer.id,
        "blockchain": CHAINS[Blockchain(transfer.blockchain)].webhook_label,
    }


def enqueue_unknown_transfer(
    session: AsyncSession, transfer: Transfer | TransferRow, target_url: str
) -> WebhookEvent:
    payload = unknown_transfer_payload(transfer)
    return enqueue(
        session,
        EventType.UNKNOWN_TRANSFER_RECEIVED,
        target_url,
        payload,
        formats.OCRCH,
        order_id=transfer.order_id,
        transfer_id=transfer.id,
    )


async def resend_order_status(session: AsyncSession, order_id: uuid.UUID) -> WebhookEvent:
    """A new `order_status_changed` event with the order's current status (even `pending`)."""
    order = await session.get(Order, order_id)
    if order is None:
        raise OrderNotFound
    if order.integration == SESSION_INTEGRATION:
        return await _resend_session_event(session, order)
    from app.dialects import notify, trades  # the dialects import this domain's models

    if order.integration in (trades.EPUSDT, trades.EPAY):
        return await notify.resend(session, order)
    return _order_status_event(session, order, await webhook_fiat_fields(session, order))


async def _resend_session_event(session: AsyncSession, order: Order) -> WebhookEvent:
    """An operator's resend of a session order: its session's terminal event again (same body,
    same `evt_` id, so a receiver that already handled it can tell)."""
    checkout = await session_of_order(session, order.id)
    if checkout is None:
        raise SessionOrderNotFound
    if checkout.is_open:
        raise SessionStillOpen
    latest = await session.scalar(
        sa.select(WebhookEvent)
        .where(
            WebhookEvent.order_id == order.id,
            WebhookEvent.format.in_(SESSION_FORMATS),
        )
        .order_by(WebhookEvent.created_at.desc())
        .limit(1)
    )
    if latest is None:
        written = write_session_event(
            session, checkout, TERMINAL_EVENT[SessionStatus(checkout.status)], utcnow()
        )
        if written is None:
            raise NoSessionWebhookUrl
        return written
    row = (latest.event_type, latest.target_url, latest.payload, latest.format)
    return enqueue(session, *row, order_id=order.id)


async def resend_unknown_transfer(
    session: AsyncSession, transfer_id: int, target_url: str | None
) -> WebhookEvent | None:
    """Report a transfer again; nothing is sent when no unknown-transfer URL is configured."""
    transfer = await session.get(Transfer, transfer_id)
    if transfer is None:
        raise TransferNotFound
    return enqueue_unknown_transfer(session, transfer, target_url) if target_url else None


async def delivery_log(session: AsyncSession, order_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every webhook event of an order with all its attempts: what an operator reads to see why
    a merchant did not hear about a payment."""
    events = (
        await session.scalars(
            sa.select(WebhookEvent)
            .where(WebhookEvent.order_id == order_id)
            .order_by(WebhookEvent.created_at)
        )
    ).all()
    attempts = (
        (
            await session.scalars(
                sa.select(WebhookAttempt)
                .where(WebhookAttempt.event_id.in_([e.id for e in events]))
                .order_by(WebhookAttempt.event_id, WebhookAttempt.attempt)
            )
        ).all()
        if events
        else []
    )
    by_event: dict[uuid.UUID, list[WebhookAttempt]] = {}
    for attempt in attempts:
        by_event.setdefault(attempt.event_id, []).append(attempt)
    return [
        {
            "event_id": str(e.id),
            "event_type": e.event_type,
            "target_url": e.target_url,
            "status": e.status,
            "payload": e.payload,
            "created_at": int(e.created_at.timestamp()),
            "delivered_at": int(e.delivered_at.timestamp()) if e.delivered_at else None,
            "next_attempt_at": int(e.next_attempt_at.timestamp()),
            "attempts": [
                {
                    "attempt": a.attempt,
                    "started_at": int(a.started_at.timestamp()),
                    "status_code": a.status_code,
                    "latency_ms": a.latency_ms,
                    "error": a.error,
                }
                for a in by_event.get(e.id, [])
            ],
        }
        for e in events
    ]
