"""Operator actions racing the watcher, on PostgreSQL (where two writers really interleave)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from app.admin.service import attach_transfer, totals
from app.chains import Blockchain, Coin
from app.config import Settings
from app.db import create_engine, create_sessionmaker, unit_of_work, utcnow
from app.errors import OrderAlreadyPaid, TransferRefundClaimed
from app.models import Order, RefundItem, Transfer
from app.orders.schemas import CreateOrderRequest
from app.orders.service import create_order
from app.payments.service import create_payment
from app.transfers.observed import ObservedTransfer
from app.transfers.service import MatchRules, confirm, ingest
from tests.conftest import TEST_WALLET_ETH


def _seen(n: int, amount: int) -> ObservedTransfer:
    return ObservedTransfer(
        blockchain=Blockchain.ETH,
        token=Coin.USDT,
        contract_address="0xdAC17F958D2ee523a2206206994597C13D831ec7",
        tx_hash=f"0x{n:064x}",
        log_index=0,
        from_address="0xpayer",
        to_address=TEST_WALLET_ETH,
        amount=amount,
        block_number=100 + n,
        block_hash=f"0x{100 + n:064x}",
        block_time=utcnow(),
    )


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
            order = await create_order(
                session,
                settings,
                CreateOrderRequest(order_id="race", amount="5", webhook_url="https://s.example/h"),
            )
            detail = await create_payment(session, settings, order.id, Blockchain.ETH, Coin.USDT)
            # A wrong amount (outside the match band) the operator is about to accept for it.
            [short] = await ingest(session, rules, [_seen(1, 4_000_000)], 101)
            await confirm(session, rules, [short.id])
        order_id, exact, short_id = order.id, int(detail.amount_base_units), short.id

        async with db() as operator, operator.begin():
            seen = await operator.get(Order, order_id)  # the request read it while pending
            assert seen is not None and seen.status == "pending"
            async with unit_of_work(db) as watcher:  # the exact payment confirms a moment later
                new = await ingest(watcher, rules, [_seen(2, exact)], 102)
                assert await confirm(watcher, rules, [t.id for t in new]) == 1
            with pytest.raises(OrderAlreadyPaid, match="order is already paid"):
                await attach_transfer(
                    operator, settings, short_id, order_id, actor="op", reason="accept"
                )
            del seen

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
            order = await create_order(
                session,
                settings,
                CreateOrderRequest(order_id="att", amount="5", webhook_url="https://s.example/h"),
            )
            await create_payment(session, settings, order.id, Blockchain.ETH, Coin.USDT)
            [far] = await ingest(session, rules, [_seen(1, 4_000_000)], 101)
            [other] = await ingest(session, rules, [_seen(2, 3_000_000)], 102)
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
