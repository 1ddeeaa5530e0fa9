"""`refund.sent`: the outbox row telling the shop a refund went out, signed like the order's
other webhooks.

Written in the transaction that marks the item sent (`app.refunds.service`, through the
`RefundSent` event), to the order's own webhook target in its integration's format:

    Service API order   `ocrch` row to `order.webhook_url`, `Ocrch-Signature` with
                        `[merchant].secret`, Ocrch-style flat JSON with `timestamp` per attempt
    Checkout Session    `checkout_session` row to the session's `webhook_url`, an event object
                        (`type: refund.sent`) with `Stablecheckout-Signature`
    anything else       nothing: Epusdt, Epay, OpenCheckout and OVGC have no refund callback, and
                        a transfer no order took has no order to report to (the admin queue and
                        `admin refunds` show it)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import after_commit, utcnow
from app.ids import new_id
from app.money import format_base_units
from app.orders.models import SERVICE_API, Order
from app.refunds.events import RefundSent
from app.refunds.models import RefundItem
from app.sessions.events import session_of_order
from app.sessions.models import INTEGRATION as SESSION_INTEGRATION
from app.webhooks import formats
from app.webhooks.models import EventType, WebhookEvent
from app.webhooks.signal import outbox_written


def refund_fields(item: RefundItem, order: Order) -> dict[str, Any]:
    """What the shop learns about a sent refund (amount in coin units, a decimal string)."""
    return {
        "refund_id": item.id,
        "order_id": str(order.id),
        "merchant_order_id": order.merchant_order_id,
        "kind": item.kind,
        "amount": format_base_units(item.amount, item.decimals),
        "blockchain": item.blockchain,
        "stablecoin": item.token,
        "address": item.claim_address,
        "tx_hash": item.refund_tx_hash,
        "evidence": item.sent_evidence,
    }


def refund_sent_payload(item: RefundItem, order: Order) -> dict[str, Any]:
    """The Ocrch-style body without the per-attempt `timestamp` (`formats.request_body`)."""
    return {"event_type": EventType.REFUND_SENT.value, **refund_fields(item, order)}


async def on_refund_sent(session: AsyncSession, sent: Sequence[RefundSent]) -> None:
    for event in sent:
        order = event.order
        if order is None:
            continue
        if order.integration == SERVICE_API and order.webhook_url:
            _write(
                session,
                order,
                order.webhook_url,
                refund_sent_payload(event.item, order),
                formats.OCRCH,
            )
        elif order.integration == SESSION_INTEGRATION:
            checkout = await session_of_order(session, order.id)
            if checkout is None or not checkout.webhook_url or checkout.dialect:
                continue
            event_id = new_id()
            payload = {
                "id": f"evt_{event_id.hex}",
                "object": "event",
                "type": EventType.REFUND_SENT.value,
                "created": int(utcnow().timestamp()),
                "livemode": checkout.livemode,
                "data": {
                    "object": {
                        "object": "refund",
                        "checkout_session": checkout.id,
                        **refund_fields(event.item, order),
                    }
                },
            }
            _write(
                session, order, checkout.webhook_url, payload, formats.CHECKOUT_SESSION, event_id
            )


def _write(
    session: AsyncSession,
    order: Order,
    target: str,
    payload: dict[str, Any],
    format_: str,
    event_id: Any = None,
) -> None:
    session.add(
        WebhookEvent(
            id=event_id or new_id(),
            event_type=EventType.REFUND_SENT,
            order_id=order.id,
            target_url=target,
            payload=payload,
            format=format_,
            next_attempt_at=utcnow(),
        )
    )
    after_commit(session, outbox_written)
