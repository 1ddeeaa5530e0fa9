"""Seed 000's integration flow, end to end: a merchant backend creates a session with line items and
an `Idempotency-Key` (a key made with `stablecheckout admin api-keys create`), a real browser
(Debian's chromium) follows `session.url`, the shopper pays on a real chain (anvil), lands on
`success_url` with the session id, the backend GETs the session (complete), and the session
webhook arrives, verified with stdlib hmac. The server is a real `stablecheckout serve` whose
`[merchant].allowed_origins` does not list its own origin: session links need no such setup.
Also: a donation chosen on the amount form, and a page whose signature expired renewing it at
the session link."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.async_api import Browser, Route, expect

from app.security.signatures import sign_url
from devkit.chain.anvil import mine, transfer_tokens
from devkit.hooks import HookReceiver
from tests.conftest import K1, free_port, write_config
from tests.e2e import conftest as e2e
from tests.e2e.conftest import Chain, Shop, Tab, open_tab
from tests.e2e.test_checkout_page import CHAIN_WAIT, choose
from tests.in_process_cli import create_api_key
from tests.sessions.conftest import session_settings_dict
from tests.watchers.conftest import PAYER, WALLET

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(240)]

# The browser tests' module fixtures: one anvil chain and one chromium for this module.
chain = e2e.chain
browser = e2e.browser

STORE = "https://shop.test"
"""The merchant's site: never reached, Playwright answers for it."""
HOOK_SECRET = "whsec_Bf3Nq7Lx1Zk5Ws9Hd2Mr6Tp0Vc4Yg8Ja"


