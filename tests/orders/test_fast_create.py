"""The PostgreSQL hot path of order creation: group commit, idempotency inside a batch, failure
isolation, and reconnecting after PostgreSQL dropped the connections."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from app.db import utcnow
from app.ids import new_id
from app.models import Order
from app.orders.fast_create import GroupWriter, OrderCreator, PendingRow, asyncpg_dsn
from tests.helpers import order_body
from tests.orders.test_service_api import count_orders, create

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def creator_of(client: AsyncTestClient[Any]) -> OrderCreator:
    creator: OrderCreator = client.app.state.order_creator
    assert creator.writer is not None
    return creator


async def test_concurrent_creates_answer_their_own_rows(
    client: AsyncTestClient[Any], db: Any
) -> None:
    assert (await create(client, order_body(order_id="warm"))).status_code == 201
    assert creator_of(client).writer is not None
    answers = await asyncio.gather(
        *(create(client, order_body(order_id=f"o{i}", amount=f"{i + 1}.5")) for i in range(40))
    )
    assert [a.status_code for a in answers] == [201] * 40
    orders = [a.json() for a in answers]
    assert len({o["order_id"] for o in orders}) == 40
    assert [o["amount"] for o in orders] == [f"{i + 1}.5" for i in range(40)]
    async with db() as session:
        stored = {str(o.id): o for o in (await session.scalars(sa.select(Order))).all()}
    assert len(stored) == 41
    for answer in orders:
        order = stored[answer["order_id"]]
        assert str(order.amount) == answer["amount"]
        assert order.merchant_order_id == answer["merchant_order_id"]
        assert int(order.created_at.timestamp()) == answer["created_at"]
        assert int(order.expires_at.timestamp()) == answer["expires_at"]
        assert order.status == "pending"


async def test_one_key_in_one_batch_makes_one_order(client: AsyncTestClient[Any], db: Any) -> None:
    same = await asyncio.gather(
        *(create(client, order_body(), **{"Idempotency-Key": "k-same"}) for _ in range(8))
    )
    assert [a.status_code for a in same] == [201] * 8
    assert len({a.text for a in same}) == 1
    assert sum(a.headers.get("idempotent-replayed") == "true" for a in same) == 7
    clash = await asyncio.gather(
        create(client, order_body(amount="1"), **{"Idempotency-Key": "k-clash"}),
        create(client, order_body(amount="2"), **{"Idempotency-Key": "k-clash"}),
    )
    assert sorted(a.status_code for a in clash) == [201, 409]
    assert await count_orders(db) == 2


async def test_expired_key_is_taken_over(client: AsyncTestClient[Any], db: Any) -> None:
    first = await create(client, order_body(), **{"Idempotency-Key": "k-old"})
    async with db.begin() as session:
        await session.execute(
            sa.text("UPDATE idempotency_keys SET expires_at = now() - interval '1 second'")
        )
    again = await create(client, order_body(), **{"Idempotency-Key": "k-old"})
    assert again.status_code == 201 and "idempotent-replayed" not in again.headers
    assert again.json()["order_id"] != first.json()["order_id"]
    assert await count_orders(db) == 2


def _row(merchant_order_id: str, *, scale: int = 2) -> PendingRow:
    now = utcnow()
    values = (
        new_id(), merchant_order_id, Decimal(100), scale, None, "https://s.example/h", None,
        None, None, None, None, None, now, now + dt.timedelta(minutes=30), None, None, None,
    )  # fmt: skip
    return PendingRow(values, None)


async def test_concurrent_rows_share_one_statement(settings: Any, db: Any) -> None:
    dsn = asyncpg_dsn(settings.database_url)
    assert dsn is not None
    writer = GroupWriter(dsn)
    try:
        assert await writer.write(_row("first"))
        results = await asyncio.gather(*(writer.write(_row(f"r{i}")) for i in range(40)))
    finally:
        await writer.close()
    assert results == [True] * 40
    assert writer.statements <= 1 + 2  # the first alone, then at most one batch per writer
    assert await count_orders(db) == 41


async def test_a_failing_row_is_isolated(settings: Any, db: Any) -> None:
    dsn = asyncpg_dsn(settings.database_url)
    assert dsn is not None
    writer = GroupWriter(dsn)
    try:
        rows = [_row(f"ok{i}") for i in range(10)]
        rows.insert(4, _row("bad", scale=70_000))  # outside SMALLINT: PostgreSQL refuses it
        results = await asyncio.gather(*(writer.write(r) for r in rows), return_exceptions=True)
    finally:
        await writer.close()
    assert isinstance(results[4], asyncpg.DataError)
    assert results[:4] + results[5:] == [True] * 10
    assert writer.statements == 1 + 11  # the batch, then every row alone
    assert await count_orders(db) == 10


async def test_reconnects_after_the_backends_are_killed(
    client: AsyncTestClient[Any], settings: Any, db: Any
) -> None:
    """What `pool_pre_ping` did for the ORM path: a PostgreSQL restart costs no failed request."""
    assert (await create(client, order_body(order_id="before"))).status_code == 201
    dsn = asyncpg_dsn(settings.database_url)
    admin = await asyncpg.connect(dsn)
    try:
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    assert killed >= 1
    answers = await asyncio.gather(
        *(create(client, order_body(order_id=f"after{i}")) for i in range(5))
    )
    assert [a.status_code for a in answers] == [201] * 5
    assert await count_orders(db) == 6
