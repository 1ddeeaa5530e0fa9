"""Storage: exact big integers on both databases, and migrations that equal the models."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.db import create_engine, create_sessionmaker, utcnow
from app.ids import new_id
from app.models import Base, Deposit, Order


async def test_one_million_dai_round_trips_exactly(database_url: str) -> None:
    engine = create_engine(database_url)
    sessionmaker = create_sessionmaker(engine)
    order_id = new_id()
    big = 10**24 + 1
    async with sessionmaker() as session, session.begin():
        now = utcnow()
        session.add(
            Order(
                id=order_id,
                merchant_order_id="big",
                amount_units=big,
                amount_scale=18,
                status="pending",
                webhook_url="https://x.example/h",
                created_at=now,
                updated_at=now,
                expires_at=now + dt.timedelta(hours=1),
            )
        )
        await session.flush()
        session.add(
            Deposit(
                order_id=order_id,
                blockchain="eth",
                token="DAI",
                wallet_address="0xa",
                amount=big,
                decimals=18,
                reserved_until=now,
            )
        )
    async with sessionmaker() as session:
        order = await session.get(Order, order_id)
        assert order is not None and order.amount_units == big
        assert str(order.amount) == "1000000.000000000000000001"
        found = await session.scalar(sa.select(Deposit.amount).where(Deposit.amount == big))
        assert found == big
    await engine.dispose()


async def test_migrations_match_models(database_url: str) -> None:
    engine = create_engine(database_url)

    def diff(conn: sa.Connection) -> list[object]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []
    await engine.dispose()


async def test_reserved_amounts_are_unique_in_the_database(database_url: str) -> None:
    engine = create_engine(database_url)
    sessionmaker = create_sessionmaker(engine)
    async with sessionmaker() as session, session.begin():
        now = utcnow()
        order = Order(
            id=new_id(),
            merchant_order_id="u",
            amount_units=1,
            amount_scale=0,
            status="pending",
            webhook_url="https://x.example/h",
            created_at=now,
            updated_at=now,
            expires_at=now,
        )
        session.add(order)
        await session.flush()
        for status in ("released", "released", "active"):
            session.add(
                Deposit(
                    order_id=order.id,
                    blockchain="eth",
                    token="USDT",
                    wallet_address="0xa",
                    amount=1_000_000,
                    decimals=6,
                    status=status,
                    reserved_until=now,
                )
            )
        await session.flush()
    raised = False
    try:
        async with sessionmaker() as session, session.begin():
            session.add(
                Deposit(
                    order_id=order.id,
                    blockchain="eth",
                    token="USDT",
                    wallet_address="0xa",
                    amount=1_000_000,
                    decimals=6,
                    status="lingering",
                    reserved_until=utcnow(),
                )
            )
            await session.flush()
    except sa.exc.IntegrityError:
        raised = True
    assert raised
    await engine.dispose()
