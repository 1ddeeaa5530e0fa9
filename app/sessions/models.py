"""Tables of the hosted front door: API keys (hashes only) and checkout sessions."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UtcDateTime, utcnow

INTEGRATION = "checkout_session"
"""`orders.integration` of an order a checkout session made: its status changes move the session
and are reported as session events, not as Ocrch `order_status_changed`."""


class KeyMode(StrEnum):
    TEST = "test"
    LIVE = "live"


class SessionMode(StrEnum):
    PAYMENT = "payment"
    DONATION = "donation"


class SessionStatus(StrEnum):
    OPEN = "open"
    COMPLETE = "complete"
    EXPIRED = "expired"
    CANCELED = "canceled"


class PaymentStatus(StrEnum):
    UNPAID = "unpaid"
    PAID = "paid"


class ApiKey(Base):
    """A secret API key (`sk_live_…`, `sk_test_…`). Only its SHA-256 is stored: the secret is
    random (240 bits), so a fast hash is as safe as a slow one and costs nothing per request."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid(), primary_key=True)
    prefix: Mapped[str] = mapped_column(sa.String(24))
    """The first characters of the secret, to recognize it in lists (`sk_test_Ab12Cd`)."""
    secret_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    mode: Mapped[str] = mapped_column(sa.String(8))
    name: Mapped[str | None] = mapped_column(sa.String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())

    @property
    def livemode(self) -> bool:
        return self.mode == KeyMode.LIVE

    __table_args__ = (sa.CheckConstraint("mode IN ('test','live')", name="mode_valid"),)


class CheckoutSession(Base):
    """A hosted checkout: what the merchant sells, where the shopper returns, and the order that
    carries the payment (created with the session; for a donation when the amount is chosen)."""

    __tablename__ = "checkout_sessions"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    """`cs_test_…` / `cs_live_…` with 190 random bits: a bearer token for the shopper's link."""
    mode: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16), default=SessionStatus.OPEN)
    payment_status: Mapped[str] = mapped_column(sa.String(16), default=PaymentStatus.UNPAID)
    livemode: Mapped[bool] = mapped_column(sa.Boolean())
    api_key_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("api_keys.id"))
    order_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("orders.id"), unique=True)
    amount_total: Mapped[int | None] = mapped_column(sa.BigInteger())
    """Cents; a donation's stays empty until the shopper chooses."""
    amount_min: Mapped[int | None] = mapped_column(sa.BigInteger())
    amount_max: Mapped[int | None] = mapped_column(sa.BigInteger())
    currency: Mapped[str] = mapped_column(sa.String(3))
    line_items: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON())
    success_url: Mapped[str] = mapped_column(sa.String(2048))
    cancel_url: Mapped[str | None] = mapped_column(sa.String(2048))
    customer_email: Mapped[str | None] = mapped_column(sa.String(320))
    client_reference_id: Mapped[str | None] = mapped_column(sa.String(200))
    metadata_: Mapped[dict[str, str] | None] = mapped_column("metadata", sa.JSON())
    webhook_url: Mapped[str | None] = mapped_column(sa.String(2048))
    """`[checkout_sessions].webhook_url` at creation (as an order keeps its own); a dialect's
    session keeps its dialect's `webhook_url`."""
    dialect: Mapped[str | None] = mapped_column(sa.String(16))
    """The API dialect that made the session (`opencheckout`, `ovgc`; `app.dialects`), which
    writes its webhooks in its own format; None: our own API."""
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    completed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())

    @property
    def is_open(self) -> bool:
        return self.status == SessionStatus.OPEN

    __table_args__ = (
        sa.Index("ix_checkout_sessions_livemode_created_at", "livemode", "created_at", "id"),
        sa.Index("ix_checkout_sessions_status_expires_at", "status", "expires_at"),
        sa.Index("ix_checkout_sessions_api_key_id_created_at", "api_key_id", "created_at"),
        sa.Index("ix_checkout_sessions_api_key_id_status", "api_key_id", "status", "expires_at"),
        sa.CheckConstraint("mode IN ('payment','donation')", name="mode_valid"),
        sa.CheckConstraint(
            "status IN ('open','complete','expired','canceled')", name="status_valid"
        ),
        sa.CheckConstraint("payment_status IN ('unpaid','paid')", name="payment_status_valid"),
    )
