"""The transition table: which moves each actor may make, and that only winners emit events."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import unit_of_work, utcnow
from app.orders import lifecycle
from app.orders.events import Actor
from app.orders.models import Order, OrderStatus
from app.orders.schemas import CreateOrderRequest
from app.orders.service import create_order
from app.webhooks.models import WebhookEvent

END = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
S = OrderStatus


def order(status: OrderStatus) -> Order:
    return Order(status=status, expires_at=END)


@pytest.mark.parametrize(
    ("status", "to", "request_", "allowed"),
    [
        (S.PENDING, S.PAID, lifecycle.Request(by=Actor.CHAIN), True),
        (S.EXPIRED, S.PAID, lifecycle.Request(by=Actor.CHAIN, payment_time=END), True),
        (
            S.EXPIRED,
            S.PAID,
            lifecycle.Request(by=Actor.CHAIN, payment_time=END + dt.timedelta(seconds=1)),
            False,
        ),
        (S.EXPIRED, S.PAID, lifecycle.Request(by=Actor.CHAIN), False),
        (S.EXPIRED, S.PAID, lifecycle.Request(by=Actor.OPERATOR), True),
        (S.CANCELLED, S.PAID, lifecycle.Request(by=Actor.CHAIN, payment_time=END), False),
        (S.CANCELLED, S.PAID, lifecycle.Request(by=Actor.OPERATOR), True),
        (S.PAID, S.PAID, lifecycle.Request(by=Actor.OPERATOR), False),
        (S.PAID, S.EXPIRED, lifecycle.Request(by=Actor.SWEEPER), False),
        (S.PAID, S.CANCELLED, lifecycle.Request(by=Actor.SHOPPER), False),
        (S.EXPIRED, S.CANCELLED, lifecycle.Request(by=Actor.SHOPPER), False),
        (S.PENDING, S.CANCELLED, lifecycle.Request(by=Actor.SHOPPER), True),
        (S.PENDING, S.EXPIRED, lifecycle.Request(by=Actor.SWEEPER), True),
    ],
)
def test_transition_table(
    status: OrderStatus, to: OrderStatus, request_: lifecycle.Request, allowed: bool
) -> None:
    assert lifecycle.allows(order(status), to, request_) is allowed


async def test_only_the_winner_moves_and_reports(db: Any, settings: Any) -> None:
    async with unit_of_work(db) as session:
        made = await create_order(
            session,
            settings,
            CreateOrderRequest(order_id="lc", amount="3", webhook_url="https://s.example/h"),
        )
    chain = lifecycle.Request(by=Actor.CHAIN, payment_time=utcnow())
    async with unit_of_work(db) as session:
        stale = await session.get(Order, made.id)
        assert stale is not None
        # What a racing process still believes: pending. Its UPDATE must not match.
        believed = Order(id=made.id, status=S.PENDING, expires_at=made.expires_at)
        first = await lifecycle.apply(session, S.PAID, [(stale, chain)])
        second = await lifecycle.apply(session, S.PAID, [(believed, chain)])
    assert [o.status for o in first] == ["paid"] and second == []
    async with db() as session:
        rows = (await session.scalars(sa.select(WebhookEvent))).all()
    assert [(r.order_id, r.payload["status"]) for r in rows] == [(made.id, "paid")]


async def test_locked_orders_are_moved_in_place(db: Any, settings: Any) -> None:
    """`locked=True` (the watcher's settle): the objects given are the ones returned, told the
    columns the UPDATE wrote, as a reload would have shown them; a loser still does not move."""
    async with unit_of_work(db) as session:
        made = await create_order(
            session,
            settings,
            CreateOrderRequest(order_id="lk", amount="3", webhook_url="https://s.example/h"),
        )
    chain = lifecycle.Request(by=Actor.CHAIN, payment_time=utcnow())
    async with unit_of_work(db) as session:
        locked = (
            await session.scalars(sa.select(Order).where(Order.id == made.id).with_for_update())
        ).one()
        believed = Order(id=made.id, status=S.PENDING, expires_at=made.expires_at)
        first = await lifecycle.apply(session, S.PAID, [(locked, chain)], locked=True)
        second = await lifecycle.apply(session, S.PAID, [(believed, chain)], locked=True)
        assert first == [locked] and second == []
        assert type(locked.status) is str and locked.status == "paid"
        assert locked not in session.dirty
        shown = (locked.status, locked.paid_at, locked.updated_at, locked.status_reason)
    async with db() as session:
        stored = await session.get(Order, made.id)
        assert stored is not None
        assert (stored.status, stored.paid_at, stored.updated_at, stored.status_reason) == shown
        rows = (await session.scalars(sa.select(WebhookEvent))).all()
    assert [(r.order_id, r.payload["status"]) for r in rows] == [(made.id, "paid")]
