"""`OrderRow`: the watcher's plain order reads the same as the ORM's, keeps every column, and is
only moved by the lifecycle while its row is locked."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import sqlalchemy as sa

from app.db import create_engine, create_sessionmaker, unit_of_work
from app.money import Amount
from app.orders import lifecycle
from app.orders.events import Actor
from app.orders.models import Order, OrderStatus
from app.orders.rows import ORDER_COLUMNS, OrderRow, order_rows
from app.orders.service import order_body
from app.webhooks.service import order_status_payload


def test_order_row_has_every_column_of_orders() -> None:
    assert [c.name for c in ORDER_COLUMNS] == [c.name for c in Order.__table__.c]


def _new_order() -> Order:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return Order.pending(
        "shop-rows-1",
        Amount.parse("12.5"),
        now,
        now + dt.timedelta(minutes=15),
        webhook_url="https://shop.example/hook",
        metadata_={"cart": [1, {"sku": "a"}]},
        currency="EUR",
    )


class Discard:
    async def publish(self, channel: str, message: dict[str, object]) -> None:
        return None


def test_a_row_reads_like_the_orm_order_and_moves_only_locked(database_url: str) -> None:
    async def run() -> None:
        engine = create_engine(database_url)
        db = create_sessionmaker(engine)
        try:
            async with unit_of_work(db, Discard()) as session:
                order = _new_order()
                session.add(order)
            async with db() as session:
                loaded = await session.get(Order, order.id)
                assert loaded is not None
                row = order_rows(
                    (
                        await session.execute(sa.select(*ORDER_COLUMNS).where(Order.id == order.id))
                    ).all()
                )[0]
                assert order_body(row) == order_body(loaded)
                assert order_status_payload(row) == order_status_payload(loaded)
                assert row.amount == loaded.amount and not row.is_terminal

            request = lifecycle.Request(by=Actor.CHAIN, payment_time=row.created_at)
            async with unit_of_work(db, Discard()) as session:
                with pytest.raises(ValueError, match="locked=True"):
                    await lifecycle.apply(session, OrderStatus.PAID, [(row, request)])
            async with unit_of_work(db, Discard()) as session:
                locked = order_rows(
                    (
                        await session.execute(
                            sa.select(*ORDER_COLUMNS).where(Order.id == order.id).with_for_update()
                        )
                    ).all()
                )
                moved = await lifecycle.apply(
                    session, OrderStatus.PAID, [(locked[0], request)], locked=True
                )
                assert moved == locked and isinstance(moved[0], OrderRow)
                assert moved[0].status == "paid" and moved[0].paid_at is not None
            async with db() as session:
                again = await session.get(Order, order.id)
                assert again is not None and again.status == "paid"
                assert again.paid_at == moved[0].paid_at
        finally:
            await engine.dispose()

    asyncio.run(run())
