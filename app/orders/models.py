"""The `orders` table: what the merchant asked to be paid, and where that stands."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BaseUnits, UtcDateTime, utcnow
from app.ids import new_id
from app.money import Amount


class OrderStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class PaymentException(StrEnum):
    """What was unusual about how an order was paid (`orders.payment_exceptions`)."""

    UNDERPAID = "underpaid"
    OVERPAID = "overpaid"
    PARTIAL = "partial"
    LATE = "late"
    DUPLICATE = "duplicate"


RECEIVED_DECIMALS = 18
"""The scale of `orders.amount_received` (in the order's units): no stablecoin has more decimals
than this, and a fiat credit is kept far below a cent."""


_EXCEPTION_ORDER = tuple(kind.value for kind in PaymentException)


def parse_exceptions(text: str | None) -> list[str]:
    """`orders.payment_exceptions` as a list, in the enum's order."""
    flags = set((text or "").split(","))
    return [value for value in _EXCEPTION_ORDER if value in flags]


def join_exceptions(*groups: object) -> str:
    """Flags (lists, comma-separated strings) merged into `orders.payment_exceptions` text."""
    flags: set[str] = set()
    for group in groups:
        if isinstance(group, str):
            flags.update(group.split(","))
        elif isinstance(group, list | tuple | set | frozenset):
            flags.update(map(str, group))
    return ",".join(value for value in _EXCEPTION_ORDER if value in flags)


SERVICE_API = "ocrch"
"""`integration` of an order created through the Ocrch Service API."""

TERMINAL_STATUSES = frozenset({OrderStatus.PAID, OrderStatus.EXPIRED, OrderStatus.CANCELLED})


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid(), primary_key=True)
    merchant_order_id: Mapped[str] = mapped_column(sa.String(255), index=True)
    amount_units: Mapped[int] = mapped_column(BaseUnits())
    """The amount as the merchant wrote it: `amount_units / 10**amount_scale` coins."""
    amount_scale: Mapped[int] = mapped_column(sa.SmallInteger())
    currency: Mapped[str | None] = mapped_column(sa.String(3))
    """ISO 4217 code when the amount is a fiat price (quoted per coin); None: coin units."""
    status: Mapped[str] = mapped_column(sa.String(16), default=OrderStatus.PENDING)
    webhook_url: Mapped[str] = mapped_column(sa.String(2048))
    success_url: Mapped[str | None] = mapped_column(sa.String(2048))
    cancel_url: Mapped[str | None] = mapped_column(sa.String(2048))
    blockchain: Mapped[str | None] = mapped_column(sa.String(16))
    stablecoin: Mapped[str | None] = mapped_column(sa.String(8))
    expecting_wallet_address: Mapped[str | None] = mapped_column(sa.String(128))
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", sa.JSON())
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    paid_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    status_reason: Mapped[str | None] = mapped_column(sa.String(255))
    """Why the status last changed when a person changed it (admin mark-paid, attach)."""
    integration: Mapped[str] = mapped_column(sa.String(32), default=SERVICE_API)
    """Which integration created the order, so its own subscribers report its changes (Ocrch
    `order_status_changed` for the Service API, session events for a checkout session, …)."""
    amount_received: Mapped[int] = mapped_column(BaseUnits(), default=0, server_default="0")
    """Everything linked to the order (partial, late and duplicate transfers included), in the
    order's own units (coin units, or its fiat currency) at `RECEIVED_DECIMALS`: a coin order's
    transfers add up exactly whatever their token's decimals; a fiat order's are converted
    through the locked quote of the deposit each paid (`app.payments.accounting`)."""
    payment_exceptions: Mapped[str] = mapped_column(sa.String(64), default="", server_default="")
    """The order's payment flags, comma-separated in `PaymentException` order ('' when none)."""

    @classmethod
    def pending(
        cls,
        merchant_order_id: str,
        amount: Amount,
        now: dt.datetime,
        expires_at: dt.datetime,
        **columns: Any,
    ) -> Order:
        """A new order, pending as every order starts; `columns` are what its integration sets
        (webhook, URLs, chain, metadata)."""
        return cls(
            id=new_id(),
            merchant_order_id=merchant_order_id,
            amount_units=amount.units,
            amount_scale=amount.scale,
            status=OrderStatus.PENDING,
            created_at=now,
            updated_at=now,
            expires_at=expires_at,
            **columns,
        )

    @property
    def amount(self) -> Amount:
        return Amount(self.amount_units, self.amount_scale)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    __table_args__ = (
        sa.Index("ix_orders_status_expires_at", "status", "expires_at"),
        sa.Index("ix_orders_created_at", "created_at"),
        sa.CheckConstraint(
            "status IN ('pending','paid','expired','cancelled')", name="status_valid"
        ),
    )


class IdempotencyKey(Base):
    """A Service API request made with an `Idempotency-Key`, and the response it got."""

    __tablename__ = "idempotency_keys"

    key_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    response_status: Mapped[int | None] = mapped_column(sa.SmallInteger())
    response_body: Mapped[str | None] = mapped_column(sa.Text())
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)
