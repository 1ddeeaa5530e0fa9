"""The order lifecycle: every status an order can take, and the only code that writes it.

    from      to         guard                                             emits
    pending   paid       a chain payment covers the amount (less the       OrderPaid
                         underpayment tolerance), or an operator asks
    expired   paid       the payment's block time is within the order's    OrderPaid
                         life (`<= expires_at`), or `accept_late` takes a
                         late one, and it covers the amount; or an
                         operator asks
    cancelled paid       an operator asks                                  OrderPaid
    pending   expired    -                                                 OrderExpired
    pending   cancelled  -                                                 OrderCancelled

`apply` moves orders with one conditional UPDATE per group (`WHERE status IN <sources whose
guard passed>`), so two processes racing for one order cannot both win, and records the emitted
event for the winners in the same transaction (`app.events`); what follows a move (deposits
closed, webhook outbox rows, the checkout session, page pushes) is written by the subscribers.
A transfer's "does it pay?" question is the same table (`allows`), so the rule exists once.
What a payment adds up to (`covers`, `accept_late`) is measured by the transfer rules
(`app.transfers.settle`) and handed in with the request; the decision is taken here.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from app import events
from app.arrays import among
from app.db import utcnow
from app.orders.events import (
    Actor,
    OrderCancelled,
    OrderExpired,
    OrderPaid,
    OrderStatusChanged,
)
from app.orders.models import Order, OrderStatus
from app.orders.rows import OrderRow, OrderView

BATCH = 500
OrderT = TypeVar("OrderT", Order, OrderRow)


@dataclass(frozen=True, slots=True)
class Request:
    """Who asks for a move and with what evidence."""

    by: Actor
    payment_time: dt.datetime | None = None
    """The paying transfer's block time (the chain's evidence for a payment)."""
    reason: str | None = None
    """Why a person moved the order (kept as `status_reason`)."""
    end_now: bool = False
    """The order ends early (a merchant expires its checkout session): `expires_at` becomes now,
    so a payment sent from now on is late, never taken for an on-time one."""
    covers: bool = True
    """A chain payment: what the order has received covers its amount less the underpayment
    tolerance (a part payment does not pay)."""
    accept_late: bool = False
    """A chain payment: `[payments].accept_late` lets a payment made after expiry pay."""


Guard = Callable[[OrderView, Request], bool]


def always(order: OrderView, request: Request) -> bool:
    return True


def covered(order: OrderView, request: Request) -> bool:
    """A pending order is paid by a payment that covers it, or by an operator."""
    return request.by is Actor.OPERATOR or request.covers


def paid_in_time_or_by_operator(order: OrderView, request: Request) -> bool:
    """An expired order is paid by a covering payment made while it was open (or a late one
    when `accept_late` is on), or by an operator."""
    if request.by is Actor.OPERATOR:
        return True
    if request.payment_time is None or not request.covers:
        return False
    return request.payment_time <= order.expires_at or request.accept_late


def by_operator(order: OrderView, request: Request) -> bool:
    return request.by is Actor.OPERATOR


@dataclass(frozen=True, slots=True)
class Transition:
    source: OrderStatus
    target: OrderStatus
    guard: Guard
    event: type[OrderStatusChanged]


TRANSITIONS: tuple[Transition, ...] = (
    Transition(OrderStatus.PENDING, OrderStatus.PAID, covered, OrderPaid),
    Transition(OrderStatus.EXPIRED, OrderStatus.PAID, paid_in_time_or_by_operator, OrderPaid),
    Transition(OrderStatus.CANCELLED, OrderStatus.PAID, by_operator, OrderPaid),
    Transition(OrderStatus.PENDING, OrderStatus.EXPIRED, always, OrderExpired),
    Transition(OrderStatus.PENDING, OrderStatus.CANCELLED, always, OrderCancelled),
)


def sources(order: OrderView, to: OrderStatus, request: Request) -> tuple[OrderStatus, ...]:
    """The statuses `order` may be moved from to `to` for `request` (guards evaluated)."""
    return tuple(t.source for t in TRANSITIONS if t.target is to and t.guard(order, request))


def allows(order: OrderView, to: OrderStatus, request: Request) -> bool:
    """Would the order, in its current status, move to `to` for `request`?"""
    return OrderStatus(order.status) in sources(order, to, request)


def _event(to: OrderStatus) -> type[OrderStatusChanged]:
    return next(t.event for t in TRANSITIONS if t.target is to)


async def apply(
    session: AsyncSession,
    to: OrderStatus,
    requests: Sequence[tuple[OrderT, Request]],
    *,
    only_from: tuple[OrderStatus, ...] | None = None,
    locked: bool = False,
) -> list[OrderT]:
    """Move each order to `to` if the table allows it; returns the orders that moved (refreshed).

    One conditional UPDATE per group of equal (sources, request), batched; the winners' events are
    recorded before returning, in this transaction. `only_from` narrows the sources further (an
    explicit caller that knows which statuses it means). `locked`: the caller has just loaded
    the orders `FOR UPDATE`, so nothing else can have changed them; the UPDATE returns only their
    ids and the columns it wrote are set on the orders given (ORM objects or `OrderRow`s), rather
    than every row loaded again as an ORM object (the watcher settles hundreds of orders per
    batch). Plain rows are only taken locked: they are not refreshed from the database."""
    if not locked and any(isinstance(order, OrderRow) for order, _ in requests):
        raise ValueError("lifecycle.apply takes OrderRows only with locked=True")
    groups: dict[tuple[tuple[OrderStatus, ...], Request], list[OrderT]] = {}
    for order, request in requests:
        allowed = sources(order, to, request)
        if only_from is not None:
            allowed = tuple(s for s in allowed if s in only_from)
        if allowed:
            groups.setdefault((allowed, request), []).append(order)
    now = utcnow()
    won: list[tuple[OrderT, Request]] = []
    for (allowed, request), orders in groups.items():
        values: dict[str, Any] = {"status": to, "updated_at": now, "status_reason": request.reason}
        if to is OrderStatus.PAID:
            values["paid_at"] = now
        if request.end_now and to is OrderStatus.EXPIRED:
            values["expires_at"] = now
        for start in range(0, len(orders), BATCH):
            chunk = orders[start : start + BATCH]
            statement = (
                sa.update(Order)
                .where(
                    among(session, Order.id, "uuid", [o.id for o in chunk]),
                    Order.status.in_(allowed),
                )
                .values(**values)
            )
            if locked:
                moved_ids = set(
                    await session.scalars(
                        statement.returning(Order.id),
                        execution_options={"synchronize_session": False},
                    )
                )
                written = {
                    key: value.value if isinstance(value, OrderStatus) else value
                    for key, value in values.items()
                }  # as loaded from the row: a status is its plain string
                for order in chunk:
                    if order.id in moved_ids:
                        for key, value in written.items():
                            if isinstance(order, OrderRow):
                                setattr(order, key, value)
                            else:
                                set_committed_value(order, key, value)
                        won.append((order, request))
                continue
            moved = await session.scalars(
                statement.returning(Order),
                execution_options={"synchronize_session": False, "populate_existing": True},
            )
            refreshed: list[Any] = list(moved)  # ORM objects: rows never reach here
            won.extend((order, request) for order in refreshed)
    event = _event(to)
    await events.record(session, [event(order=order, by=request.by) for order, request in won])
    return [order for order, _ in won]


async def move(
    session: AsyncSession,
    order_id: uuid.UUID,
    to: OrderStatus,
    request: Request,
    *,
    only_from: tuple[OrderStatus, ...] | None = None,
) -> Order | None:
    """`apply` for one order known by id; None when it did not move (or does not exist)."""
    order = await session.get(Order, order_id, populate_existing=True)
    if order is None:
        return None
    moved = await apply(session, to, [(order, request)], only_from=only_from)
    return moved[0] if moved else None
