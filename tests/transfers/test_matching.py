"""Attribution within the match band, on both databases: edges included (percent and absolute),
a deposit that began after the transfer is no candidate, and a band holding many orders' deposits
attributes to nobody, with a bounded number of statements."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from app.config import load_settings
from app.db import create_engine, create_sessionmaker, unit_of_work, utcnow
from app.ids import new_id
from app.models import Deposit, Order, RefundItem, Transfer
from app.transfers.observed import ObservedTransfer
from app.transfers.service import MatchRules, confirm, ingest
from tests.conftest import TEST_WALLET_ETH, settings_dict
from tests.transfers import helpers

USDT = 1_000_000


def seen(n: int, amount: int, when: dt.datetime | None = None) -> ObservedTransfer:
    """Block times are whole seconds."""
    return helpers.seen(n, amount, when=(when or utcnow()).replace(microsecond=0))


async def _orders(db: Any, amounts: list[int], *, started: dt.datetime | None = None) -> list[Any]:
    """Pending orders with one active deposit each (rows written directly: thousands quickly)."""
    now = utcnow()
    ids = [new_id() for _ in amounts]
    async with unit_of_work(db) as session:
        session.add_all(
            Order(
                id=order_id,
                merchant_order_id=f"m{i}",
                amount_units=amount,
                amount_scale=6,
                status="pending",
                webhook_url="https://s.example/h",
                created_at=now,
                updated_at=now,
                expires_at=now + dt.timedelta(hours=1),
            )
            for i, (order_id, amount) in enumerate(zip(ids, amounts, strict=True))
        )
        await session.flush()
        session.add_all(
            Deposit(
                order_id=order_id,
                blockchain="eth",
                token="USDT",
                wallet_address=TEST_WALLET_ETH,
                amount=amount,
                decimals=6,
                status="active",
                started_at=started or now - dt.timedelta(minutes=1),
                reserved_until=now + dt.timedelta(days=1),
            )
            for order_id, amount in zip(ids, amounts, strict=True)
        )
    return ids


async def _attributed(db: Any, rules: MatchRules, seen: list[ObservedTransfer]) -> list[Any]:
    async with unit_of_work(db) as session:
        new = await ingest(session, rules, seen, 1000)
        await confirm(session, rules, [t.id for t in new])
    async with db() as session:
        rows = await session.scalars(sa.select(Transfer).order_by(Transfer.id))
        return [t.order_id for t in rows]


@pytest.mark.parametrize(
    ("band", "inside", "outside"),
    [("2%", 98 * USDT, 98 * USDT - 1), ("1.5", 98_500_000, 98_499_999)],
)
async def test_the_band_edge_is_inside(
    database_url: str, band: str, inside: int, outside: int
) -> None:
    settings = load_settings(None, **settings_dict(database_url, payments={"match_band": band}))
    engine = create_engine(database_url)
    db = create_sessionmaker(engine)
    try:
        [order] = await _orders(db, [100 * USDT])
        rules = MatchRules.for_chain(settings, "eth")
        assert await _attributed(db, rules, [seen(1, outside), seen(2, inside)]) == [None, order]
    finally:
        await engine.dispose()


async def test_a_deposit_begun_after_the_transfer_is_no_candidate(database_url: str) -> None:
    settings = load_settings(None, **settings_dict(database_url))
    engine = create_engine(database_url)
    db = create_sessionmaker(engine)
    try:
        await _orders(db, [50 * USDT], started=utcnow() + dt.timedelta(minutes=5))
        rules = MatchRules.for_chain(settings, "eth")
        assert await _attributed(db, rules, [seen(1, 49_900_000)]) == [None]
    finally:
        await engine.dispose()


async def test_a_crowded_band_attributes_to_nobody_in_a_few_statements(database_url: str) -> None:
    """200 open orders a cent apart around 50 USDT, all within 2% of 50.005: no single order,
    so nobody; the lookup is a few statements whatever the number of deposits in the band."""
    settings = load_settings(None, **settings_dict(database_url))
    engine = create_engine(database_url)
    db = create_sessionmaker(engine)
    statements: list[str] = []
    try:
        await _orders(db, [49 * USDT + 10_000 * i for i in range(200)])
        rules = MatchRules.for_chain(settings, "eth")

        def count(*args: Any) -> None:
            statements.append(str(args[2]))

        sa.event.listen(engine.sync_engine, "before_cursor_execute", count)
        transfers = [seen(n, 50 * USDT + 5_000 + n) for n in range(1, 41)]
        assert await _attributed(db, rules, transfers) == [None] * 40
        sa.event.remove(engine.sync_engine, "before_cursor_execute", count)
    finally:
        await engine.dispose()
    band = [s for s in statements if "UNION ALL" in s or "LIMIT" in s]
    assert 1 <= len(band) <= 4, len(band)
    assert len(statements) < 40, "not a statement per transfer"


async def test_without_accept_partial_a_short_payment_is_nobody_s(database_url: str) -> None:
    settings = load_settings(
        None, **settings_dict(database_url, payments={"accept_partial": False})
    )
    engine = create_engine(database_url)
    db = create_sessionmaker(engine)
    try:
        [order_id] = await _orders(db, [100 * USDT])
        rules = MatchRules.for_chain(settings, "eth")
        assert await _attributed(db, rules, [seen(1, 99 * USDT)]) == [None]
        async with db() as session:
            order = await session.get(Order, order_id)
            kinds = (await session.execute(sa.select(RefundItem.kind, RefundItem.order_id))).all()
        assert order is not None and (order.status, order.amount_received) == ("pending", 0)
        assert kinds == [("unattributed", None)]
    finally:
        await engine.dispose()


async def test_a_full_payment_after_a_part_lists_the_excess(database_url: str) -> None:
    """After a part, the order's first deposit stays reserved; the whole price sent to it again
    pays the order and the excess over what was due is listed (never kept as a uniqueness step)."""
    settings = load_settings(None, **settings_dict(database_url))
    engine = create_engine(database_url)
    db = create_sessionmaker(engine)
    try:
        [order_id] = await _orders(db, [100 * USDT])
        rules = MatchRules.for_chain(settings, "eth")
        first = await _attributed(db, rules, [seen(1, 99 * USDT)])
        again = await _attributed(db, rules, [seen(2, 100 * USDT)])
        assert first == [order_id] and again == [order_id, order_id]
        async with db() as session:
            order = await session.get(Order, order_id)
            items = (await session.execute(sa.select(RefundItem.kind, RefundItem.amount))).all()
        assert order is not None and order.status == "paid"
        assert order.payment_exceptions == "overpaid,partial"
        assert items == [("overpaid", 99 * USDT)]
    finally:
        await engine.dispose()
