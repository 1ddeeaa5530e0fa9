"""Queuing a webhook: the one place outbox rows are written.

The row joins the caller's transaction, so it commits (or rolls back) with the change it reports;
after the commit a sender in this process is nudged (`app.webhooks.signal`), and senders
elsewhere find it on their next poll. The sender renders, signs and retries it by its `format`.

`enqueue` adds one ORM row to the session (for callers that want the row back); `enqueue_many`
writes a batch's rows with one statement (on PostgreSQL one array per column), for the
subscribers that hear of hundreds of changes at once (a watcher settling a block's payments).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.arrays import on_postgresql, unnest_insert
from app.db import after_commit, utcnow
from app.ids import new_id
from app.webhooks.models import DeliveryStatus, WebhookEvent
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


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One outbox row to write with `enqueue_many` (the arguments of `enqueue`)."""

    event_type: str
    target_url: str
    payload: dict[str, Any]
    row_format: str
    order_id: uuid.UUID | None = None
    transfer_id: int | None = None


async def enqueue_many(session: AsyncSession, rows: list[Outgoing]) -> None:
    """New outbox rows, due now: one INSERT run with many parameter sets, no ORM objects."""
    if not rows:
        return
    now = utcnow()
    params = [
        {
            "id": new_id(),
            "event_type": r.event_type,
            "order_id": r.order_id,
            "transfer_id": r.transfer_id,
            "target_url": r.target_url,
            "payload": r.payload,
            "format": r.row_format,
            "status": DeliveryStatus.PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for r in rows
    ]
    connection = await session.connection()
    for start in range(0, len(params), _BATCH):
        chunk = params[start : start + _BATCH]
        if on_postgresql(session):
            for row in chunk:
                row["payload"] = json.dumps(row["payload"])
            await connection.execute(_INSERT_PG.statement, _INSERT_PG.params(chunk))
        else:
            await connection.execute(sa.insert(WebhookEvent), chunk)
    after_commit(session, outbox_written)


_BATCH = 500
_INSERT_PG = unnest_insert(
    "webhook_events",
    {
        "id": "uuid",
        "event_type": "text",
        "order_id": "uuid",
        "transfer_id": "bigint",
        "target_url": "text",
        "payload": "json",
        "format": "text",
        "status": "text",
        "attempts": "int",
        "next_attempt_at": "time",
        "created_at": "time",
    },
)
"""PostgreSQL: the same rows as one array per column (`app.arrays`), where the multi-row
`INSERT … VALUES` took eleven parameters per row to render, encode and plan."""
