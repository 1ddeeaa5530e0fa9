"""Durable webhook outbox: one row per event, one row per delivery attempt."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UtcDateTime, utcnow


class EventType(StrEnum):
    ORDER_STATUS_CHANGED = "order_status_changed"
    UNKNOWN_TRANSFER_RECEIVED = "unknown_transfer_received"
    REFUND_SENT = "refund.sent"
    PAYMENT_EXCEPTION = "payment_exception"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookEvent(Base):
    __tablename__ = "webhook_events"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid(), primary_key=True)
    event_type: Mapped[str] = mapped_column(sa.String(40))
    order_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    transfer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("transfers.id"), index=True)
    target_url: Mapped[str] = mapped_column(sa.String(2048))
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON())
    """The event's fields except `timestamp`, which is stamped fresh on every attempt."""
    format: Mapped[str] = mapped_column(sa.String(32), default="ocrch")
    """How the sender renders and signs the payload (`app.webhooks.formats`)."""
    status: Mapped[str] = mapped_column(sa.String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(sa.Integer(), default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    lease_holder: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    last_status_code: Mapped[int | None] = mapped_column(sa.SmallInteger())
    last_error: Mapped[str | None] = mapped_column(sa.Text())

    __table_args__ = (sa.Index("ix_webhook_events_status_next", "status", "next_attempt_at"),)


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    event_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("webhook_events.id"), index=True)
    attempt: Mapped[int] = mapped_column(sa.Integer())
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    latency_ms: Mapped[int | None] = mapped_column(sa.Integer())
    status_code: Mapped[int | None] = mapped_column(sa.SmallInteger())
    error: Mapped[str | None] = mapped_column(sa.Text())

    __table_args__ = (sa.UniqueConstraint("event_id", "attempt"),)
