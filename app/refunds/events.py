"""What the refunds domain announces: a refund went out (`app.subscriptions` says who listens)."""

from __future__ import annotations

from dataclasses import dataclass

from app.events import DomainEvent
from app.orders.models import Order
from app.refunds.models import RefundItem


@dataclass(frozen=True, slots=True, kw_only=True)
class RefundSent(DomainEvent):
    """`item` is now `sent` (its `refund_tx_hash` and `sent_evidence` say how we know); `order`
    is the order the money had been linked to, None for a transfer no order took."""

    item: RefundItem
    order: Order | None
