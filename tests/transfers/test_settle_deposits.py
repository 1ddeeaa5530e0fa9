"""What settling writes to the paying deposit: `matched` by its transfer in one write (the paid
order's other deposits linger), and, should the lifecycle refuse the payment after all (a guard:
the rows are locked), the deposit back as it was and the transfer nobody's."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from app.config import load_settings
from app.db import create_engine, create_sessionmaker, unit_of_work
from app.models import Deposit, Order, RefundItem, Transfer
from app.orders import lifecycle
from app.transfers.service import MatchRules, confirm, ingest
from tests.conftest import settings_dict
from tests.transfers.test_matching import USDT, _orders, seen


async def _settle(db: Any, rules: MatchRules, amount: int) -> None:
    async with unit_of_work(db) as session:
        new = await ingest(session, rules, [seen(1, amount)], 1000)
        await confirm(session, rules, [t.id for t in new])


async def _state(db: Any, order_id: Any) -> tuple[str, list[tuple[str, int | None]], Any]:
    async with db() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        deposits = (
            await session.execute(
                sa.select(Deposit.status, Deposit.transfer_id).where(Deposit.order_id == order_id)
            )
        ).all()
        transfer = (await session.execute(sa.select(Transfer))).scalar_one()
        return order.status, [tuple(d) for d in deposits], transfer


async def test_a_paying_deposit_is_marked_matched_by_its_transfer(database_url: str) -> None:
    settings = load_settings(None, **settings_dict(database_url))
    engine = create_engine(database_url)
    db = create_sessionmaker(engine)
    try:
        [order_id] = await _orders(db, [100 * USDT])
        await _settle(db, MatchRules.for_chain(settings, "eth"), 100 * USDT)
        status, deposits, transfer = await _state(db, order_id)
        assert status == "paid"
        assert deposits == [("matched", transfer.id)]
        assert (transfer.status, transfer.order_id) == ("matched", order_id)
    finally:
        await engine.dispose()


async def test_a_refused_payment_leaves_its_deposit_as_it_was(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(*args: Any, **kwargs: Any) -> list[Any]:
        return []

    monkeypatch.setattr(lifecycle, "apply", refuse)
    settings = load_settings(None, **settings_dict(database_url))
    engine = create_engine(database_url)
    db = create_sessionmaker(engine)
    try:
        [order_id] = await _orders(db, [100 * USDT])
        await _settle(db, MatchRules.for_chain(settings, "eth"), 100 * USDT)
        status, deposits, transfer = await _state(db, order_id)
        assert status == "pending"
        assert deposits == [("active", None)]
        assert (transfer.status, transfer.deposit_id) == ("no_matched_deposit", None)
        async with db() as session:
            kinds = (await session.execute(sa.select(RefundItem.kind))).scalars().all()
        assert kinds == ["unattributed"]
    finally:
        await engine.dispose()
