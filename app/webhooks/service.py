"""Writing webhook events into the outbox, in the same transaction as the change they report."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.chains import CHAINS, Blockchain
from app.db import utcnow
from app.ids import new_id
from app.orders.models import Order
from app.transfers.models import Transfer
from app.webhooks.models import EventType, WebhookEvent


def order_status_payload(order: Order) -> dict[str, object]:
    """Fields of `order_status_changed` in Ocrch's order, without the per-attempt `timestamp`."""
    return {
        "event_type": EventType.ORDER_STATUS_CHANGED.value,
        "order_id": str(order.id),
        "merchant_order_id": order.merchant_order_id,
        "status": order.status,
        "amount": str(order.amount),
    }


async def enqueue_order_status_changed(session: AsyncSession, order: Order) -> WebhookEvent:
    event = WebhookEvent(
        id=new_id(),
        event_type=EventType.ORDER_STATUS_CHANGED,
        order_id=order.id,
        target_url=order.webhook_url,
        payload=order_status_payload(order),
        next_attempt_at=utcnow(),
    )
    session.add(event)
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
    return event
