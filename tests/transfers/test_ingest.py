"""`ingest` on both databases: a transfer is attributed before it is stored, so its row is
inserted with its link and never updated for it; a block read again adds nothing; an orphan
re-mined after a reorg is linked again."""

from __future__ import annotations

import sqlalchemy as sa

from app.config import load_settings
from app.db import create_engine, create_sessionmaker, unit_of_work
from app.models import Deposit, Transfer
from app.transfers.service import MatchRules, ingest, rewind
from tests.conftest import settings_dict
from tests.transfers.helpers import seen, statements
from tests.transfers.test_matching import USDT, _orders


async def test_a_payment_is_inserted_linked_without_an_update(database_url: str) -> None:
    settings = load_settings(None, **settings_dict(database_url))
    engine = create_engine(database_url)
    db = create_sessionmaker(engine)
    try:
        [paid_for, _] = await _orders(db, [25 * USDT, 30 * USDT])
        rules = MatchRules.for_chain(settings, "eth")
        with statements(engine) as executed:
            async with unit_of_work(db) as session:
                new = await ingest(session, rules, [seen(1, 25 * USDT), seen(2, 7 * USDT)], 200)
        async with db() as session:
            rows = list(await session.scalars(sa.select(Transfer).order_by(Transfer.id)))
            deposit = await session.scalar(sa.select(Deposit).where(Deposit.order_id == paid_for))
    finally:
        await engine.dispose()
    assert [t.id for t in new] == [r.id for r in rows] and all(t.id > 0 for t in new)
    assert deposit is not None
    assert [(r.order_id, r.deposit_id) for r in rows] == [(paid_for, deposit.id), (None, None)]
    assert [(t.order_id, t.deposit_id) for t in new] == [(paid_for, deposit.id), (None, None)]
    writes = [s for s in executed if s.startswith(("INSERT", "UPDATE")) and "TRANSFERS" in s]
    assert writes and all(s.startswith("INSERT") for s in writes), writes


async def test_a_block_read_again_adds_nothing(database_url: str) -> None:
    settings = load_settings(None, **settings_dict(database_url))
    engine = create_engine(database_url)
    db = create_sessionmaker(engine)
    try:
        await _orders(db, [25 * USDT])
        rules = MatchRules.for_chain(settings, "eth")
        async with unit_of_work(db) as session:
            first = await ingest(session, rules, [seen(1, 25 * USDT)], 200)
        async with unit_of_work(db) as session:
            again = await ingest(session, rules, [seen(1, 25 * USDT)], 201)
        async with db() as session:
            count = await session.scalar(sa.select(sa.func.count()).select_from(Transfer))
    finally:
        await engine.dispose()
    assert len(first) == 1 and again == [] and count == 1


async def test_an_orphan_re_mined_is_linked_again(database_url: str) -> None:
    settings = load_settings(None, **settings_dict(database_url))
    engine = create_engine(database_url)
    db = create_sessionmaker(engine)
    try:
        [order_id] = await _orders(db, [25 * USDT])
        rules = MatchRules.for_chain(settings, "eth")
        async with unit_of_work(db) as session:
            [first] = await ingest(session, rules, [seen(1, 25 * USDT, block=150)], 150)
        async with unit_of_work(db) as session:
            await rewind(session, rules, 140)
        async with db() as session:
            orphan = await session.get(Transfer, first.id)
            assert orphan is not None and (orphan.status, orphan.order_id) == ("orphaned", None)
        async with unit_of_work(db) as session:
            [back] = await ingest(session, rules, [seen(1, 25 * USDT, block=152)], 152)
        async with db() as session:
            row = await session.get(Transfer, first.id)
    finally:
        await engine.dispose()
    assert back.id == first.id and row is not None
    assert (row.status, row.block_number) == ("waiting_for_confirmation", 152)
    assert (row.order_id, row.deposit_id) == (order_id, first.deposit_id)
    assert row.deposit_id is not None
