"""Writing webhook events into the outbox, in the same transaction as the change they report."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.chains import CHAINS, Blockchain
from app.db import after_commit, utcnow
from app.errors import NotFound
from app.ids import new_id
from app.orders.models import Order
from app.payments.quotes import webhook_fiat_fields
from app.sessions import events as checkout_session_events
from app.transfers.models import Transfer
from app.webhooks.models import EventType, WebhookAttempt, WebhookEvent
from app.webhooks.signal import outbox_written


def order_status_payload(order: Order, fiat: dict[str, object] | None = None) -> dict[str, object]:
    """Fields of `order_status_changed` in Ocrch's order, without the per-attempt `timestamp`;
    a fiat order adds its `currency` and locked `quote` (`app.payments.quotes`)."""
    return {
        "event_type": EventType.ORDER_STATUS_CHANGED.value,
        "order_id": str(order.id),
        "merchant_order_id": order.merchant_order_id,
        "status": order.status,
        "amount": str(order.amount),
        **(fiat or {}),
    }


async def enqueue_order_status_changed(session: AsyncSession, order: Order) -> WebhookEvent | None:
    """Report an order's new status. An order behind a checkout session moves its session and
    writes the session's event instead (`app.sessions.events`); None then."""
    if await checkout_session_events.order_status_changed(session, order):
        return None
    return _order_status_event(session, order, await webhook_fiat_fields(session, order))


def _order_status_event(
    session: AsyncSession, order: Order, fiat: dict[str, object] | None = None
) -> WebhookEvent:
    event = WebhookEvent(
        id=new_id(),
        event_type=EventType.ORDER_STATUS_CHANGED,
        order_id=order.id,
        target_url=order.webhook_url,
        payload=order_status_payload(order, fiat),
        next_attempt_at=utcnow(),
    )
    session.add(event)
    after_commit(session, outbox_written)
    return event


def unknown_transfer_payload(transfer: Transfer) -> dict[str, object]:
    """`unknown_transfer_received` as Ocrch's code sends it (api.md §5), without `timestamp`."""
    return {
        "event_type": EventType.UNKNOWN_TRANSFER_RECEIVED.value,
        "transfer_id": transfer.id,
        "blockchain": CHAINS[Blockchain(transfer.blockchain)].webhook_label,
    }


def enqueue_unknown_transfer(
    session: AsyncSession, transfer: Transfer, target_url: str
) -> WebhookEvent:
    event = WebhookEvent(
        id=new_id(),
        event_type=EventType.UNKNOWN_TRANSFER_RECEIVED,
        transfer_id=transfer.id,
        order_id=transfer.order_id,
        target_url=target_url,
        payload=unknown_transfer_payload(transfer),
        next_attempt_at=utcnow(),
    )
    session.add(event)
    after_commit(session, outbox_written)
    return event


async def resend_order_status(session: AsyncSession, order_id: uuid.UUID) -> WebhookEvent:
    """A new `order_status_changed` event with the order's current status (even `pending`)."""
    order = await session.get(Order, order_id)
    if order is None:
        raise NotFound("resource not found")
    session_event = await checkout_session_events.resend_for_order(session, order)
    return session_event or _order_status_event(
        session, order, await webhook_fiat_fields(session, order)
    )


async def resend_unknown_transfer(
    session: AsyncSession, transfer_id: int, target_url: str | None
) -> WebhookEvent | None:
    """Report a transfer again; nothing is sent when no unknown-transfer URL is configured."""
    transfer = await session.get(Transfer, transfer_id)
    if transfer is None:
        raise NotFound("resource not found")
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
