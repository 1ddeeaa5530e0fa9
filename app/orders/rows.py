"""Orders as plain rows on the watcher's hot path.

Settling a batch reads hundreds of orders: the rules, the lifecycle's guards and every subscriber
of `OrderStatusChanged` read a dozen of their fields and write none through the object (each
writes its own statement). As ORM objects each cost identity-map and instrumentation work per
load and per attribute read, which was the largest single part of a batch's Python time
(docs/benchmarks.md); as slotted dataclasses read with Core they cost a tuple each. Code that
only reads an order takes an `OrderView`: the ORM `Order` or an `OrderRow`, alike to a reader.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.money import Amount
from app.orders.models import TERMINAL_STATUSES, Order


@dataclass(slots=True)
class OrderRow:
    """One `orders` row, detached: the fields of `Order`, without the ORM."""

    id: uuid.UUID
    merchant_order_id: str
    amount_units: int
    amount_scale: int
    currency: str | None
    status: str
    webhook_url: str
    success_url: str | None
    cancel_url: str | None
    blockchain: str | None
    stablecoin: str | None
    expecting_wallet_address: str | None
    metadata_: dict[str, Any] | None
    created_at: dt.datetime
    updated_at: dt.datetime
    expires_at: dt.datetime
    paid_at: dt.datetime | None
    status_reason: str | None
    integration: str
    amount_received: int
    payment_exceptions: str

    @property
    def amount(self) -> Amount:
        return Amount(self.amount_units, self.amount_scale)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


OrderView = Order | OrderRow
"""An order as its readers see it: loaded by the ORM, or as a plain row."""

ORDER_COLUMNS = tuple(
    getattr(Order, name).expression
    for name in OrderRow.__slots__  # type: ignore[attr-defined]
)
"""`Order`'s columns in `OrderRow`'s field order, for a Core select."""


def order_rows(rows: Sequence[Any]) -> list[OrderRow]:
    """Rows selected as `ORDER_COLUMNS` (leading), as `OrderRow`s."""
    width = len(ORDER_COLUMNS)
    return [OrderRow(*row[:width]) for row in rows]
