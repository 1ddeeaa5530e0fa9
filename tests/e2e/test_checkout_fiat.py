"""A EUR-priced order on the hosted page in a real browser: the price in euros, the coin amount
quoted at the fixed rate with its source, the re-quote when the lock ends, and the payment."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from devkit.chain.anvil import mine, transfer_tokens
from tests.e2e.conftest import FIAT_QUOTE_TTL, Chain, Shop, Tab
from tests.e2e.test_checkout_page import CHAIN_WAIT, choose
from tests.watchers.conftest import PAYER, WALLET

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(240)]


async def test_eur_order_shows_its_quote_requotes_and_is_paid(
    shop: Shop, tab: Tab, chain: Chain
) -> None:
    page = tab.page
    order = await shop.create_order("10.00", currency="EUR")
    assert order["currency"] == "EUR"
    await page.goto(shop.page_url(order["order_id"]))
    await expect(page.get_by_test_id("status")).to_contain_text("pending")
    detail = await choose(page)
    assert detail["amount"] == "10.87"  # 10.00 / 0.92 = 10.869… → 10.87
    quote = page.get_by_test_id("quote")
    await expect(quote).to_be_visible()
    await expect(quote).to_contain_text("10.00 EUR")
    await expect(quote).to_contain_text("0.9200 EUR/USDT")
    await expect(quote).to_contain_text("fixed")
    await expect(page.locator("#due")).to_have_text("10.00 EUR")

    # When the lock ends the page asks again: a fresh quote, a fresh unique amount (the first
    # one stays reserved for a transfer already on its way).
    async with page.expect_response(
        lambda r: r.url.endswith("/payment"), timeout=(FIAT_QUOTE_TTL + 10) * 1000
    ) as again:
        pass
    fresh = await (await again.value).json()
    assert fresh["quote"]["expires_at"] > detail["quote"]["expires_at"]
    assert fresh["amount"] == "10.8701"
    await expect(page.get_by_test_id("amount")).to_have_text("10.8701")

    await transfer_tokens(
        chain.w3, chain.token, WALLET, int(fresh["amount_base_units"]), sender=PAYER
    )
    status = page.get_by_test_id("status")
    await expect(status).to_contain_text("detected", timeout=CHAIN_WAIT)
    await mine(chain.w3, 1)
    await expect(status).to_contain_text("paid", timeout=CHAIN_WAIT)
    assert not tab.errors, tab.errors
