"""An Epusdt payment URL in a real browser (Debian's chromium): it leads to the hosted page for the
trade's order, which offers the reserved amount; a page whose signature has gone stale renews it
at the trade's own refresh route (no merchant refresh endpoint is configured)."""

from __future__ import annotations

import time
import uuid
from urllib.parse import quote

import httpx
import pytest
from playwright.async_api import Browser, expect

from app.security.signatures import sign_url
from tests.dialects.md5.test_clients import epusdt_create
from tests.e2e import conftest as e2e
from tests.e2e.conftest import open_tab
from tests.e2e.test_checkout_page import choose
from tests.stack import Stack
from tests.watchers.conftest import WALLET

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(240)]

browser = e2e.browser


async def new_trade(stack: Stack) -> dict[str, str]:
    order_id = f"BR{uuid.uuid4().hex[:10]}"
    request = {
        "order_id": order_id,
        "amount": 36,
        "trade_type": "usdt.erc20",
        "notify_url": stack.hooks.url("/browser/notify"),
        "redirect_url": "http://shop.test/thanks",
    }
    async with httpx.AsyncClient(timeout=30) as http:
        created = await epusdt_create(http, stack.server.url, request)
    assert created["status_code"] == 200, created
    data: dict[str, str] = created["data"]
    return data


async def test_payment_url_opens_the_hosted_page(stack: Stack, browser: Browser) -> None:
    data = await new_trade(stack)
    tab = await open_tab(browser)
    page = tab.page
    await page.goto(data["payment_url"])
    assert page.url.startswith(f"{stack.server.url}/checkout/?order_id=")
    assert f"&trade={data['trade_id']}" in page.url
    detail = await choose(page)
    assert (detail["amount"], detail["wallet_address"]) == (data["actual_amount"], WALLET)
    await tab.context.close()
    assert not tab.errors, tab.errors


async def test_a_stale_page_signature_is_renewed_at_the_trade(
    stack: Stack, browser: Browser
) -> None:
    data = await new_trade(stack)
    async with httpx.AsyncClient() as http:
        counter = await http.get(data["payment_url"])
    signed = counter.headers["location"].split("&sig=")[0]
    stale = sign_url(stack.merchant_secret, signed, int(time.time()) - 3600)
    tab = await open_tab(browser)
    page = tab.page
    refreshed: list[str] = []
    page.on("request", lambda r: refreshed.append(r.url) if "/signature?" in r.url else None)
    await page.goto(f"{signed}&sig={quote(stale, safe='')}")
    await expect(page.get_by_test_id("status")).to_contain_text("pending")
    assert refreshed and f"/pay/checkout-counter/{data['trade_id']}/signature?" in refreshed[0]
    await tab.context.close()
    assert not tab.errors, tab.errors
