"""Operator actions racing the watcher, on PostgreSQL (where two writers really interleave)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.service import attach_transfer, totals
from app.chains import Blockchain, Coin
from app.config import Settings
from app.db import create_engine, create_sessionmaker, unit_of_work, utcnow
from app.errors import OrderAlreadyPaid, TransferRefundClaimed
from app.models import Order, RefundItem, Transfer
from app.orders.schemas import CreateOrderRequest
from app.orders.service import create_order
from app.payments.schemas import PaymentDetail
from app.payments.service import create_payment
from app.transfers.service import MatchRules, confirm, ingest
from tests.transfers.helpers import seen, settle


async def _order_paying_5_usdt(
    session: AsyncSession, settings: Settings, merchant_order_id: str
) -> tuple[Order, PaymentDetail]:
    """A 5 USDT order and its payment on eth, as a shop and its shopper make them."""
    order = await create_order(
        session,
        settings,
        CreateOrderRequest(
            order_id=merchant_order_id, amount="5", webhook_url="https://s.example/h"
        ),
    )
    return order, await create_payment(session, settings, order.id, Blockchain.ETH, Coin.USDT)


async def test_attach_after_the_watcher_paid_the_order_leaves_the_transfer_unmatched(
    database_url: str, settings: Settings
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite serializes writers up front (BEGIN IMMEDIATE): no interleaving")
    engine = create_engine(database_url)
    db = create_sessionmaker(engine)
    rules = MatchRules.for_chain(settings, "eth")
    try:
        async with unit_of_work(db) as session:
            order, detail = await _order_paying_5_usdt(session, settings, "race")
            # A wrong amount (outside the match band) the operator is about to accept for it.
            [short] = await settle(session, rules, [seen(1, 4_000_000)])
        order_id, exact, short_id = order.id, int(detail.amount_base_units), short.id

        async with db() as operator, operator.begin():
            read = await operator.get(Order, order_id)  # the request read it while pending
            assert read is not None and read.status == "pending"
            async with unit_of_work(db) as watcher:  # the exact payment confirms a moment later
                new = await ingest(watcher, rules, [seen(2, exact)], 102)
                assert await confirm(watcher, rules, [t.id for t in new]) == 1
            with pytest.raises(OrderAlreadyPaid, match="order is already paid"):
                await attach_transfer(
                    operator, settings, short_id, order_id, actor="op", reason="accept"
                )
            del read

        async with db() as session:
            rows = (
                await session.execute(
                    sa.select(Transfer.id, Transfer.status, Transfer.order_id).order_by(Transfer.id)
                )
            ).all()
            assert [(r.status, r.order_id) for r in rows] == [
                ("no_matched_deposit", None),
                ("matched", order_id),
            ]
            day = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
            [total] = await totals(session, settings, day, day + dt.timedelta(days=1))
            assert (total.count, total.amount) == (1, "5.000000")
    finally:
        await engine.dispose()


async def test_attaching_a_transfer_takes_it_off_the_refund_list(
    database_url: str, settings: Settings
) -> None:
    """An unattributed transfer is listed for refund; once an operator attaches it to an order it
    is that order's money: off the list, counted in `amount_received`. A claimed refund cannot
    be attached any more."""
    engine = create_engine(database_url)
    db = create_sessionmaker(engine)
    rules = MatchRules.for_chain(settings, "eth")
    try:
        async with unit_of_work(db) as session:
            order, _ = await _order_paying_5_usdt(session, settings, "att")
            [far] = await ingest(session, rules, [seen(1, 4_000_000)], 101)
            [other] = await ingest(session, rules, [seen(2, 3_000_000)], 102)
            await confirm(session, rules, [far.id, other.id])
        async with db() as session:
            listed = (
                await session.execute(sa.select(RefundItem.transfer_id, RefundItem.kind))
            ).all()
        assert sorted(listed) == [(far.id, "unattributed"), (other.id, "unattributed")]
        async with unit_of_work(db) as session:
            await session.execute(
                sa.update(RefundItem)
                .where(RefundItem.transfer_id == other.id)
                .values(status="claimed", claim_address="0xshopper")
            )
        async with unit_of_work(db) as session:
            with pytest.raises(TransferRefundClaimed):
                await attach_transfer(session, settings, other.id, order.id, actor="op", reason="x")
        async with unit_of_work(db) as session:
            await attach_transfer(session, settings, far.id, order.id, actor="op", reason="ok")
        async with db() as session:
            paid = await session.get(Order, order.id)
            left = (await session.execute(sa.select(RefundItem.transfer_id))).scalars().all()
        assert paid is not None and paid.status == "paid"
        assert paid.amount_received == 4 * 10**18
        assert list(left) == [other.id]
    finally:
        await engine.dispose()
