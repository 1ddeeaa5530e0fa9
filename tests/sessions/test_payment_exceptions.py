"""Issue 16 in Checkout Sessions' terms (both databases): a test-mode session's order paid in
two parts to the test wallet pool; the session object (retrieve, list, the completed event)
shows what its order received in minor units, and the remainder stays in the test pool."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from app.chains import Blockchain, Coin
from app.config import Settings
from app.db import unit_of_work
from app.models import Deposit, WebhookEvent
from app.payments.service import create_payment
from app.transfers.service import MatchRules
from tests.sessions.conftest import TEST_MODE_WALLETS, Keys, bearer, cart_body, create
from tests.transfers.helpers import seen, settle

TEST_WALLET = TEST_MODE_WALLETS[0]["address"]


async def _settle(sdb: Any, settings: Settings, amount: int, tx: int) -> None:
    async with unit_of_work(sdb) as session:
        rules = MatchRules.for_chain(settings, "eth")
        await settle(session, rules, [seen(tx, amount, to=TEST_WALLET)])


async def test_a_session_paid_in_two_parts(
    api: AsyncTestClient[Any], api_keys: Keys, sdb: Any, session_settings: Settings
) -> None:
    created = (await create(api, api_keys.test, cart_body())).json()
    assert (created["amount_received"], created["amount_due"]) == (0, 4398)
    assert created["payment_exceptions"] == []
    order_id = uuid.UUID(created["order_id"])
    async with unit_of_work(sdb) as session:
        detail = await create_payment(
            session, session_settings, order_id, Blockchain.ETH, Coin.USDT
        )
    assert detail.wallet_address == TEST_WALLET
    await _settle(sdb, session_settings, 43_500_000, 1)  # 43.50 of 43.98: 1.1 % short

    fetched = (
        await api.get(f"/api/v1/checkout/sessions/{created['id']}", headers=bearer(api_keys.test))
    ).json()
    assert (fetched["status"], fetched["payment_status"]) == ("open", "unpaid")
    assert (fetched["amount_received"], fetched["amount_due"]) == (4350, 48)
    assert fetched["payment_exceptions"] == ["partial"]
    async with sdb() as session:
        rest = await session.scalar(
            sa.select(Deposit).where(Deposit.order_id == order_id, Deposit.status == "active")
        )
    assert rest is not None
    assert (rest.wallet_address, rest.amount) == (TEST_WALLET, 480_000), "the test pool"

    await _settle(sdb, session_settings, rest.amount, 2)
    listed = (await api.get("/api/v1/checkout/sessions", headers=bearer(api_keys.test))).json()[
        "data"
    ]
    [mine] = [s for s in listed if s["id"] == created["id"]]
    assert (mine["status"], mine["payment_status"]) == ("complete", "paid")
    assert (mine["amount_received"], mine["amount_due"]) == (4398, 0)
    assert mine["payment_exceptions"] == ["partial"]
    async with sdb() as session:
        events = list(await session.scalars(sa.select(WebhookEvent)))
    [completed] = [e for e in events if e.event_type == "checkout.session.completed"]
    shown = completed.payload["data"]["object"]
    assert (shown["amount_received"], shown["amount_due"]) == (4398, 0)
    assert shown["payment_exceptions"] == ["partial"]
    assert not [e for e in events if e.event_type == "payment_exception"], "Ocrch orders only"
