"""A EUR-priced order paid on a real chain (anvil + TestUSDT): the quoted USDT amount pays it, and
the `order_status_changed` webhook carries the order's currency and the locked quote."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from web3 import AsyncWeb3

from app.admin import service as admin
from app.chains import Blockchain, Coin
from app.db import unit_of_work, utcnow
from app.models import Deposit, Order, RefundItem
from app.orders.schemas import CreateOrderRequest
from app.orders.service import create_order, order_response, order_view
from app.payments.schemas import PaymentDetail
from app.payments.service import create_payment
from app.rates.book import RateBook
from devkit.chain.anvil import AnvilProcess, transfer_tokens
from tests.watchers.chainflow import ORDER_WEBHOOK, Harness, harness
from tests.watchers.conftest import PAYER, WALLET

RATES = {"fixed": {"USDT/EUR": "0.9250"}, "spread_percent": "0.5"}


async def _eur_order(h: Harness) -> tuple[Order, PaymentDetail]:
    """A 37.00 EUR order (its currency as a merchant may send it, lower-case) and its USDT
    payment on eth, quoted from the fixed rate."""
    async with unit_of_work(h.db) as session:
        order = await create_order(
            session,
            h.settings,
            CreateOrderRequest(
                order_id=f"eur-{uuid.uuid4().hex[:8]}",
                amount="37.00",
                currency="eur",
                webhook_url=ORDER_WEBHOOK,
            ),
        )
        detail = await create_payment(
            session,
            h.settings,
            order.id,
            Blockchain.ETH,
            Coin.USDT,
            RateBook.from_settings(h.settings),
        )
    return order, detail


async def test_eur_order_paid_on_chain_carries_its_fiat_value_into_the_webhook(
    database_url: str, anvil: AnvilProcess, w3: AsyncWeb3[Any], token: str
) -> None:
    async with harness(database_url, [anvil.http_url], token, confirmations=1, rates=RATES) as h:
        await h.drain()
        order, detail = await _eur_order(h)
        # 37.00 / 0.925 * 1.005 = 40.2 exactly
        assert detail.amount == "40.20" and detail.amount_base_units == "40200000"
        assert detail.quote is not None
        await transfer_tokens(w3, token, WALLET, int(detail.amount_base_units), sender=PAYER)
        await h.drain()
        assert await h.status(order.id) == "paid"
        events = await h.events()
        assert len(events) == 1
        payload = events[0].payload
        assert payload["status"] == "paid"
        assert payload["amount"] == "37.00"
        assert payload["currency"] == "EUR"
        assert payload["quote"] == detail.quote
        assert payload["quote"]["fiat_amount"] == "37.00"
        assert payload["quote"]["rate"] == "0.9250"
        assert payload["quote"]["source"] == "fixed"
        async with h.db() as session:
            deposit = await session.scalar(sa.select(Deposit).where(Deposit.order_id == order.id))
        assert deposit is not None and deposit.status == "matched"
        assert deposit.quote_spread_percent == "0.5"
        async with h.db() as session:  # the operator sees the fiat value beside the coin amount
            (transfer,) = await admin.list_transfers(session, h.settings, order_id=order.id)
            day = await admin.totals(session, h.settings, utcnow() - dt.timedelta(days=1), utcnow())
        assert transfer.value == "40.200000" and transfer.quote == detail.quote
        assert [(t.amount, t.fiat) for t in day] == [("40.200000", {"EUR": "37.00"})]


async def test_eur_order_paid_in_two_parts_at_its_locked_rate(
    database_url: str, anvil: AnvilProcess, w3: AsyncWeb3[Any], token: str
) -> None:
    """Issue 16 for a fiat price: a part converts to EUR through the deposit's locked quote, the
    remainder deposit keeps that rate, and the two parts pay exactly the price."""
    async with harness(database_url, [anvil.http_url], token, confirmations=1, rates=RATES) as h:
        await h.drain()
        order, detail = await _eur_order(h)
        assert detail.amount_base_units == "40200000"
        await transfer_tokens(w3, token, WALLET, 39_800_000, sender=PAYER)  # 1 % short
        await h.drain()
        assert await h.status(order.id) == "pending"
        async with h.db() as session:
            current = await session.get(Order, order.id)
            assert current is not None
            view = await order_view(session, h.settings, current)
        # 39.80 USDT * 37.00 / 40.20 = 36.6318… EUR
        assert (view["amount_received"], view["amount_due"]) == ("36.63", "0.37")
        assert view["payment_exceptions"] == ["partial"]
        remainder = view["payment"]
        assert remainder["amount_base_units"] == "400000"  # 0.37 EUR at 0.925 +0.5 %, in cents
        assert (
            remainder["quote"]["rate"] == "0.9250" and remainder["quote"]["fiat_amount"] == "37.00"
        )
        await transfer_tokens(w3, token, WALLET, 400_000, sender=PAYER)
        await h.drain()
        assert await h.status(order.id) == "paid"
        async with h.db() as session:
            paid = await session.get(Order, order.id)
            assert paid is not None
            wire = order_response(paid).model_dump(mode="json")
            items = list(await session.scalars(sa.select(RefundItem)))
        assert (wire["amount_received"], wire["amount_due"]) == ("37.00", "0")
        assert wire["payment_exceptions"] == ["partial"] and items == []
        [changed] = [e for e in await h.events() if e.event_type == "order_status_changed"]
        assert (changed.payload["currency"], changed.payload["amount_received"]) == ("EUR", "37.00")
