"""Property tests of the order/deposit state machine: any interleaving of shoppers, the chain,
the sweeper and operators keeps the money rules.

Payments arrive exact, a little over, short within the underpayment tolerance, short beyond it
(a part: the order asks for the rest), far from every deposit, in time or late; the machine runs
with `accept_late` off and on.

Invariants checked after every step:
- a paid order never changes again, and has exactly one `paid` webhook event per payment;
- no two reserved deposits share (chain, token, wallet, amount);
- an ended order has no active deposit;
- a credited transfer is credited to its deposit's order only;
- money: every base unit that arrived is credited to exactly one order or listed for refund (a
  transfer credited to a pending or paid order has at most its surplus listed, any other is
  listed whole); an order's `amount_received` is the sum of the transfers linked to it; a pending
  order has not been credited its amount (less the tolerance), a chain-paid one has, and no more
  than its amount plus a uniqueness step.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
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
from app.models import Deposit, Order, RefundItem, Transfer, WebhookEvent
from app.orders.models import OrderStatus
from app.orders.schemas import CreateOrderRequest
from app.orders.service import cancel_order, create_order, expire_due_orders
from app.payments.models import RESERVED_STATUSES, DepositStatus
from app.payments.service import create_payment
from app.transfers.service import MatchRules
from tests.conftest import settings_dict
from tests.transfers.helpers import seen, settle

AMOUNTS = st.sampled_from(["1", "2.5", "10"])
OFFSETS = st.sampled_from(["exact", "over", "tolerated", "part", "far"])
"""How a transfer compares with the deposit it is meant for."""
TOLERANCE = "0.5%"
TOLERANCE_PER_MILLE = 5
MAX_STEP = 10**17
"""`amount_step * amount_step_max_tries` (0.0001 * 1000 coins) at `amount_received`'s scale: the
most a deposit may ask above what is due."""
SCALE = 10**12
"""USDT base units (6 decimals) to `amount_received`'s 18."""


def offset(kind: str, amount: int) -> int:
    return {
        "exact": amount,
        "over": amount + 1,
        "tolerated": amount - amount // 400,  # 0.25 %: within the 0.5 % tolerance
        "part": amount - amount // 100,  # 1 %: within the 2 % band, beyond the tolerance
        "far": amount // 2,  # outside every band: nobody's payment
    }[kind]


class Checkout(RuleBasedStateMachine):
    """One shop on SQLite; every rule is one unit of work, like a request or a job."""

    ACCEPT_LATE = False

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.tmp = tempfile.TemporaryDirectory()
        url = f"sqlite+aiosqlite:///{Path(self.tmp.name) / 'sm.db'}"
        self.loop.run_until_complete(upgrade_to_head(url))
        self.settings = load_settings(
            None,
            **settings_dict(
                url,
                orders={"match_clock_skew_seconds": 5},
                payments={
                    "underpayment_tolerance": TOLERANCE,
                    "accept_late": self.ACCEPT_LATE,
                },
            ),
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
        """An order, and the shopper choosing to pay it (the deposit a payment is meant for)."""
        request = CreateOrderRequest(
            order_id="sm", amount=amount, webhook_url="https://shop.example/h"
        )

        async def work(session: Any) -> Order:
            order = await create_order(session, self.settings, request)
            await create_payment(session, self.settings, order.id, Blockchain.ETH, Coin.USDT)
            return order

        order = self.run(self._uow(work))
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

    @rule(data=st.data(), how=OFFSETS)
    def shopper_pays(self, data: st.DataObject, how: str) -> None:
        """A transfer arrives for some deposit (any status: late and repeat payments too),
        exact or not, and confirms."""
        deposits = self.run(self._all(Deposit))
        if deposits:
            self._pay(offset(how, data.draw(st.sampled_from(deposits)).amount))

    @rule(data=st.data(), how=OFFSETS)
    def shopper_pays_what_the_page_shows(self, data: st.DataObject, how: str) -> None:
        """A transfer for a deposit still offered (a remainder, after a part), and confirms."""
        deposits = [d for d in self.run(self._all(Deposit)) if d.status == DepositStatus.ACTIVE]
        if deposits:
            self._pay(offset(how, data.draw(st.sampled_from(deposits)).amount))

    def _pay(self, amount: int) -> None:
        self.tx += 1
        self.block += 1
        transfer = seen(self.tx, amount, block=self.block)

        async def work(session: Any) -> None:
            await settle(session, self.rules, [transfer])

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
        items = self.run(self._all(RefundItem))
        for transfer in matched:
            assert transfer.order_id is not None
            deposit = next(d for d in deposits if d.id == transfer.deposit_id)
            assert deposit.order_id == transfer.order_id
            surplus = sum(i.amount for i in items if i.transfer_id == transfer.id)
            assert transfer.amount - surplus <= deposit.amount, "more than asked is listed"
        self._money_is_accounted(orders, transfers, items)

    def _money_is_accounted(
        self, orders: dict[uuid.UUID, Order], transfers: list[Transfer], items: list[RefundItem]
    ) -> None:
        listed: Counter[int] = Counter()
        for item in items:
            listed[item.transfer_id] += item.amount
        received: Counter[uuid.UUID] = Counter()
        credited: Counter[uuid.UUID] = Counter()
        for transfer in transfers:
            if not transfer.confirmed:
                continue
            order = orders.get(transfer.order_id) if transfer.order_id else None
            live = order is not None and order.status in (OrderStatus.PENDING, OrderStatus.PAID)
            if transfer.status == "matched" and live:
                assert 0 <= listed[transfer.id] < transfer.amount, "only a surplus is listed"
            else:
                assert listed[transfer.id] == transfer.amount, "listed whole for refund"
            if order is not None:
                received[order.id] += transfer.amount * SCALE
                if transfer.status == "matched":
                    credited[order.id] += (transfer.amount - listed[transfer.id]) * SCALE
        for order_id, order in orders.items():
            assert order.amount_received == received[order_id], "every linked unit is counted"
            target = order.amount.to_base_units(18)
            least = target - target * TOLERANCE_PER_MILLE // 1000
            if order.status == OrderStatus.PENDING:
                assert credited[order_id] < least, "a covered order is not left pending"
            elif order.status == OrderStatus.PAID and order.status_reason is None:
                assert credited[order_id] >= least, "the chain pays only a covered order"
                assert credited[order_id] <= target + MAX_STEP, "an excess is listed, not kept"


class CheckoutAcceptingLate(Checkout):
    ACCEPT_LATE = True


def runs(examples: int) -> settings:
    return settings(
        max_examples=examples,
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )


def case(machine: type[RuleBasedStateMachine], examples: int) -> Any:
    """A unittest class of its own for `machine` running `examples` (hypothesis hands out one
    `.TestCase` per machine, so it is subclassed rather than configured)."""
    return type(
        f"{machine.__name__}Runs{examples}", (machine.TestCase,), {"settings": runs(examples)}
    )


# `make test`: ten interleavings per setting (about fifteen seconds each); CI's `make test-slow`
# runs six times as many.
TestCheckout = case(Checkout, 10)
TestCheckoutAcceptingLate = case(CheckoutAcceptingLate, 10)
TestCheckoutDeep = pytest.mark.slow(case(Checkout, 60))
TestCheckoutAcceptingLateDeep = pytest.mark.slow(case(CheckoutAcceptingLate, 60))
