"""Storage: exact big integers on both databases, and migrations that equal the models."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from app.db import BaseUnits, UtcDateTime, create_engine, create_sessionmaker, utcnow
from app.ids import new_id
from app.migrate import alembic_config
from app.models import Base, Deposit, Order, WebhookEvent


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


async def test_migration_0004_releases_matched_amounts_it_cannot_reserve(
    tmp_path: Path, postgresql_database_url: str
) -> None:
    """Before 0004 a paid order's amount was released at once and could be given again: the
    upgrade keeps reserved only the matched deposits whose amount nobody else holds."""
    pg = await _pg_database(postgresql_database_url, "CREATE")
    try:
        for url in (f"sqlite+aiosqlite:///{tmp_path / 'm.db'}", pg):
            await _check_0004(url)
    finally:
        await _pg_database(pg, "DROP")


async def _check_0004(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade_to, url, "0003")
    sessionmaker = create_sessionmaker(engine)
    now = utcnow()
    cases = {  # wallet, amount, status, window still open
        "reused": ("0xa", 1, "matched", True),
        "holder": ("0xa", 1, "active", True),
        "lapsed": ("0xa", 2, "matched", False),
        "kept": ("0xa", 3, "matched", True),
        "older": ("0xb", 4, "matched", True),
        "newer": ("0xb", 4, "matched", True),
    }
    # Plain tables, as they were at 0003 (the models have grown since).
    when = ("created_at", "updated_at", "expires_at", "started_at", "reserved_until")
    orders = sa.table(
        "orders",
        sa.column("id", sa.Uuid()),
        sa.column("amount_units", BaseUnits()),
        *(sa.column(c) for c in ("merchant_order_id", "amount_scale", "status", "webhook_url")),
        *(sa.column(c, UtcDateTime()) for c in when[:3]),
    )
    deposits = sa.table(
        "deposits",
        sa.column("order_id", sa.Uuid()),
        sa.column("amount", BaseUnits()),
        *(sa.column(c) for c in ("blockchain", "token", "wallet_address", "decimals", "status")),
        *(sa.column(c, UtcDateTime()) for c in when[3:]),
    )
    ids = {}
    orders = _columns_at_0003(
        Order,
        "id",
        "merchant_order_id",
        "amount_units",
        "amount_scale",
        "status",
        "webhook_url",
        "created_at",
        "updated_at",
        "expires_at",
    )
    deposits = _columns_at_0003(
        Deposit,
        "order_id",
        "blockchain",
        "token",
        "wallet_address",
        "amount",
        "decimals",
        "status",
        "started_at",
        "reserved_until",
    )
    async with sessionmaker() as session, session.begin():
        for name, (wallet, amount, status, open_) in cases.items():
            order_id = new_id()
            await session.execute(
                orders.insert().values(
                    id=order_id,
                    merchant_order_id=name,
                    amount_units=amount,
                    amount_scale=0,
                    status="paid",
                    webhook_url="https://x.example/h",
                    created_at=now,
                    updated_at=now,
                    expires_at=now,
                )
            )
            deposit_id = await session.scalar(
                deposits.insert()
                .values(
                    order_id=order_id,
                    blockchain="eth",
                    token="USDT",
                    wallet_address=wallet,
                    amount=amount,
                    decimals=6,
                    status=status,
                    started_at=now,
                    reserved_until=now + dt.timedelta(hours=1 if open_ else -1),
                )
                .returning(deposits.c.id)
            )
            ids[deposit_id] = name
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade_to, url, "head")
    async with sessionmaker() as session:
        rows = (await session.execute(sa.select(Deposit.id, Deposit.status))).all()
    assert {ids[i]: s for i, s in rows} == {
        "reused": "released",
        "holder": "active",
        "lapsed": "released",
        "kept": "matched",
        "older": "released",
        "newer": "matched",
    }, url
    await engine.dispose()


def _columns_at_0003(model: Any, *names: str) -> sa.TableClause:
    """The table as revision 0003 had it, for inserts that later columns cannot break."""
    table = model.__table__
    names = tuple(dict.fromkeys(("id", *names)))
    return sa.table(table.name, *(sa.column(n, table.c[n].type) for n in names))


def _upgrade_to(connection: sa.Connection, url: str, revision: str) -> None:
    cfg = alembic_config(url)
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


async def _pg_database(url: str, verb: str) -> str:
    """CREATE a fresh empty database next to `url` (returns its URL), or DROP the one at `url`."""
    base, _, current = url.rpartition("/")
    name = f"sc_mig_{uuid.uuid4().hex[:8]}" if verb == "CREATE" else current
    engine = create_async_engine(f"{base}/test", isolation_level="AUTOCOMMIT")
    suffix = " WITH (FORCE)" if verb == "DROP" else ""
    async with engine.connect() as conn:
        await conn.execute(sa.text(f'{verb} DATABASE "{name}"{suffix}'))
    await engine.dispose()
    return f"{base}/{name}"


async def test_migration_0008_marks_session_orders_and_session_events(
    tmp_path: Path, postgresql_database_url: str
) -> None:
    """Rows written before 0008: a session's order becomes `checkout_session` (found by the
    session's link, not its `cs_` prefix) and its session events get their own format."""
    pg = await _pg_database(postgresql_database_url, "CREATE")
    try:
        for url in (f"sqlite+aiosqlite:///{tmp_path / 'm5.db'}", pg):
            await _check_0008(url)
    finally:
        await _pg_database(pg, "DROP")


