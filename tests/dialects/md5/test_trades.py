"""The dialects in-process on both databases: envelopes and codes of the refusals, the same order
id again, and callbacks written for paid orders only (never for expired or cancelled ones)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from app.config import Settings, load_settings
from app.db import create_engine, create_sessionmaker, unit_of_work
from app.dialects.md5sign import epay_sign, epusdt_sign
from app.errors import DialectOrderUnpaid
from app.main import create_app
from app.orders import service as orders
from app.orders.models import Order, OrderStatus
from app.webhooks import service as webhooks
from app.webhooks.models import WebhookEvent
from tests.conftest import TEST_WALLET_ETH, settings_dict

TOKEN = "T" * 16 + uuid.uuid4().hex
KEY = "K" * 16 + uuid.uuid4().hex
NOTIFY = "https://shop.example.com/notify"


@pytest.fixture
def dialect_settings(database_url: str) -> Settings:
    return load_settings(
        None,
        **settings_dict(
            database_url,
            server={"public_url": "https://pay.example.com"},
            rates={"fixed": {"USDT/CNY": "7.20", "USDC/CNY": "7.20"}},
            epusdt={"enabled": True, "token": TOKEN},
            epay={"enabled": True, "pid": "1000", "key": KEY},
        ),
    )


@pytest.fixture
async def http(dialect_settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(app=create_app(dialect_settings)) as test_client:
        yield test_client


def signed(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "signature": epusdt_sign(body, TOKEN)}


async def create(http: AsyncTestClient[Any], **fields: Any) -> Any:
    body = {"order_id": "A1", "amount": 36, "notify_url": NOTIFY, **fields}
    reply = await http.post("/api/v1/order/create-transaction", json=signed(body))
    assert reply.status_code == 200
    return reply.json()


async def test_epusdt_create_and_codes(http: AsyncTestClient[Any]) -> None:
    made = await create(http, trade_type="usdt.erc20", fiat="cny")
    data = made["data"]
    assert (made["status_code"], made["message"]) == (200, "success")
    assert (data["amount"], data["actual_amount"], data["token"]) == ("36", "5.00", TEST_WALLET_ETH)
    assert data["payment_url"] == f"https://pay.example.com/pay/checkout-counter/{data['trade_id']}"
    assert (await create(http, trade_type="usdt.erc20", fiat="cny"))["data"] == data
    assert (await create(http, trade_type="usdt.erc20", amount=37))["status_code"] == 10002
    assert (await create(http, order_id="A2", trade_type="tron.trx"))["status_code"] == 400
    assert (await create(http, order_id="A3", trade_type="usdc.trc20"))["status_code"] == 10003
    assert (await create(http, order_id="A4", amount=0))["status_code"] == 10004
    assert (await create(http, order_id="A5", fiat="EUR"))["status_code"] == 10006
    no_sig = await http.post("/api/v1/order/create-transaction", json={"order_id": "x"})
    assert no_sig.json()["status_code"] == 401 and no_sig.json()["data"] is None
    garbage = await http.post("/api/v1/order/create-transaction", content=b"[1]")
    assert garbage.json()["status_code"] == 10009
    default = await create(http, order_id="A6")
    assert default["data"]["trade_type"] == "usdt.trc20"

    counter = await http.get(f"/pay/checkout-counter/{data['trade_id']}", follow_redirects=False)
    assert counter.status_code == 302
    page = counter.headers["location"]
    assert page.startswith("https://pay.example.com/checkout/?order_id=")
    assert f"&trade={data['trade_id']}&sig=" in page
    fresh = await http.get(f"/pay/checkout-counter/{data['trade_id']}/signature")
    assert fresh.headers["cache-control"] == "no-store"
    assert fresh.json()["signed_url"] == page.split("&sig=")[0]
    unknown = await http.get(f"/pay/checkout-counter/{uuid.uuid4().hex}/signature")
    assert unknown.status_code == 404
    cancel = await http.post(
        "/api/v1/order/cancel-transaction", json=signed({"trade_id": data["trade_id"]})
    )
    assert cancel.json()["data"] == {"trade_id": data["trade_id"]}
    again = await http.post(
        "/api/v1/order/cancel-transaction", json=signed({"trade_id": data["trade_id"]})
    )
    assert again.json()["status_code"] == 400
    status = await http.get(f"/pay/check-status/{data['trade_id']}")
    assert status.json()["data"]["status"] == 4


async def test_epay_envelopes(http: AsyncTestClient[Any]) -> None:
    params = {
        "pid": "1000",
        "out_trade_no": "E1",
        "notify_url": NOTIFY,
        "return_url": "https://shop.example.com/r",
        "name": "Item",
        "money": "7.20",
    }
    query = urlencode({**params, "sign": epay_sign(params, KEY), "sign_type": "MD5"})
    ok = await http.get(f"/submit.php?{query}", follow_redirects=False)
    assert ok.status_code == 302 and "/pay/checkout-counter/" in ok.headers["location"]
    posted = await http.post(
        "/submit.php",
        content=query.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert posted.headers["location"] == ok.headers["location"]
    wrong_pid = {**params, "pid": "2"}
    refused = await http.get(
        f"/submit.php?{urlencode({**wrong_pid, 'sign': epay_sign(wrong_pid, KEY)})}"
    )
    assert refused.status_code == 200 and refused.text == "unknown pid"
    bsc = {**params, "type": "usdt.bep20"}
    unsupported = await http.post("/mapi.php", data={**bsc, "sign": epay_sign(bsc, KEY)})
    assert unsupported.json() == {"code": -1, "msg": "unsupported type: usdt.bep20"}
    missing = await http.post("/mapi.php", data={"pid": "1000"})
    assert missing.json()["code"] == -1 and "missing parameter" in missing.json()["msg"]


async def test_callbacks_only_for_paid_orders(
    http: AsyncTestClient[Any], dialect_settings: Settings
) -> None:
    paid = (await create(http, order_id="P1"))["data"]["trade_id"]
    expired = (await create(http, order_id="P2"))["data"]["trade_id"]
    engine = create_engine(dialect_settings.database_url)
    try:
        sessions = create_sessionmaker(engine)
        async with unit_of_work(sessions) as session:
            await orders.change_status(session, uuid.UUID(hex=paid), to=OrderStatus.PAID)
            await session.execute(
                sa.update(Order)
                .where(Order.id == uuid.UUID(hex=expired))
                .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
            )
        async with unit_of_work(sessions) as session:
            await orders.expire_due_orders(session)
        async with unit_of_work(sessions) as session:
            rows = (await session.scalars(sa.select(WebhookEvent))).all()
        async with unit_of_work(sessions) as session:
            again = await webhooks.resend_order_status(session, uuid.UUID(hex=paid))
            assert (again.format, again.payload) == ("epusdt", rows[0].payload)
            with pytest.raises(DialectOrderUnpaid):
                await webhooks.resend_order_status(session, uuid.UUID(hex=expired))
    finally:
        await engine.dispose()
    assert [(row.order_id.hex if row.order_id else None, row.format) for row in rows] == [
        (paid, "epusdt")
    ]
    payload = rows[0].payload
    assert (payload["trade_id"], payload["order_id"], payload["status"]) == (paid, "P1", 2)
    assert payload["amount"] == "36" and payload["block_transaction_id"] == ""
