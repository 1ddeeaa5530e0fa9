"""What an order has received: the `amount_received` / `amount_due` / `payment_exceptions` fields
of the order object, and the one batched writer of those columns.

`orders.amount_received` is kept in the order's own units at `RECEIVED_DECIMALS` (coin units for a
coin order, its currency for a fiat one: the transfer rules convert each credit through its
deposit's locked quote), so every reader formats it without a query. `orders.status` is not
written here: only `app.orders.lifecycle` moves an order.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.arrays import batch_update
from app.db import utcnow
from app.money import Amount
from app.orders.models import RECEIVED_DECIMALS, Order, OrderStatus, parse_exceptions
from app.orders.rows import OrderView
from app.rates.currencies import minor_units


def amount_at_received_scale(amount: Amount) -> int:
    """The order's amount in `amount_received`'s units."""
    return amount.to_base_units(RECEIVED_DECIMALS)


def _display_scale(amount: Amount, currency: str | None) -> int:
    return minor_units(currency) if currency is not None else amount.scale


def _text(units: int, *, shortest: int) -> str:
    """`units / 10**RECEIVED_DECIMALS` with trailing zeros dropped, but never fewer than
    `shortest` digits."""
    whole, frac = divmod(units, 10**RECEIVED_DECIMALS)
    digits = str(frac).rjust(RECEIVED_DECIMALS, "0").rstrip("0")
    if len(digits) < shortest:
        digits = digits.ljust(shortest, "0")
    return f"{whole}.{digits}" if digits else str(whole)


def _shown(currency: str | None, scale: int, received: int) -> int:
    """`received` as the wire shows it, at the received scale: exact for a coin order; rounded
    half up to the currency's minor unit for a fiat one (quotes convert finer than a cent)."""
    if currency is None:
        return received
    factor = 10 ** (RECEIVED_DECIMALS - scale)
    return int((received + factor // 2) // factor * factor)


def received_text(amount: Amount, currency: str | None, received: int) -> str:
    """`amount_received` on the wire, in the order's units (at least as many digits as its
    amount; a fiat order's to its currency's minor unit)."""
    scale = _display_scale(amount, currency)
    return _text(_shown(currency, scale, received), shortest=scale)


def due_text(amount: Amount, currency: str | None, received: int, status: str) -> str:
    """`amount_due`: "0" once paid, never below "0"; else the amount less what was received (as
    shown, so the two always add up to the amount)."""
    if status == OrderStatus.PAID:
        return "0"
    scale = _display_scale(amount, currency)
    due = max(0, amount_at_received_scale(amount) - _shown(currency, scale, received))
    return _text(due, shortest=scale)


def receipt_fields(
    amount: Amount, currency: str | None, received: int, flags: str, status: str
) -> dict[str, Any]:
    scale = _display_scale(amount, currency)
    shown = _shown(currency, scale, received)
    due = 0 if status == OrderStatus.PAID else max(0, amount_at_received_scale(amount) - shown)
    return {
        "amount_received": _text(shown, shortest=scale),
        "amount_due": "0" if status == OrderStatus.PAID else _text(due, shortest=scale),
        "payment_exceptions": parse_exceptions(flags) if flags else [],
    }


def order_receipt(order: OrderView) -> dict[str, Any]:
    """The additive order fields for `order`, as it is."""
    return receipt_fields(
        order.amount,
        order.currency,
        order.amount_received or 0,
        order.payment_exceptions or "",
        order.status,
    )


@dataclass(frozen=True, slots=True)
class Receipt:
    """An order's new totals: what it has received, and its flags."""

    order_id: uuid.UUID
    amount_received: int
    payment_exceptions: str


async def record(session: AsyncSession, receipts: Sequence[Receipt]) -> None:
    """Write the orders' new totals: one statement, however many orders (run with many
    parameter sets on SQLite, with arrays on PostgreSQL)."""
    if not receipts:
        return
    now = utcnow()
    await _RECORD.run(
        session,
        [
            {
                "oid": r.order_id,
                "received": r.amount_received,
                "flags": r.payment_exceptions,
                "at": now,
            }
            for r in receipts
        ],
    )


_RECORD = batch_update(
    Order.__table__,  # type: ignore[arg-type]
    "oid",
    {"oid": "uuid", "received": "numeric", "flags": "text", "at": "time"},
    {"amount_received": "received", "payment_exceptions": "flags", "updated_at": "at"},
)