async def _check_0008(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade_to, url, "0007")
    now = utcnow()
    when = {"created_at": now, "expires_at": now}
    uid, dtm = sa.Uuid(), UtcDateTime()
    orders = sa.table(
        "orders",
        sa.column("id", uid),
        sa.column("amount_units", BaseUnits()),
        *(sa.column(c) for c in ("merchant_order_id", "amount_scale", "status", "webhook_url")),
        *(sa.column(c, dtm) for c in ("created_at", "updated_at", "expires_at")),
    )
    keys = sa.table(
        "api_keys",
        sa.column("id", uid),
        *(sa.column(c) for c in ("prefix", "secret_hash", "mode")),
        sa.column("created_at", dtm),
    )
    sessions = sa.table(
        "checkout_sessions",
        sa.column("id"),
        sa.column("api_key_id", uid),
        sa.column("order_id", uid),
        sa.column("line_items", sa.JSON()),
        *(sa.column(c) for c in ("mode", "status", "payment_status", "livemode")),
        *(sa.column(c) for c in ("currency", "success_url")),
        *(sa.column(c, dtm) for c in when),
    )
    events = sa.table(
        "webhook_events",
        sa.column("id", uid),
        sa.column("order_id", uid),
        sa.column("payload", sa.JSON()),
        *(sa.column(c) for c in ("event_type", "target_url", "status", "attempts")),
        *(sa.column(c, dtm) for c in ("next_attempt_at", "created_at")),
    )
    plain, behind, key = new_id(), new_id(), new_id()
    async with engine.begin() as conn:
        for order_id, name in ((plain, "cs_looks_like_a_session"), (behind, "anything")):
            await conn.execute(
                orders.insert().values(
                    id=order_id,
                    merchant_order_id=name,
                    amount_units=1,
                    amount_scale=0,
                    status="paid",
                    webhook_url="https://x.example/h",
                    updated_at=now,
                    **when,
                )
            )
        await conn.execute(
            keys.insert().values(
                id=key, prefix="sk_test_x", secret_hash="h", mode="test", created_at=now
            )
        )
        await conn.execute(
            sessions.insert().values(
                id="cs_test_1",
                api_key_id=key,
                order_id=behind,
                line_items=[],
                mode="payment",
                status="complete",
                payment_status="paid",
                livemode=False,
                currency="usd",
                success_url="https://x.example/ok",
                **when,
            )
        )
        for order_id, kind in (
            (plain, "order_status_changed"),
            (behind, "checkout.session.completed"),
        ):
            await conn.execute(
                events.insert().values(
                    id=new_id(),
                    order_id=order_id,
                    payload={},
                    event_type=kind,
                    target_url="https://x.example/h",
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade_to, url, "head")
    async with create_sessionmaker(engine)() as session:
        found = dict((await session.execute(sa.select(Order.id, Order.integration))).all())
        formats = dict(
            (await session.execute(sa.select(WebhookEvent.order_id, WebhookEvent.format))).all()
        )
    assert found == {plain: "ocrch", behind: "checkout_session"}, url
    assert formats == {plain: "ocrch", behind: "checkout_session"}, url
    await engine.dispose()


async def test_utc_datetimes_read_back_aware_utc_whatever_the_session_zone(
    database_url: str,
) -> None:
    """On asyncpg `UtcDateTime` reads values as the driver decodes them (no per-value
    processing): still aware and in UTC, even when the session's TimeZone is not UTC."""
    engine = create_engine(database_url)
    stored = dt.datetime(2026, 12, 1, 23, 30, 15, 123456, tzinfo=dt.timezone(dt.timedelta(hours=5)))
    table = sa.table("t_utc", sa.column("at", UtcDateTime()))
    try:
        async with engine.begin() as conn:
            if database_url.startswith("postgresql"):
                await conn.execute(sa.text("SET LOCAL TimeZone = 'America/New_York'"))
                await conn.execute(sa.text("CREATE TEMP TABLE t_utc (at timestamptz)"))
            else:
                await conn.execute(sa.text("CREATE TEMP TABLE t_utc (at DATETIME)"))
            await conn.execute(sa.insert(table), [{"at": stored}])
            back = (await conn.execute(sa.select(table.c.at))).scalar_one()
    finally:
        await engine.dispose()
    assert back == stored
    assert back.utcoffset() == dt.timedelta(0)
    assert back.hour == 18
