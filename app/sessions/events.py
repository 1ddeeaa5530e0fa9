"""A session follows its order: the order lifecycle's events move the session (this module
subscribes to them in `app.subscriptions`), and each move is announced as a
`CheckoutSessionChanged` event, which the webhooks domain turns into the session's outbox row.

    order paid       session open → complete (payment_status paid)   checkout.session.completed
    order expired    session open → expired                          checkout.session.expired
    order cancelled  session open → canceled                         checkout.session.canceled
    order paid while the session is already expired or canceled (a payment sent in time that
    confirmed late, an operator's mark-paid or attach): the session keeps its terminal status,
    payment_status becomes paid                      checkout.session.async_payment_succeeded

A session's order is the one in `checkout_sessions.order_id` (and carries `orders.integration =
"checkout_session"`, so other orders cost no query). Every move is a conditional UPDATE, so a
repeated or racing report changes nothing twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.db import utcnow
from app.events import DomainEvent
from app.orders.events import OrderStatusChanged
from app.orders.models import OrderStatus
from app.orders.rows import OrderView
from app.sessions.models import INTEGRATION, CheckoutSession, PaymentStatus, SessionStatus


class SessionEvent(StrEnum):
    COMPLETED = "checkout.session.completed"
    EXPIRED = "checkout.session.expired"
    CANCELED = "checkout.session.canceled"
    ASYNC_PAYMENT_SUCCEEDED = "checkout.session.async_payment_succeeded"


TERMINAL_EVENT = {
    SessionStatus.COMPLETE: SessionEvent.COMPLETED,
    SessionStatus.EXPIRED: SessionEvent.EXPIRED,
    SessionStatus.CANCELED: SessionEvent.CANCELED,
}
_ON_ORDER = {
    OrderStatus.PAID: (SessionStatus.COMPLETE, SessionEvent.COMPLETED),
    OrderStatus.EXPIRED: (SessionStatus.EXPIRED, SessionEvent.EXPIRED),
    OrderStatus.CANCELLED: (SessionStatus.CANCELED, SessionEvent.CANCELED),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckoutSessionChanged(DomainEvent):
    """The session (as it now is) moved; `event` names what happened, `at` when."""

    checkout: CheckoutSession
    event: SessionEvent
    at: dt.datetime
    order: OrderView | None = None
    """The session's order as it now is, when the move followed it (its receipt is shown)."""


async def session_of_order(session: AsyncSession, order_id: object) -> CheckoutSession | None:
    return await session.scalar(
        sa.select(CheckoutSession)
        .where(CheckoutSession.order_id == order_id)
        .execution_options(populate_existing=True)
    )


async def on_order_status_changed(
    session: AsyncSession, changes: Sequence[OrderStatusChanged]
) -> None:
    """Move each session order's session, and announce the move."""
    for change in changes:
        order = change.order
        if order.integration != INTEGRATION:
            continue
        checkout = await session_of_order(session, order.id)
        target = _ON_ORDER.get(OrderStatus(order.status))
        if checkout is None or target is None:
            continue
        status, event = target
        now = utcnow()
        values: dict[str, object] = {"status": status}
        if status is SessionStatus.COMPLETE:
            values.update(payment_status=PaymentStatus.PAID, completed_at=now)
        moved = await move(session, checkout.id, values, SessionStatus.OPEN)
        if moved is not None:
            await announce(session, moved, event, now, order)
        elif order.status == OrderStatus.PAID:
            late = await move(
                session,
                checkout.id,
                {"payment_status": PaymentStatus.PAID},
                None,
                CheckoutSession.payment_status == PaymentStatus.UNPAID,
            )
            if late is not None:
                await announce(session, late, SessionEvent.ASYNC_PAYMENT_SUCCEEDED, now, order)


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


async def announce(
    session: AsyncSession,
    checkout: CheckoutSession,
    event: SessionEvent,
    now: dt.datetime,
    order: OrderView | None = None,
) -> None:
    """Record that the session moved (the webhooks domain writes its outbox row)."""
    await events.record(
        session, [CheckoutSessionChanged(checkout=checkout, event=event, at=now, order=order)]
    )


async def expire_orderless(
    session: AsyncSession, session_id: str, now: dt.datetime
) -> CheckoutSession | None:
    """open → expired for a session without an order (a donation whose amount was never chosen),
    announced; None when it is no longer open or has its order by now."""
    moved = await move(
        session,
        session_id,
        {"status": SessionStatus.EXPIRED},
        SessionStatus.OPEN,
        CheckoutSession.order_id.is_(None),
    )
    if moved is not None:
        await announce(session, moved, SessionEvent.EXPIRED, now)
    return moved