def verify_webhook(header: str, body: bytes, secret: str, tolerance: int = 300) -> bool:
    """The receiver's check, written from the docs with the standard library only."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp = int(parts["t"])
    signed = f"{timestamp}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"]) and abs(time.time() - timestamp) <= tolerance


@dataclass
class Merchant:
    shop: Shop
    secret_key: str
    hooks: HookReceiver

    async def create_session(self, body: dict[str, Any], **headers: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.shop.origin, timeout=10) as client:
            return await client.post(
                "/api/v1/checkout/sessions",
                json=body,
                headers={"Authorization": f"Bearer {self.secret_key}", **headers},
            )

    async def retrieve(self, session_id: str) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.shop.origin, timeout=10) as client:
            response = await client.get(
                f"/api/v1/checkout/sessions/{session_id}",
                headers={"Authorization": f"Bearer {self.secret_key}"},
            )
        assert response.status_code == 200, response.text
        session: dict[str, Any] = response.json()
        return session


@pytest.fixture(scope="module")
def merchant(chain: Chain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Merchant]:
    tmp_path = tmp_path_factory.mktemp("sessions-shop")
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"
    hooks = HookReceiver()
    hooks.start()
    data = session_settings_dict(
        database_url,
        merchant={"allowed_origins": []},
        chains={
            "eth": {
                "rpc_urls": [chain.node.ws_url],
                "confirmations": 2,
                "chain_id": 31337,
                "tokens": {"USDT": {"contract": chain.token, "decimals": 6}},
            }
        },
        checkout_sessions={
            "redirect_allowed_hosts": ["shop.test"],
            "webhook_url": hooks.url("/webhooks/stablecheckout"),
            "webhook_secret": HOOK_SECRET,
        },
        webhooks={"allow_private_targets": True},
        security={"user_rate_limit_per_minute": 100_000},
    )
    # The sessions below are made with a test key: they pay a test-mode wallet.
    data["wallets"] = [
        {"blockchain": "eth", "address": WALLET, "enabled_coins": ["USDT"], "test": True}
    ]
    config = write_config(tmp_path / "config.toml", data)
    shop = Shop(free_port(), config, database_url, tmp_path / "serve.log")
    shop.start()
    yield Merchant(shop, create_api_key(config, database_url, "--test"), hooks)
    shop.stop()
    hooks.stop()


async def store_tab(browser: Browser) -> Tab:
    tab = await open_tab(browser)

    async def answer(route: Route) -> None:
        await route.fulfill(
            status=200, content_type="text/html", body="<!doctype html><h1>Back at the store</h1>"
        )

    await tab.page.route(f"{STORE}/**", answer)
    return tab


def cart(**extra: Any) -> dict[str, Any]:
    return {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": "usd",
                    "product_data": {"name": "T-shirt", "description": "Soft cotton"},
                    "unit_amount": 1999,
                },
                "quantity": 2,
            }
        ],
        "success_url": f"{STORE}/orders/42/success?session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"{STORE}/cart",
        "metadata": {"order_id": "42"},
        **extra,
    }


async def test_seed_000_integration_flow(
    merchant: Merchant,
    browser: Browser,
    chain: Chain,
) -> None:
    # 1. Backend: create a session (retried once, as a network hiccup would).
    first = await merchant.create_session(cart(), **{"Idempotency-Key": "order-42"})
    assert first.status_code == 201, first.text
    retry = await merchant.create_session(cart(), **{"Idempotency-Key": "order-42"})
    assert retry.json()["id"] == first.json()["id"]
    session = first.json()
    assert session["amount_total"] == 3998 and session["status"] == "open"

    # 2. Frontend: redirect to session.url; the shopper pays there.
    tab = await store_tab(browser)
    page = tab.page
    await page.goto(session["url"])
    assert "/checkout/?order_id=" in page.url and f"session={session['id']}" in page.url
    status = page.get_by_test_id("status")
    await expect(status).to_contain_text("pending")
    detail = await choose(page)
    assert detail["amount"] == "39.98"
    await transfer_tokens(
        chain.w3, chain.token, WALLET, int(detail["amount_base_units"]), sender=PAYER
    )
    await expect(status).to_contain_text("detected", timeout=CHAIN_WAIT)
    await mine(chain.w3, 1)
    await expect(status).to_contain_text("paid", timeout=CHAIN_WAIT)

    # 3. Back at the store's success_url, with the session id filled in.
    success = f"{STORE}/orders/42/success?session_id={session['id']}"
    await page.wait_for_url(success, timeout=15_000)
    await expect(page.get_by_role("heading", name="Back at the store")).to_be_visible()
    retrieved = await merchant.retrieve(session["id"])
    assert retrieved["status"] == "complete" and retrieved["payment_status"] == "paid"
    assert retrieved["url"] is None and retrieved["metadata"] == {"order_id": "42"}

    # 4. The webhook, verified independently.
    deadline = time.monotonic() + 15
    while not merchant.hooks.events("checkout.session.completed") and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    [(headers, body)] = merchant.hooks.events("checkout.session.completed")
    assert verify_webhook(headers["stablecheckout-signature"], body, HOOK_SECRET)
    event = json.loads(body)
    assert event["data"]["object"]["id"] == session["id"]
    assert event["data"]["object"]["status"] == "complete"
    assert event["data"]["object"]["metadata"]["order_id"] == "42"
    assert "ocrch-signature" not in headers
    await tab.context.close()
    assert not tab.errors, tab.errors


async def test_donation_in_the_browser(
    merchant: Merchant,
    browser: Browser,
    chain: Chain,
) -> None:
    created = await merchant.create_session(
        {
            "mode": "donation",
            "amount_min": 100,
            "amount_max": 50_000,
            "success_url": f"{STORE}/thanks?session_id={{CHECKOUT_SESSION_ID}}",
            "cancel_url": f"{STORE}/",
        }
    )
    assert created.status_code == 201, created.text
    session = created.json()
    tab = await store_tab(browser)
    page = tab.page
    await page.goto(session["url"])
    amount = page.get_by_test_id("donation-amount")
    await amount.fill("0.50")
    await page.get_by_test_id("donation-continue").click()
    await expect(page.get_by_test_id("amount-error")).to_contain_text("between 1.00 and 500.00")
    await page.get_by_test_id("donation-amount").fill("7.5")
    await page.get_by_test_id("donation-continue").click()
    status = page.get_by_test_id("status")
    await expect(status).to_contain_text("pending")
    detail = await choose(page)
    assert detail["amount"] == "7.50"
    await transfer_tokens(
        chain.w3, chain.token, WALLET, int(detail["amount_base_units"]), sender=PAYER
    )
    await expect(status).to_contain_text("detected", timeout=CHAIN_WAIT)
    await mine(chain.w3, 1)
    await page.wait_for_url(f"{STORE}/thanks?session_id={session['id']}", timeout=CHAIN_WAIT)
    retrieved = await merchant.retrieve(session["id"])
    assert retrieved["status"] == "complete" and retrieved["amount_total"] == 750
    await tab.context.close()
    assert not tab.errors, tab.errors


async def test_an_expired_page_signature_is_renewed_at_the_session_link(
    merchant: Merchant,
    browser: Browser,
) -> None:
    """Sessions last 30 minutes, page signatures 5: the page renews its signature at the session
    link (no merchant refresh endpoint is configured here) and carries on."""
    session = (await merchant.create_session(cart())).json()
    signed = (
        f"{merchant.shop.origin}/checkout/?order_id={session['order_id']}&session={session['id']}"
    )
    stale = sign_url(K1, signed, int(time.time()) - 3600)
    tab = await store_tab(browser)
    page = tab.page
    refreshed: list[str] = []
    page.on("request", lambda r: refreshed.append(r.url) if "/signature?" in r.url else None)
    await page.goto(f"{signed}&sig={quote(stale, safe='')}")
    await expect(page.get_by_test_id("status")).to_contain_text("pending")
    assert refreshed and f"/checkout/s/{session['id']}/signature?order_id=" in refreshed[0]
    assert quote(stale, safe="") not in page.url  # the page remembers the fresh signature
    await tab.context.close()
    assert not tab.errors, tab.errors


async def test_page_shows_what_is_bought_and_where_the_receipt_goes(
    merchant: Merchant, browser: Browser
) -> None:
    """OVGC requires `email` and shows it to the shopper; any session with one shows it too."""
    made = await merchant.create_session(cart(customer_email="shopper@example.com"))
    assert made.status_code == 201, made.text
    session = made.json()
    tab = await store_tab(browser)
    await tab.page.goto(session["url"])
    line = tab.page.get_by_test_id("session-line")
    await expect(line).to_have_text("T-shirt · Receipt to shopper@example.com")
    async with httpx.AsyncClient() as http:
        base = session["url"].split("/checkout/s/")[0]
        wrong = await http.get(
            f"{base}/checkout/s/{session['id']}/summary",
            params={"order_id": "00000000-0000-0000-0000-000000000000"},
        )
    assert wrong.status_code == 404
    await tab.context.close()
    assert not tab.errors, tab.errors
