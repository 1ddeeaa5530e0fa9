"""Migration 0010 on both databases: existing orders gain zero received and no flags, refund
items are listed once per (transfer, kind), and the revision downgrades cleanly."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa
from alembic import command

from app.db import BaseUnits, UtcDateTime, create_engine, create_sessionmaker, utcnow
from app.ids import new_id
from app.migrate import alembic_config
from app.models import Order, RefundItem, Transfer
from app.refunds.models import RefundKind, RefundStatus
from app.refunds.service import NewItem, add_items
from tests.test_db import _pg_database, _upgrade_to


def _downgrade_to(connection: sa.Connection, url: str, revision: str) -> None:
    cfg = alembic_config(url)
    cfg.attributes["connection"] = connection
    command.downgrade(cfg, revision)


async def test_migration_0010_round_trip(tmp_path: Path, postgresql_database_url: str) -> None:
    pg = await _pg_database(postgresql_database_url, "CREATE")
    try:
        for url in (f"sqlite+aiosqlite:///{tmp_path / 'm10.db'}", pg):
            await _check_0010(url)
    finally:
        await _pg_database(pg, "DROP")


async def _check_0010(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade_to, url, "0009")
    now = utcnow()
    orders = sa.table(
        "orders",
        sa.column("id", sa.Uuid()),
        sa.column("amount_units", BaseUnits()),
        *(sa.column(c) for c in ("merchant_order_id", "amount_scale", "status", "webhook_url")),
        *(sa.column(c, UtcDateTime()) for c in ("created_at", "updated_at", "expires_at")),
    )
    order_id = new_id()
    async with engine.begin() as conn:
        await conn.execute(
            orders.insert().values(
                id=order_id,
                merchant_order_id="before-0010",
                amount_units=1234,
                amount_scale=2,
                status="paid",
                webhook_url="https://x.example/h",
                created_at=now,
                updated_at=now,
                expires_at=now,
            )
        )
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade_to, url, "head")
    sessionmaker = create_sessionmaker(engine)
    async with sessionmaker() as session, session.begin():
        order = await session.get(Order, order_id)
        assert order is not None
        assert (order.amount_received, order.payment_exceptions) == (0, ""), url
        transfer = Transfer(
            blockchain="eth",
            token="USDT",
            contract_address="0xc",
            tx_hash="0x01",
            log_index=0,
            from_address="0xsender",
            to_address="0xours",
            amount=10**24 + 7,
            block_number=1,
            block_hash="0xb",
            block_time=now - dt.timedelta(minutes=1),
            exception="duplicate",
            order_id=order_id,
        )
        session.add(transfer)
        await session.flush()
        item = NewItem(
            transfer_id=transfer.id,
            kind=RefundKind.DUPLICATE,
            blockchain="eth",
            token="USDT",
            wallet_address="0xours",
            sender_address="0xsender",
            amount=transfer.amount,
            decimals=6,
            order_id=order_id,
        )
        assert await add_items(session, [item, item]) == 1
        assert await add_items(session, [item]) == 0
    async with sessionmaker() as session:
        rows = list(await session.scalars(sa.select(RefundItem)))
        assert [(r.kind, r.amount, r.status, r.order_id) for r in rows] == [
            ("duplicate", 10**24 + 7, RefundStatus.OPEN, order_id)
        ], url
    async with engine.begin() as conn:
        await conn.run_sync(_downgrade_to, url, "0009")
    async with engine.begin() as conn:
        names = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
        assert "refund_items" not in names, url
        await conn.run_sync(_upgrade_to, url, "head")
    await engine.dispose()
