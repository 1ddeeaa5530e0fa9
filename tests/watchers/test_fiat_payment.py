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
from app.models import Deposit
from app.orders.schemas import CreateOrderRequest
from app.orders.service import create_order
from app.payments.service import create_payment
from app.rates.book import RateBook
from devkit.chain.anvil import AnvilProcess, transfer_tokens
from tests.watchers.chainflow import ORDER_WEBHOOK, harness
from tests.watchers.conftest import PAYER, WALLET

RATES = {"fixed": {"USDT/EUR": "0.9250"}, "spread_percent": "0.5"}


async def test_eur_order_paid_on_chain_carries_its_fiat_value_into_the_webhook(
    database_url: str, anvil: AnvilProcess, w3: AsyncWeb3[Any], token: str
) -> None:
    async with harness(database_url, [anvil.http_url], token, confirmations=1, rates=RATES) as h:
        await h.drain()
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
