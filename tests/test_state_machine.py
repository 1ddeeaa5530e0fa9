"""Property tests of the order/deposit state machine: any interleaving of shoppers, the chain,
the sweeper and operators keeps the money rules.

Invariants checked after every step:
- a paid order never changes again, and has exactly one `paid` webhook event per payment;
- no two reserved deposits share (chain, token, wallet, amount);
- an ended order has no active deposit;
- a transfer pays at most one order, and only the order whose deposit it matched.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from app.admin.service import mark_paid
from app.chains import Blockchain, Coin
from app.config import load_settings
from app.db import create_engine, create_sessionmaker, unit_of_work, utcnow
from app.errors import AppError
from app.migrate import upgrade_to_head
from app.models import Deposit, Order, Transfer, WebhookEvent
from app.orders.models import OrderStatus
from app.orders.schemas import CreateOrderRequest
from app.orders.service import cancel_order, create_order, expire_due_orders
from app.payments.models import RESERVED_STATUSES, DepositStatus
from app.payments.service import create_payment
from app.transfers.observed import ObservedTransfer
from app.transfers.service import MatchRules, confirm, ingest
from tests.conftest import TEST_WALLET_ETH, settings_dict

AMOUNTS = st.sampled_from(["1", "2.5", "10"])


class Checkout(RuleBasedStateMachine):
    """One shop on SQLite; every rule is one unit of work, like a request or a job."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.tmp = tempfile.TemporaryDirectory()
        url = f"sqlite+aiosqlite:///{Path(self.tmp.name) / 'sm.db'}"
        self.loop.run_until_complete(upgrade_to_head(url))
        self.settings = load_settings(
            None, **settings_dict(url, orders={"match_clock_skew_seconds": 5})
        )
        self.engine = create_engine(url)
        self.db = create_sessionmaker(self.engine)
        self.rules = MatchRules.for_chain(self.settings, "eth")
        self.orders: list[uuid.UUID] = []
        self.paid_once: dict[uuid.UUID, int] = {}
        self.block = 100
        self.tx = 0

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.run(self.engine.dispose())
        self.loop.close()
        self.tmp.cleanup()

    async def _uow(self, work: Any) -> Any:
        async with unit_of_work(self.db) as session:
            return await work(session)

    @initialize()
    def start(self) -> None:
        pass

    @rule(amount=AMOUNTS)
    def create(self, amount: str) -> None:
        request = CreateOrderRequest(
            order_id="sm", amount=amount, webhook_url="https://shop.example/h"
        )
        order = self.run(self._uow(lambda s: create_order(s, self.settings, request)))
        self.orders.append(order.id)

    @rule(data=st.data())
    def choose_payment(self, data: st.DataObject) -> None:
        if not self.orders:
            return
        order_id = data.draw(st.sampled_from(self.orders))
        try:
            self.run(
                self._uow(
                    lambda s: create_payment(s, self.settings, order_id, Blockchain.ETH, Coin.USDT)
                )
            )
        except AppError as exc:
            assert exc.status_code in (409,), exc.message

    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        if not self.orders:
            return
        order_id = data.draw(st.sampled_from(self.orders))
        try:
            self.run(self._uow(lambda s: cancel_order(s, order_id)))
        except AppError as exc:
            assert exc.status_code == 409

    @rule(data=st.data())
    def expire(self, data: st.DataObject) -> None:
        if not self.orders:
            return
        order_id = data.draw(st.sampled_from(self.orders))

        async def work(session: Any) -> None:
            await session.execute(
                sa.update(Order)
                .where(Order.id == order_id)
                .values(expires_at=utcnow() - dt.timedelta(seconds=1))
            )
            await expire_due_orders(session)

        self.run(self._uow(work))

    @rule(data=st.data())
    def operator_marks_paid(self, data: st.DataObject) -> None:
        if not self.orders:
            return
        order_id = data.draw(st.sampled_from(self.orders))
        self.run(self._uow(lambda s: mark_paid(s, order_id, actor="test", reason="property")))

    @rule(data=st.data(), exact=st.booleans())
    def shopper_pays(self, data: st.DataObject, exact: bool) -> None:
        """A transfer arrives for some reserved deposit (or a wrong amount) and confirms."""
        deposits = self.run(self._all(Deposit))
        if not deposits:
            return
        deposit = data.draw(st.sampled_from(deposits))
        amount = deposit.amount if exact else deposit.amount + 1
        self.tx += 1
        self.block += 1
        seen = ObservedTransfer(
            blockchain=Blockchain.ETH,
            token=Coin.USDT,
            contract_address="0xtoken",
            tx_hash=f"0x{self.tx:064x}",
            log_index=0,
            from_address="0xpayer",
            to_address=TEST_WALLET_ETH,
            amount=amount,
            block_number=self.block,
            block_hash=f"0x{self.block:064x}",
            block_time=utcnow(),
        )

        async def work(session: Any) -> None:
            new = await ingest(session, self.rules, [seen], self.block)
            await confirm(session, self.rules, [t.id for t in new])

        self.run(self._uow(work))

    async def _all(self, model: Any) -> list[Any]:
        async with self.db() as session:
            return list(await session.scalars(sa.select(model)))

    @invariant()
    def money_rules_hold(self) -> None:
        orders = {o.id: o for o in self.run(self._all(Order))}
        deposits = self.run(self._all(Deposit))
        transfers = self.run(self._all(Transfer))
        events = self.run(self._all(WebhookEvent))
        reserved = Counter(
            (d.blockchain, d.token, d.wallet_address, d.amount)
            for d in deposits
            if d.status in RESERVED_STATUSES
        )
        assert all(n == 1 for n in reserved.values()), reserved
        for deposit in deposits:
            if orders[deposit.order_id].status != OrderStatus.PENDING:
                assert deposit.status != DepositStatus.ACTIVE
        paid_events = Counter(e.order_id for e in events if e.payload.get("status") == "paid")
        for order_id, order in orders.items():
            if order_id in self.paid_once:
                assert order.status == OrderStatus.PAID, "paid never changes"
            if order.status == OrderStatus.PAID:
                self.paid_once[order_id] = 1
                assert paid_events[order_id] == 1, "one paid event per payment"
        matched = [t for t in transfers if t.status == "matched"]
        for transfer in matched:
            assert transfer.order_id is not None
            assert orders[transfer.order_id].status == OrderStatus.PAID
            deposit = next(d for d in deposits if d.id == transfer.deposit_id)
            assert deposit.order_id == transfer.order_id and deposit.amount == transfer.amount
        assert len({t.order_id for t in matched}) == len(matched), "one transfer pays one order"


TestCheckout = Checkout.TestCase
TestCheckout.settings = settings(
    max_examples=25,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
