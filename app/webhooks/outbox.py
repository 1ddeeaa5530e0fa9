"""Queuing a webhook: the one place an outbox row is written.

The row joins the caller's transaction, so it commits (or rolls back) with the change it reports;
after the commit a sender in this process is nudged (`app.webhooks.signal`), and senders
elsewhere find it on their next poll. The sender renders, signs and retries it by its `format`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import after_commit, utcnow
from app.ids import new_id
from app.webhooks.models import WebhookEvent
from app.webhooks.signal import outbox_written


def enqueue(
    session: AsyncSession,
    event_type: str,
    target_url: str,
    payload: dict[str, Any],
    row_format: str,
    *,
    order_id: uuid.UUID | None = None,
    transfer_id: int | None = None,
    event_id: uuid.UUID | None = None,
    at: dt.datetime | None = None,
) -> WebhookEvent:
    """A new outbox row, due at `at` (now); `event_id` when the payload already names it."""
    row = WebhookEvent(
        id=event_id or new_id(),
        event_type=event_type,
        order_id=order_id,
        transfer_id=transfer_id,
        target_url=target_url,
        payload=payload,
        format=row_format,
        next_attempt_at=at or utcnow(),
    )
    session.add(row)
    after_commit(session, outbox_written)
    return row
