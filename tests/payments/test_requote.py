"""Re-quotes on both databases: an expired quote gets a fresh deposit, the old one keeps paying
for `requote_grace_seconds`, then lingers; a quote nobody superseded is left alone."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from app.chains import Blockchain, Coin
from app.config import Settings, load_settings
from app.db import create_engine, create_sessionmaker, unit_of_work, utcnow
from app.errors import NoRate
from app.models import Deposit
from app.orders.schemas import CreateOrderRequest
from app.orders.service import create_order
from app.payments.quotes import lapse_superseded_quotes
from app.payments.service import create_payment
from app.rates.book import RateBook
from tests.conftest import settings_dict


@pytest.fixture
def fiat_settings(database_url: str) -> Settings:
    rates = {"fixed": {"USDT/EUR": "0.9200"}, "currencies": ["GBP"], "requote_grace_seconds": 60}
    return load_settings(None, **settings_dict(database_url, rates=rates))


async def test_requote_then_lapse(fiat_settings: Settings) -> None:
    engine = create_engine(fiat_settings.database_url)
    db = create_sessionmaker(engine)
    book = RateBook.from_settings(fiat_settings)

    async def pay(order_id: uuid.UUID) -> Any:
        async with unit_of_work(db) as session:
            return await create_payment(
                session, fiat_settings, order_id, Blockchain.ETH, Coin.USDT, book
            )

    async def age_quotes(order_id: uuid.UUID, seconds: int) -> None:
        async with unit_of_work(db) as session:
            await session.execute(
                sa.update(Deposit)
                .where(Deposit.order_id == order_id)
                .values(quote_expires_at=utcnow() - dt.timedelta(seconds=seconds))
            )

    async def statuses(order_id: uuid.UUID) -> list[str]:
        async with db() as session:
            rows = await session.scalars(
                sa.select(Deposit.status).where(Deposit.order_id == order_id).order_by(Deposit.id)
            )
            return list(rows)

    async def lapse() -> int:
        async with unit_of_work(db) as session:
            return await lapse_superseded_quotes(session, 60)

    orders = []
    async with unit_of_work(db) as session:
        for amount in ("9.20", "18.40"):
            order = await create_order(
                session,
                fiat_settings,
                CreateOrderRequest(
                    order_id=f"r-{uuid.uuid4().hex[:8]}",
                    amount=amount,
                    currency="EUR",
                    webhook_url="https://shop.example/hook",
                ),
            )
            orders.append(order.id)
    requoted, alone = orders
    first = await pay(requoted)
    assert first.amount == "10.00"
    assert (await pay(requoted)).amount_base_units == first.amount_base_units  # still locked
    await pay(alone)
    await age_quotes(requoted, 30)
    await age_quotes(alone, 3600)
    second = await pay(requoted)
    assert second.amount == "10.0001"  # fresh quote; the old amount is still reserved
    assert second.quote is not None and first.quote is not None
    assert second.quote["expires_at"] > int(utcnow().timestamp())  # the aged one is in the past
    assert await statuses(requoted) == ["active", "active"]
    assert await lapse() == 0  # the old quote expired 30 s ago: within the 60 s grace
    await age_quotes(requoted, 3600)  # both now; only the superseded one may lapse
    assert await lapse() == 1
    assert await statuses(requoted) == ["lingering", "active"]
    assert await statuses(alone) == ["active"]  # never superseded: still pays its order
    await engine.dispose()


async def test_unpriced_pair_answers_503(fiat_settings: Settings) -> None:
    engine = create_engine(fiat_settings.database_url)
    db = create_sessionmaker(engine)
    async with unit_of_work(db) as session:
        order = await create_order(
            session,
            fiat_settings,
            CreateOrderRequest(
                order_id="gbp-1", amount="5", currency="GBP", webhook_url="https://shop.example/h"
            ),
        )
        with pytest.raises(NoRate, match="no fresh rate for USDT/GBP"):
            await create_payment(
                session,
                fiat_settings,
                order.id,
                Blockchain.ETH,
                Coin.USDT,
                RateBook.from_settings(fiat_settings),
            )
    await engine.dispose()
