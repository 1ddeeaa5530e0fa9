"""The `payment_exception` webhook delivered to a real receiver on loopback, verified the way a
merchant would from the docs (independently of our signing code), both databases."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from app.chains import Blockchain, Coin
from app.db import unit_of_work, utcnow
from app.http import Services
from app.models import WebhookEvent
from app.orders.schemas import CreateOrderRequest
from app.orders.service import create_order
from app.payments.service import create_payment
from app.transfers.observed import ObservedTransfer
from app.transfers.service import MatchRules, confirm, ingest
from tests.conftest import K1, TEST_WALLET_ETH
from tests.webhooks.test_sender import Receiver, independent_verify, make_services, run_until


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start()
    yield server
    await server.stop()


async def _overpaid_order(services: Services, url: str) -> tuple[Any, str]:
    """An order for 12.3401 USDT paid with 12.35 (a shopper rounding up), settled at depth."""
    settings = services.settings
    async with unit_of_work(services.sessionmaker) as session:
        order = await create_order(
            session,
            settings,
            CreateOrderRequest(order_id="ord_16", amount="12.3401", webhook_url=url),
        )
        await create_payment(session, settings, order.id, Blockchain.ETH, Coin.USDT)
    rules = MatchRules.for_chain(settings, "eth")
    tx_hash = "0x" + "ab" * 32
    seen = ObservedTransfer(
        blockchain=Blockchain.ETH,
        token=Coin.USDT,
        contract_address="0xtoken",
        tx_hash=tx_hash,
        log_index=3,
        from_address="0x00000000000000000000000000000000000000aa",
        to_address=TEST_WALLET_ETH,
        amount=12_350_000,
        block_number=7,
        block_hash="0x" + "cd" * 32,
        block_time=utcnow(),
    )
    async with unit_of_work(services.sessionmaker) as session:
        new = await ingest(session, rules, [seen], 7)
        await confirm(session, rules, [t.id for t in new])
    return order.id, tx_hash


async def test_payment_exception_is_signed_like_the_order_webhooks(
    database_url: str, receiver: Receiver
) -> None:
    services = make_services(database_url)
    try:
        order_id, tx_hash = await _overpaid_order(services, receiver.url)
        await run_until(services, lambda: len(receiver.requests) >= 2)
        async with services.sessionmaker() as session:
            rows = list(await session.scalars(sa.select(WebhookEvent)))
    finally:
        await services.engine.dispose()
    assert sorted(r.event_type for r in rows) == ["order_status_changed", "payment_exception"]
    by_type = {json.loads(r["body"])["event_type"]: r for r in receiver.requests}
    request = by_type["payment_exception"]
    body = json.loads(request["body"])
    assert list(body) == [
        "event_type",
        "order_id",
        "merchant_order_id",
        "kind",
        "amount",
        "blockchain",
        "stablecoin",
        "tx_hash",
        "timestamp",
    ]
    assert body == {
        "event_type": "payment_exception",
        "order_id": str(order_id),
        "merchant_order_id": "ord_16",
        "kind": "overpaid",
        "amount": "12.350000",
        "blockchain": "eth",
        "stablecoin": "USDT",
        "tx_hash": tx_hash,
        "timestamp": body["timestamp"],
    }
    header = request["headers"]["Ocrch-Signature"]
    assert independent_verify(K1, header, request["body"], int(time.time()))
    assert not independent_verify("another-secret", header, request["body"], int(time.time()))
    assert int(header.split(".")[0]) == body["timestamp"]

    changed = json.loads(by_type["order_status_changed"]["body"])
    assert list(changed)[:5] == ["event_type", "order_id", "merchant_order_id", "status", "amount"]
    assert (changed["status"], changed["amount"]) == ("paid", "12.3401")
    assert (changed["amount_received"], changed["amount_due"]) == ("12.3500", "0")
    assert changed["payment_exceptions"] == ["overpaid"]
    assert list(changed)[-1] == "timestamp"
    header = by_type["order_status_changed"]["headers"]["Ocrch-Signature"]
    assert independent_verify(K1, header, by_type["order_status_changed"]["body"], int(time.time()))
