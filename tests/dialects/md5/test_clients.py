"""An Epusdt client and an Epay client, transcribed request for request from shared/epusdt.md,
against a real `serve` with a real payment on anvil: create, open the payment URL, pay, receive
the notify, verify its signature with the scheme's own algorithm, reply, see no further retries;
and the refusals (bad signature, unknown order, duplicate order id) in each protocol's envelope.

The clients sign with their own code (as a shop plugin would), not with `app.dialects`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from app.money import Amount
from tests.dialects.md5.conftest import EPAY_KEY, EPAY_PID, EPUSDT_TOKEN
from tests.stack import Stack
from tests.watchers.conftest import WALLET

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(240)]


def epusdt_signature(params: dict[str, Any], token: str) -> str:
    """What a PHP plugin does: ksort, skip empty, `k=v` joined by `&`, token appended, md5."""
    parts = []
    for key in sorted(params):
        value = params[key]
        if key == "signature" or value is None or value == "":
            continue
        if isinstance(value, float | Decimal):
            value = format(Decimal(repr(float(value))).normalize(), "f")
        parts.append(f"{key}={value}")
    return hashlib.md5(("&".join(parts) + token).encode(), usedforsecurity=False).hexdigest()


def epay_signature(params: dict[str, str], key: str) -> str:
    kept = sorted((k, v) for k, v in params.items() if k not in ("sign", "sign_type") and v)
    return hashlib.md5(
        ("&".join(f"{k}={v}" for k, v in kept) + key).encode(), usedforsecurity=False
    ).hexdigest()


async def pay(stack: Stack, address: str, amount: str) -> None:
    assert address == WALLET
    await stack.pay(WALLET, Amount.parse(amount).to_base_units(6))


async def open_payment_url(http: httpx.AsyncClient, url: str, base: str) -> None:
    """The payment URL leads (302) to the hosted page with a signed URL for the order."""
    first = await http.get(url)
    if first.status_code == 302 and "/pay/checkout-counter/" in first.headers["location"]:
        first = await http.get(first.headers["location"])
    assert first.status_code == 302, first.text
    page = first.headers["location"]
    assert page.startswith(f"{base}/checkout/?order_id=") and "&sig=" in page
    html = await http.get(page)
    assert html.status_code == 200 and "text/html" in html.headers["content-type"]


async def epusdt_create(http: httpx.AsyncClient, base: str, body: dict[str, Any]) -> Any:
    body = {**body, "signature": epusdt_signature(body, EPUSDT_TOKEN)}
    reply = await http.post(f"{base}/api/v1/order/create-transaction", json=body)
    assert reply.status_code == 200
    return reply.json()


async def no_more_requests(stack: Stack, path: str, seen: int, wait: float = 3.0) -> None:
    await asyncio.sleep(wait)
    assert len(stack.hooks.to(path)) == seen


async def test_epusdt_client(stack: Stack) -> None:
    base = stack.server.url
    order_id = f"ORD{uuid.uuid4().hex[:12]}"
    notify_path = "/epusdt/notify"
    stack.hooks.replies[notify_path] = [(200, b"fail"), (200, b"ok")]
    request = {
        "order_id": order_id,
        "amount": 72.0,
        "trade_type": "usdt.erc20",
        "name": "VIP 月卡",
        "notify_url": stack.hooks.url(notify_path),
        "redirect_url": f"https://shop.example.com/order/{order_id}",
        "address": "",
        "timeout": 1200,
    }
    async with httpx.AsyncClient(timeout=30) as http:
        created = await epusdt_create(http, base, request)
        assert created["status_code"] == 200, created
        data = created["data"]
        assert (data["order_id"], data["actual_amount"], data["token"]) == (
            order_id,
            "10.00",
            WALLET,
        )
        assert data["status"] == 1 and data["fiat"] == "CNY" and data["trade_type"] == "usdt.erc20"
        assert data["payment_url"] == f"{base}/pay/checkout-counter/{data['trade_id']}"
        alias = await http.get(f"{base}/pay/checkout/{data['trade_id']}")  # BEpusdt's own path
        assert alias.status_code == 302 and "/checkout/" in alias.headers["location"]
        assert 0 < data["expiration_time"] <= 1200
        uuid.UUID(created["request_id"])

        again = await epusdt_create(http, base, request)
        assert again["data"]["trade_id"] == data["trade_id"]
        other = await epusdt_create(http, base, {**request, "amount": 80})
        assert (other["status_code"], other["data"]) == (10002, None)

        bad = {**request, "order_id": "X1", "signature": "0" * 32}
        refused = (await http.post(f"{base}/api/v1/order/create-transaction", json=bad)).json()
        assert (refused["status_code"], refused["data"]) == (401, None) and refused["message"]

        unknown = {"trade_id": uuid.uuid4().hex}
        unknown["signature"] = epusdt_signature(unknown, EPUSDT_TOKEN)
        cancel = await http.post(f"{base}/api/v1/order/cancel-transaction", json=unknown)
        assert (cancel.status_code, cancel.json()["status_code"]) == (200, 10008)

        await open_payment_url(http, data["payment_url"], base)
        await pay(stack, data["token"], data["actual_amount"])

        first, second = await stack.hooks.wait_for_path(notify_path, 2)
        assert first.method == second.method == "POST" and first.body == second.body
        notice = json.loads(second.body, parse_float=Decimal)
        assert notice["signature"] == epusdt_signature(notice, EPUSDT_TOKEN)
        assert (notice["trade_id"], notice["order_id"], notice["status"]) == (
            data["trade_id"],
            order_id,
            2,
        )
        assert notice["amount"] == 72 and notice["actual_amount"] == "10.00"
        assert notice["token"] == WALLET and notice["block_transaction_id"].startswith("0x")
        await no_more_requests(stack, notify_path, 2)

        status = await http.get(f"{base}/pay/check-status/{data['trade_id']}")
        assert status.json()["data"] == {"trade_id": data["trade_id"], "status": 2}
        info = await http.post(f"{base}/api/v1/pay/info", json={"trade_id": data["trade_id"]})
        assert info.json()["data"]["status"] == 2
        paid = await epusdt_create(http, base, request)
        assert paid["data"]["status"] == 2 and paid["data"]["trade_id"] == data["trade_id"]


async def test_epay_client(stack: Stack) -> None:
    base = stack.server.url
    out_trade_no = f"EP{uuid.uuid4().hex[:12]}"
    notify_path = "/epay/notify"
    stack.hooks.replies[notify_path] = [(200, b"fail"), (200, b"success")]
    params = {
        "pid": EPAY_PID,
        "type": "alipay",
        "out_trade_no": out_trade_no,
        "notify_url": stack.hooks.url(notify_path),
        "return_url": "https://shop.example.com/epay/return",
        "name": "Test Item",
        "money": "36.00",
        "device": "pc",
        "param": "",
    }
    signed = {**params, "sign": epay_signature(params, EPAY_KEY), "sign_type": "MD5"}
    async with httpx.AsyncClient(timeout=30) as http:
        submitted = await http.get(f"{base}/submit.php?{urlencode(signed)}")
        assert submitted.status_code == 302, submitted.text
        payment_url = submitted.headers["location"]
        trade_no = payment_url.rsplit("/", 1)[1]
        assert payment_url == f"{base}/pay/checkout-counter/{trade_no}"

        mapi = (await http.post(f"{base}/mapi.php", data=signed)).json()
        assert (mapi["code"], mapi["trade_no"], mapi["payurl"]) == (1, trade_no, payment_url)

        tampered = {**signed, "money": "1.00"}
        refused = await http.get(f"{base}/submit.php?{urlencode(tampered)}")
        assert refused.status_code == 200 and "text/plain" in refused.headers["content-type"]
        assert "sign" in refused.text.lower() or "签名" in refused.text
        bad = (await http.post(f"{base}/mapi.php", data=tampered)).json()
        assert bad["code"] == -1 and bad["msg"]
        duplicate = {**params, "money": "40.00"}
        duplicate["sign"] = epay_signature(duplicate, EPAY_KEY)
        dup = (await http.post(f"{base}/mapi.php", data=duplicate)).json()
        assert dup["code"] == -1 and "already exists" in dup["msg"]
        unknown = await http.get(f"{base}/pay/checkout-counter/{uuid.uuid4().hex}")
        assert unknown.status_code == 404

        before = await http.get(f"{base}/pay/return/{trade_no}")
        assert before.headers["location"] == params["return_url"]

        await open_payment_url(http, payment_url, base)
        info = (await http.post(f"{base}/api/v1/pay/info", json={"trade_id": trade_no})).json()
        # /pay/info is Epusdt's; an Epay order is read through the page, not here.
        assert info["status_code"] == 400
        await pay(stack, WALLET, "5.00")

        first, second = await stack.hooks.wait_for_path(notify_path, 2)
        assert first.method == second.method == "GET"
        notice = dict(parse_qsl(urlsplit(second.path).query, keep_blank_values=True))
        assert "" not in notice.values()
        assert notice["sign"] == epay_signature(notice, EPAY_KEY) and notice["sign_type"] == "MD5"
        assert notice == {
            "pid": EPAY_PID,
            "trade_no": trade_no,
            "out_trade_no": out_trade_no,
            "type": "alipay",
            "name": "Test Item",
            "money": "36.00",
            "trade_status": "TRADE_SUCCESS",
            "sign": notice["sign"],
            "sign_type": "MD5",
        }
        await no_more_requests(stack, notify_path, 2)

        back = await http.get(f"{base}/pay/return/{trade_no}")
        returned = dict(parse_qsl(urlsplit(back.headers["location"]).query))
        assert returned == notice
