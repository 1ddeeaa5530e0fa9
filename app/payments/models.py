"""The `deposits` table: one per (order, chain, coin) a shopper chose to pay with."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BaseUnits, UtcDateTime, utcnow


class DepositStatus(StrEnum):
    ACTIVE = "active"
    """The order is pending and the shopper may pay this amount."""
    LINGERING = "lingering"
    """The order ended unpaid; the amount stays reserved until `reserved_until` so a late payment
    is linked to this order and never to another one."""
    MATCHED = "matched"
    """A transfer paid the order with this amount. It stays reserved until `reserved_until`, like
    a lingering one, so a repeat payment from the same wallet is linked to this order (reported
    as a duplicate) and never credited to another order given the same amount."""
    RELEASED = "released"
    """No longer reserved: the amount may be given to another order (`transfer_id` is kept)."""


RESERVED_STATUSES = (DepositStatus.ACTIVE, DepositStatus.LINGERING, DepositStatus.MATCHED)
_RESERVED_SQL = "status IN ('active', 'lingering', 'matched')"


class Deposit(Base):
    __tablename__ = "deposits"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    order_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    blockchain: Mapped[str] = mapped_column(sa.String(16))
    token: Mapped[str] = mapped_column(sa.String(8))
    wallet_address: Mapped[str] = mapped_column(sa.String(128))
    amount: Mapped[int] = mapped_column(BaseUnits())
    """Exact amount the shopper must send, in the token's base units (unique among reserved)."""
    decimals: Mapped[int] = mapped_column(sa.SmallInteger())
    status: Mapped[str] = mapped_column(sa.String(16), default=DepositStatus.ACTIVE)
    user_address: Mapped[str | None] = mapped_column(sa.String(128))
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    reserved_until: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    last_scanned_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    transfer_id: Mapped[int | None] = mapped_column(sa.BigInteger())
    # The locked quote of a fiat-priced order (app.payments.quotes); all null for coin orders.
    quote_currency: Mapped[str | None] = mapped_column(sa.String(3))
    quote_fiat_units: Mapped[int | None] = mapped_column(BaseUnits())
    """The fiat price in the currency's minor units (`quote_fiat_units / 10**quote_fiat_scale`)."""
    quote_fiat_scale: Mapped[int | None] = mapped_column(sa.SmallInteger())
    quote_rate: Mapped[str | None] = mapped_column(sa.String(64))
    """Fiat per coin, as exact decimal text."""
    quote_source: Mapped[str | None] = mapped_column(sa.String(32))
    quote_fetched_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    quote_expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    quote_spread_percent: Mapped[str | None] = mapped_column(sa.String(16))

    __table_args__ = (
        sa.Index(
            "uq_deposits_reserved_amount",
            "blockchain",
            "token",
            "wallet_address",
            "amount",
            unique=True,
            sqlite_where=sa.text(_RESERVED_SQL),
            postgresql_where=sa.text(_RESERVED_SQL),
        ),
        sa.Index("ix_deposits_status_reserved_until", "status", "reserved_until"),
        sa.CheckConstraint(
            "status IN ('active','lingering','matched','released')", name="status_valid"
        ),
    )
