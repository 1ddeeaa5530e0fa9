"""Orders priced in EUR paid in one batch, on both databases: each `order_status_changed` carries
its own locked quote, and the batch reads the deposits behind the quotes with one statement, not
one per order (subscribers run once per batch with a constant number of statements)."""

from __future__ import annotations

import sqlalchemy as sa

from app.chains import Blockchain, Coin
from app.config import load_settings
from app.db import create_engine, create_sessionmaker, unit_of_work
from app.models import WebhookEvent
from app.orders.schemas import CreateOrderRequest
from app.orders.service import create_order
from app.payments.service import create_payment
from app.rates.book import RateBook
from app.transfers.service import MatchRules, confirm, ingest
from tests.conftest import settings_dict
from tests.transfers.helpers import seen, statements

PRICES = ("12.50", "4.00", "19.99", "7.25", "100.00")


async def test_a_batch_of_eur_orders_gets_each_quote_in_one_read(database_url: str) -> None:
    settings = load_settings(
        None, **settings_dict(database_url, rates={"fixed": {"USDT/EUR": "0.9200"}})
    )
    engine = create_engine(database_url)
    db = create_sessionmaker(engine)
    try:
        book = RateBook.from_settings(settings)
        orders: dict[str, tuple[str, int]] = {}
        async with unit_of_work(db) as session:
            for n, price in enumerate(PRICES):
                request = CreateOrderRequest(
                    order_id=f"eur-{n}",
                    amount=price,
                    currency="EUR",
                    webhook_url="https://shop.example/h",
                )
                order = await create_order(session, settings, request)
                detail = await create_payment(
                    session, settings, order.id, Blockchain.ETH, Coin.USDT, book
                )
                orders[str(order.id)] = (price, int(detail.amount_base_units))
        rules = MatchRules.for_chain(settings, "eth")
        paying = [seen(n, units) for n, (_, units) in enumerate(orders.values(), start=1)]
        async with unit_of_work(db) as session:
            new = await ingest(session, rules, paying, 200)
        with statements(engine) as executed:
            async with unit_of_work(db) as session:
                assert await confirm(session, rules, [t.id for t in new]) == len(PRICES)
        async with db() as session:
            hooks = list(
                await session.scalars(
                    sa.select(WebhookEvent).where(WebhookEvent.event_type == "order_status_changed")
                )
            )
    finally:
        await engine.dispose()
    assert len(hooks) == len(PRICES)
    for hook in hooks:
        price, _ = orders[hook.payload["order_id"]]
        assert hook.payload["status"] == "paid" and hook.payload["currency"] == "EUR"
        assert hook.payload["quote"]["fiat_amount"] == price, hook.payload
        assert hook.payload["quote"]["rate"] == "0.9200"
    deposit_reads = [s for s in executed if s.startswith("SELECT") and "FROM DEPOSITS" in s]
    assert len(deposit_reads) <= 2, deposit_reads
