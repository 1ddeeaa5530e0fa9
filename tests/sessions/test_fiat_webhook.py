"""A Checkout Session priced in EUR (issue 17): its order is quoted when the shopper picks a coin,
and the `checkout.session.completed` webhook shows the locked `quote` whose `fiat_amount` is what
was priced, beside the session's `currency` and `amount_total`."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from app.chains import Blockchain, Coin
from app.config import Settings, load_settings
from app.db import create_engine, create_sessionmaker, unit_of_work
from app.main import create_app
from app.models import WebhookEvent
from app.orders import lifecycle
from app.orders.events import Actor
from app.orders.models import OrderStatus
from app.payments.service import create_payment
from app.rates.book import RateBook
from app.sessions import keys
from app.sessions.models import KeyMode
from tests.sessions.conftest import cart_body, create, session_settings_dict


@pytest.fixture
def eur_settings(database_url: str) -> Settings:
    rates = {"fixed": {"USDT/EUR": "0.9200"}}
    return load_settings(None, **session_settings_dict(database_url, rates=rates))


async def test_eur_session_webhook_carries_the_locked_quote(eur_settings: Settings) -> None:
    engine = create_engine(eur_settings.database_url)
    db = create_sessionmaker(engine)
    async with unit_of_work(db) as session:
        _, secret = await keys.create_api_key(session, KeyMode.TEST, "tests")
    line = {
        "price_data": {"currency": "eur", "product_data": {"name": "Mug"}, "unit_amount": 1250},
        "quantity": 1,
    }
    async with AsyncTestClient(app=create_app(eur_settings)) as api:
        made = await create(api, secret, cart_body(line_items=[line]))
    assert made.status_code == 201, made.text
    body: dict[str, Any] = made.json()
    assert (body["currency"], body["amount_total"]) == ("eur", 1250)
    order_id = uuid.UUID(body["order_id"])
    async with unit_of_work(db) as session:
        detail = await create_payment(
            session,
            eur_settings,
            order_id,
            Blockchain.ETH,
            Coin.USDT,
            RateBook.from_settings(eur_settings),
        )
    # 12.50 EUR / 0.92 EUR per USDT = 13.5869… → rounded up to 13.59 USDT (then made unique).
    assert detail.amount.startswith("13.59")
    async with unit_of_work(db) as session:
        moved = await lifecycle.move(
            session, order_id, OrderStatus.PAID, lifecycle.Request(by=Actor.OPERATOR)
        )
        assert moved is not None
    async with db() as session:
        [event] = list(
            await session.scalars(
                sa.select(WebhookEvent).where(
                    WebhookEvent.event_type == "checkout.session.completed"
                )
            )
        )
    shown = event.payload["data"]["object"]
    assert shown["currency"] == "eur" and shown["amount_total"] == 1250
    quote = shown["quote"]
    assert (quote["currency"], quote["fiat_amount"], quote["rate"], quote["source"]) == (
        "EUR",
        "12.50",
        "0.9200",
        "fixed",
    )
    await engine.dispose()


async def test_usd_session_webhook_has_no_quote(database_url: str) -> None:
    settings = load_settings(None, **session_settings_dict(database_url))
    engine = create_engine(settings.database_url)
    db = create_sessionmaker(engine)
    async with unit_of_work(db) as session:
        _, secret = await keys.create_api_key(session, KeyMode.TEST, "tests")
    async with AsyncTestClient(app=create_app(settings)) as api:
        made = (await create(api, secret, cart_body())).json()
    async with unit_of_work(db) as session:
        await lifecycle.move(
            session,
            uuid.UUID(made["order_id"]),
            OrderStatus.PAID,
            lifecycle.Request(by=Actor.OPERATOR),
        )
    async with db() as session:
        [event] = list(await session.scalars(sa.select(WebhookEvent)))
    assert "quote" not in event.payload["data"]["object"]  # usd is paid 1:1 in coin units
    await engine.dispose()
