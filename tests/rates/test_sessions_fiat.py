"""Checkout Sessions priced in a configured fiat currency: the order carries the currency and is
quoted per coin at the fixed rate; unconfigured currencies and mixed carts are refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from app.config import load_settings
from app.main import create_app
from app.models import Order
from tests.conftest import ADMIN_SECRET
from tests.helpers import checkout_url, user_headers
from tests.sessions.conftest import Keys, api_keys, cart_body, create, sdb, session_settings_dict

__all__ = ["api_keys", "sdb"]  # fixtures reused from the sessions suite

RATES = {"fixed": {"USDT/EUR": "0.9200", "USDT/JPY": "150"}, "usd_peg": True}


@pytest.fixture
def session_settings(database_url: str) -> Any:
    return load_settings(None, **session_settings_dict(database_url, rates=RATES))


@pytest.fixture
async def api(session_settings: Any) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(app=create_app(session_settings)) as client:
        yield client


def line(currency: str, unit_amount: int, quantity: int = 1) -> dict[str, Any]:
    return {
        "price_data": {
            "currency": currency,
            "product_data": {"name": "Mug"},
            "unit_amount": unit_amount,
        },
        "quantity": quantity,
    }


async def test_eur_session_makes_a_eur_order_quoted_at_the_fixed_rate(
    api: AsyncTestClient[Any], api_keys: Keys, sdb: Any
) -> None:
    answer = await create(api, api_keys.test, cart_body(line_items=[line("eur", 1150, 2)]))
    assert answer.status_code == 201, answer.text
    session = answer.json()
    assert session["currency"] == "eur" and session["amount_total"] == 2300
    async with sdb() as db:
        order = await db.scalar(sa.select(Order).where(Order.merchant_order_id == session["id"]))
    assert order is not None
    assert (order.currency, str(order.amount)) == ("EUR", "23.00")
    paid = await api.post(
        f"/api/v1/user/orders/{order.id}/payment",
        json={"blockchain": "eth", "stablecoin": "USDT"},
        headers=user_headers(checkout_url(str(order.id))),
    )
    assert paid.status_code == 201, paid.text
    assert paid.json()["amount"] == "25.00"  # 23.00 / 0.92
    assert paid.json()["quote"]["source"] == "fixed"
    admin = {"Ocrch-Admin-Authorization": ADMIN_SECRET}
    orders = (await api.get("/api/v1/admin/orders", headers=admin)).json()
    listed = next(o for o in orders if o["order_id"] == str(order.id))
    assert (listed["amount"], listed["currency"]) == ("23.00", "EUR")
    deposits = (
        await api.get("/api/v1/admin/deposits", params={"order_id": str(order.id)}, headers=admin)
    ).json()
    assert deposits[0]["value"] == "25.000000"
    assert (
        deposits[0]["quote"]["fiat_amount"] == "23.00" and deposits[0]["quote"]["rate"] == "0.9200"
    )


async def test_jpy_session_uses_whole_yen(
    api: AsyncTestClient[Any], api_keys: Keys, sdb: Any
) -> None:
    answer = await create(api, api_keys.test, cart_body(line_items=[line("jpy", 1500)]))
    assert answer.status_code == 201, answer.text
    async with sdb() as db:
        order = await db.scalar(
            sa.select(Order).where(Order.merchant_order_id == answer.json()["id"])
        )
    assert order is not None and (order.currency, str(order.amount)) == ("JPY", "1500")


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([line("gbp", 100)], "accepted: eur, jpy, usd"),
        ([line("eur", 100), line("usd", 100)], "same currency"),
    ],
)
async def test_refused_currencies(
    api: AsyncTestClient[Any], api_keys: Keys, items: list[dict[str, Any]], message: str
) -> None:
    answer = await create(api, api_keys.test, cart_body(line_items=items))
    assert answer.status_code == 400
    assert message in answer.text
