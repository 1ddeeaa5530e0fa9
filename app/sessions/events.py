"""A session follows its order: where an order's status change is reported (the outbox writer in
`app.webhooks.service`), an order behind a checkout session moves its session instead and writes
the session's webhook event, in the same transaction.

    order paid       session open → complete (payment_status paid)   checkout.session.completed
    order expired    session open → expired                          checkout.session.expired
    order cancelled  session open → canceled                         checkout.session.canceled
    order paid while the session is already expired or canceled (a payment sent in time that
    confirmed late, an operator's mark-paid or attach): the session keeps its terminal status,
    payment_status becomes paid                      checkout.session.async_payment_succeeded

Every move is a conditional UPDATE, so a repeated or racing report changes nothing twice. The
session's merchant integrated with sessions, so its orders send no Ocrch `order_status_changed`.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import after_commit, utcnow
from app.errors import Conflict
from app.ids import new_id
from app.orders.models import Order, OrderStatus
from app.sessions.models import CheckoutSession, PaymentStatus, SessionStatus
from app.sessions.schemas import session_out
from app.webhooks.models import WebhookEvent
from app.webhooks.signal import outbox_written

SESSION_ORDER_PREFIX = "cs_"
"""A session's order carries the session id as its `merchant_order_id`."""


class SessionEvent(StrEnum):
    COMPLETED = "checkout.session.completed"
    EXPIRED = "checkout.session.expired"
    CANCELED = "checkout.session.canceled"
    ASYNC_PAYMENT_SUCCEEDED = "checkout.session.async_payment_succeeded"


_ON_ORDER = {
    OrderStatus.PAID: (SessionStatus.COMPLETE, SessionEvent.COMPLETED),
    OrderStatus.EXPIRED: (SessionStatus.EXPIRED, SessionEvent.EXPIRED),
    OrderStatus.CANCELLED: (SessionStatus.CANCELED, SessionEvent.CANCELED),
}
_TERMINAL_EVENT = {
    SessionStatus.COMPLETE: SessionEvent.COMPLETED,
    SessionStatus.EXPIRED: SessionEvent.EXPIRED,
    SessionStatus.CANCELED: SessionEvent.CANCELED,
}


async def session_of_order(session: AsyncSession, order: Order) -> CheckoutSession | None:
    if not order.merchant_order_id.startswith(SESSION_ORDER_PREFIX):
        return None  # most orders: no query at all
    return await session.scalar(
        sa.select(CheckoutSession)
        .where(CheckoutSession.order_id == order.id)
        .execution_options(populate_existing=True)
    )


async def order_status_changed(session: AsyncSession, order: Order) -> bool:
    """Move the order's session (if it has one) and write its event; False: not a session order."""
    checkout = await session_of_order(session, order)
    if checkout is None:
        return False
    change = _ON_ORDER.get(OrderStatus(order.status))
    if change is None:
        return True
    status, event = change
    now = utcnow()
    values: dict[str, object] = {"status": status}
    if status is SessionStatus.COMPLETE:
        values.update(payment_status=PaymentStatus.PAID, completed_at=now)
    moved = await move(session, checkout.id, values, SessionStatus.OPEN)
    if moved is not None:
        write_event(session, moved, event, now)
    elif order.status == OrderStatus.PAID:
        late = await move(
            session,
            checkout.id,
            {"payment_status": PaymentStatus.PAID},
            None,
            CheckoutSession.payment_status == PaymentStatus.UNPAID,
        )
        if late is not None:
            write_event(session, late, SessionEvent.ASYNC_PAYMENT_SUCCEEDED, now)
    return True


async def move(
    session: AsyncSession,
    session_id: str,
    values: dict[str, object],
    from_status: SessionStatus | None,
    *conditions: sa.ColumnElement[bool],
) -> CheckoutSession | None:
    """One conditional UPDATE; the session as it now is, or None when the condition failed."""
    query = sa.update(CheckoutSession).where(CheckoutSession.id == session_id, *conditions)
    if from_status is not None:
        query = query.where(CheckoutSession.status == from_status)
    moved = await session.scalar(
        query.values(**values).returning(CheckoutSession.id),
        execution_options={"synchronize_session": False},
    )
    if moved is None:
        return None
    return await session.get(CheckoutSession, session_id, populate_existing=True)


def write_event(
    session: AsyncSession, checkout: CheckoutSession, event: SessionEvent, now: dt.datetime
) -> WebhookEvent | None:
    """The outbox row (body fixed now; the sender adds a fresh signature per attempt)."""
    if not checkout.webhook_url:
        return None
    event_id = new_id()
    row = WebhookEvent(
        id=event_id,
        event_type=event.value,
        order_id=checkout.order_id,
        target_url=checkout.webhook_url,
        payload={
            "id": f"evt_{event_id.hex}",
            "object": "event",
            "type": event.value,
            "created": int(now.timestamp()),
            "livemode": checkout.livemode,
            "data": {"object": session_out(checkout, None).model_dump(mode="json")},
        },
        next_attempt_at=now,
    )
    session.add(row)
    after_commit(session, outbox_written)
    return row


async def resend_for_order(session: AsyncSession, order: Order) -> WebhookEvent | None:
    """An operator's resend of a session order: its session's terminal event again (same body,
    same `evt_` id, so a receiver that already handled it can tell); None: not a session order."""
    checkout = await session_of_order(session, order)
    if checkout is None:
        return None
    if checkout.is_open:
        raise Conflict("the order's checkout session is still open: no session event to resend")
    latest = await session.scalar(
        sa.select(WebhookEvent)
        .where(
            WebhookEvent.order_id == order.id,
            WebhookEvent.event_type.startswith("checkout.session."),
        )
        .order_by(WebhookEvent.created_at.desc())
        .limit(1)
    )
    if latest is None:
        written = write_event(
            session, checkout, _TERMINAL_EVENT[SessionStatus(checkout.status)], utcnow()
        )
        if written is None:
            raise Conflict("no [checkout_sessions].webhook_url was set for this session")
        return written
    copy = WebhookEvent(
        id=new_id(),
        event_type=latest.event_type,
        order_id=order.id,
        target_url=latest.target_url,
        payload=latest.payload,
        next_attempt_at=utcnow(),
    )
    session.add(copy)
    after_commit(session, outbox_written)
    return copy
