"""The hosted checkout page (`frontend/`, served at /checkout/) in a real browser, against a real
server and a real chain: the whole payment, the browser wallet, cancel, expiry, a server restart
under an open page, errors, languages, the 360 px layout and keyboard-only use."""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from playwright.async_api import Browser, Page, Route, expect

from app.db import create_engine
from app.models import Order
from app.security.signatures import sign_url
from devkit.chain.anvil import mine, transfer_tokens
from tests.conftest import K1
from tests.e2e.conftest import SHOP_URL, Chain, Shop, Tab, open_tab
from tests.watchers.conftest import PAYER, WALLET

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(240)]

OPTION = "option-eth-USDT"
CHAIN_WAIT = 30_000
"""ms: a transfer or a mined block reaching the page (watcher, commit, push)."""


async def choose(page: Page) -> dict[str, Any]:
    """Pick USDT on eth; returns the payment detail the page received."""
    async with page.expect_response(lambda r: r.url.endswith("/payment")) as answer:
        await page.get_by_test_id(OPTION).click()
    response = await answer.value
    assert response.status == 201, await response.text()
    detail: dict[str, Any] = await response.json()
    await expect(page.get_by_test_id("amount")).to_have_text(detail["amount"])
    return detail


async def user_status(shop: Shop, order_id: str) -> str:
    signed = f"{shop.origin}/checkout/?order_id={order_id}"
    headers = {
        "Ocrch-Signed-Url": signed,
        "Ocrch-Signature": sign_url(K1, signed, int(time.time())),
    }
    async with httpx.AsyncClient(base_url=shop.origin) as client:
        response = await client.get(f"/api/v1/user/orders/{order_id}/status", headers=headers)
    return str(response.json()["status"])


async def no_horizontal_overflow(page: Page, width: int) -> None:
    scroll = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"page is {scroll} px wide in a {width} px viewport"
    for test_id in ("status", "countdown"):
        box = await page.get_by_test_id(test_id).bounding_box()
        if box:
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, (test_id, box)


async def test_full_payment_through_the_page(
    shop: Shop, tab: Tab, chain: Chain, shots: Path
) -> None:
    page = tab.page
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    order = await shop.create_order("19.99")
    await page.goto(shop.page_url(order["order_id"]))

    status = page.get_by_test_id("status")
    await expect(status).to_contain_text("pending")
    await expect(page.get_by_test_id("countdown")).to_contain_text(re.compile(r"\d+:\d\d"))
    await expect(page.get_by_test_id(OPTION)).to_contain_text("USDT")
    await expect(page.get_by_test_id("option-eth-USDC")).to_contain_text("USDC")
    await page.screenshot(path=shots / "choose.png", full_page=True)

    detail = await choose(page)
    assert detail["amount"] == "19.99" and detail["chain_id"] == 31337
    await expect(page.get_by_test_id("address")).to_have_text(detail["wallet_address"])
    assert detail["wallet_address"].lower() == WALLET.lower()
    qr = page.get_by_test_id("qr")
    src = await qr.get_attribute("src")
    assert src and unquote(src.split("data=", 1)[1]) == detail["payment_uri"]
    await expect(qr).to_have_js_property("complete", True)
    assert await qr.evaluate("img => img.naturalWidth") > 0, "the QR code did not load"
    await expect(page.get_by_test_id("wallet-pay")).to_be_hidden()  # no window.ethereum here
    await expect(status).to_contain_text("pending")
    await expect(page.get_by_test_id("cancel")).to_be_visible()
    await page.screenshot(path=shots / "pay.png", full_page=True)

    await transfer_tokens(
        chain.w3, chain.token, WALLET, int(detail["amount_base_units"]), sender=PAYER
    )
    await expect(status).to_contain_text("detected", timeout=CHAIN_WAIT)
    await expect(status).to_contain_text("1 of 2 confirmations")
    await expect(page.get_by_test_id("cancel")).to_be_hidden()
    await page.screenshot(path=shots / "detected.png", full_page=True)

    await mine(chain.w3, 1)
    await expect(status).to_contain_text("paid", timeout=CHAIN_WAIT)
    await expect(page.get_by_test_id("countdown")).to_be_hidden()
    await page.screenshot(path=shots / "paid.png", full_page=True)
    await page.wait_for_url(f"{SHOP_URL}/thanks", timeout=10_000)

    assert sockets and all("/ws?signed_url=" in url for url in sockets), sockets
    assert await user_status(shop, order["order_id"]) == "paid"


FAKE_WALLET = """
window.ethereum = {
  isFakeWallet: true,
  async request({ method, params }) {
    const answer = await window.__walletRpc(method, params || []);
    if (answer.error) throw Object.assign(new Error(answer.error.message), answer.error);
    return answer.result;
  },
  on() {}, removeListener() {},
};
"""


async def test_pay_with_browser_wallet(shop: Shop, browser: Browser, chain: Chain) -> None:
    """EIP-1193: accounts, switch to chain 31337, then an ERC-20 transfer the page encoded."""
    tab = await open_tab(browser)
    calls: list[tuple[str, Any]] = []

    async def wallet_rpc(method: str, params: Any) -> dict[str, Any]:
        calls.append((method, params))
        if method == "eth_requestAccounts":
            return {"result": [PAYER]}
        if method == "wallet_switchEthereumChain":
            return {"result": None}
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(
                chain.node.http_url,
                json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
            )
        answer: dict[str, Any] = response.json()
        return answer

    await tab.context.expose_function("__walletRpc", wallet_rpc)
    await tab.context.add_init_script(FAKE_WALLET)
    page = tab.page
    order = await shop.create_order("7.25")
    await page.goto(shop.page_url(order["order_id"]))
    detail = await choose(page)
    button = page.get_by_test_id("wallet-pay")
    await expect(button).to_be_visible()
    await button.click()
    status = page.get_by_test_id("status")
    await expect(status).to_contain_text("detected", timeout=CHAIN_WAIT)
    await mine(chain.w3, 1)
    await expect(status).to_contain_text("paid", timeout=CHAIN_WAIT)

    methods = [method for method, _ in calls]
    assert methods[:3] == [
        "eth_requestAccounts",
        "wallet_switchEthereumChain",
        "eth_sendTransaction",
    ]
    assert calls[1][1] == [{"chainId": "0x7a69"}]
    tx = calls[2][1][0]
    assert tx["from"] == PAYER and tx["to"].lower() == chain.token.lower()
    units = int(detail["amount_base_units"])
    assert units == 7_250_000
    assert tx["data"] == "0xa9059cbb" + WALLET[2:].lower().rjust(64, "0") + format(units, "064x")
    await tab.context.close()
    assert not tab.errors, tab.errors


async def test_cancel(shop: Shop, tab: Tab, shots: Path) -> None:
    page = tab.page
    order = await shop.create_order("4.00")
    await page.goto(shop.page_url(order["order_id"]))
    detail = await choose(page)

    await page.reload()  # the choice survives a reload (sessionStorage), with the same amount
    await expect(page.get_by_test_id("amount")).to_have_text(detail["amount"])

    await page.get_by_test_id("cancel").click()
    status = page.get_by_test_id("status")
    await expect(status).to_contain_text("cancelled")
    back = page.get_by_role("link", name="Back to the shop")
    await expect(back).to_have_attribute("href", f"{SHOP_URL}/cart")
    await expect(page.get_by_test_id("cancel")).to_be_hidden()
    await page.screenshot(path=shots / "cancelled.png", full_page=True)
    assert await user_status(shop, order["order_id"]) == "cancelled"

    await page.reload()  # a finished order opens straight on its final state
    await expect(status).to_contain_text("cancelled")
    await back.click()
    await page.wait_for_url(f"{SHOP_URL}/cart")


async def test_expiry(shop: Shop, tab: Tab, shots: Path) -> None:
    page = tab.page
    order = await shop.create_order("12.50", expires_in=60)
    await page.goto(shop.page_url(order["order_id"]))
    countdown = page.get_by_test_id("countdown")
    await expect(countdown).to_contain_text(re.compile(r"\b(1:00|0:5\d)\b"))
    await choose(page)

    await expire_now(shop, order["order_id"], ago=1)

    status = page.get_by_test_id("status")
    await expect(status).to_contain_text("expired", timeout=15_000)
    await expect(countdown).to_be_hidden()
    await expect(page.get_by_role("heading", name="This order expired")).to_be_visible()
    await expect(page.get_by_role("link", name="Back to the shop")).to_be_visible()
    await page.screenshot(path=shots / "expired.png", full_page=True)


async def expire_now(shop: Shop, order_id: str, *, ago: float = 0) -> None:
    """Move the order's deadline to now (minus `ago` s); the server's sweeper does the rest."""
    engine = create_engine(shop.database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.update(Order)
                .where(Order.id == uuid.UUID(order_id))
                .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=ago))
            )
    finally:
        await engine.dispose()


async def test_order_expiring_while_its_payment_confirms(
    shop: Shop, tab: Tab, chain: Chain
) -> None:
    """Paid in time, expired before the last confirmation: the server still credits it (expired ->
    paid), so the page must not leave the shopper at a dead end in between."""
    page = tab.page
    order = await shop.create_order("61.00", expires_in=600)
    await page.goto(shop.page_url(order["order_id"]))
    detail = await choose(page)
    await transfer_tokens(
        chain.w3, chain.token, WALLET, int(detail["amount_base_units"]), sender=PAYER
    )
    status = page.get_by_test_id("status")
    await expect(status).to_contain_text("detected", timeout=CHAIN_WAIT)
    await expire_now(shop, order["order_id"])
    await expect(status).to_contain_text("expired", timeout=15_000)
    await expect(status).to_contain_text("still credited")
    await mine(chain.w3, 1)
    await expect(status).to_contain_text("paid", timeout=CHAIN_WAIT)
    assert await user_status(shop, order["order_id"]) == "paid"


async def test_lost_socket_is_recovered(shop: Shop, tab: Tab, chain: Chain, shots: Path) -> None:
    """The server goes away under an open page; the order is paid while it is down; once the
    server is back (same port, same database) the page reaches `paid` by polling or reconnecting."""
    page = tab.page
    order = await shop.create_order("33.30")
    await page.goto(shop.page_url(order["order_id"]))
    detail = await choose(page)
    status = page.get_by_test_id("status")
    await expect(status).to_contain_text("pending")

    shop.stop()
    notice = page.locator("#link-state")
    await expect(notice).to_be_visible(timeout=10_000)
    await expect(status).to_contain_text("pending")  # no false alarm while the server is away
    await page.screenshot(path=shots / "reconnecting.png", full_page=True)

    await transfer_tokens(
        chain.w3, chain.token, WALLET, int(detail["amount_base_units"]), sender=PAYER
    )
    await mine(chain.w3, 2)
    shop.start()

    await expect(status).to_contain_text("paid", timeout=45_000)
    await page.wait_for_url(f"{SHOP_URL}/thanks", timeout=10_000)


async def test_360px_layout(shop: Shop, browser: Browser, shots: Path) -> None:
    tab = await open_tab(
        browser,
        viewport={"width": 360, "height": 780},
        has_touch=True,
        is_mobile=True,
        device_scale_factor=2,
    )
    page = tab.page
    order = await shop.create_order("149.9999", metadata={"cart": "a long one"})
    await page.goto(shop.page_url(order["order_id"]))
    await expect(page.get_by_test_id(OPTION)).to_be_visible()
    await no_horizontal_overflow(page, 360)
    await page.screenshot(path=shots / "mobile.png", full_page=True)

    detail = await choose(page)
    await no_horizontal_overflow(page, 360)
    for test_id in ("copy-amount", "copy-address", "cancel", "qr", "address"):
        box = await page.get_by_test_id(test_id).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 360, (test_id, box)
    for test_id in ("copy-amount", "copy-address"):
        box = await page.get_by_test_id(test_id).bounding_box()
        assert box and box["height"] >= 32, f"{test_id} is too small to tap: {box}"
    open_wallet = page.get_by_role("link", name="Open in wallet app")
    await expect(open_wallet).to_be_visible()  # touch screens get the wallet link
    assert await open_wallet.get_attribute("href") == detail["payment_uri"]
    await page.screenshot(path=shots / "mobile-pay.png", full_page=True)
    await tab.context.close()
    assert not tab.errors, tab.errors


async def test_keyboard_only(shop: Shop, browser: Browser) -> None:
    tab = await open_tab(browser, permissions=["clipboard-read", "clipboard-write"])
    page = tab.page
    order = await shop.create_order("5.55")
    await page.goto(shop.page_url(order["order_id"]))
    option = page.get_by_test_id(OPTION)
    await expect(option).to_be_visible()
    assert await option.evaluate("el => el.tagName") == "BUTTON"

    await page.keyboard.press("Tab")
    await expect(option).to_be_focused()
    outline = await option.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline == "solid", "keyboard focus must be visible"
    await page.keyboard.press("Tab")
    await expect(page.get_by_test_id("option-eth-USDC")).to_be_focused()
    await page.keyboard.press("Enter")
    amount = page.get_by_test_id("amount")
    await expect(amount).to_be_visible()
    await expect(page.locator("#coin")).to_have_text("USDC")
    await expect(page.locator("#pay-title")).to_be_focused()  # screen readers land on the step

    copy_amount = page.get_by_test_id("copy-amount")
    await page.keyboard.press("Tab")
    await expect(copy_amount).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(copy_amount).to_contain_text("Copied")
    assert await page.evaluate("navigator.clipboard.readText()") == await amount.inner_text()

    await page.keyboard.press("Tab")
    await expect(page.get_by_test_id("copy-address")).to_be_focused()
    await page.keyboard.press("Enter")
    address = await page.get_by_test_id("address").inner_text()
    assert await page.evaluate("navigator.clipboard.readText()") == address

    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name="Choose another coin")).to_be_focused()
    await page.keyboard.press("Tab")
    cancel = page.get_by_test_id("cancel")
    await expect(cancel).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("status")).to_contain_text("cancelled")
    await expect(page.locator("#done-title")).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Back to the shop")).to_be_focused()

    live = page.get_by_test_id("status")
    assert await live.get_attribute("aria-live") == "polite"
    assert await live.get_attribute("role") == "status"
    await tab.context.close()
    assert not tab.errors, tab.errors


async def test_error_messages(shop: Shop, tab: Tab, shots: Path) -> None:
    page = tab.page
    error = page.locator("#error-text")
    detail = page.locator("#error-detail")
    order = await shop.create_order("9.99")
    oid = order["order_id"]

    await page.goto(f"{shop.origin}/checkout/?order_id={oid}")  # no sig
    await expect(error).to_contain_text("incomplete")

    await page.goto(f"{shop.origin}/checkout/")  # nothing at all
    await expect(error).to_contain_text("incomplete")

    tampered = shop.page_url(oid, key="not-the-merchant-secret")
    await page.goto(tampered)
    await expect(error).to_contain_text("not valid")
    await expect(detail).to_have_text("401 signature verification failed")

    await page.goto(shop.page_url(str(uuid.uuid4())))
    await expect(error).to_contain_text("could not find this order")
    await expect(detail).to_have_text("404 order not found")

    # An origin the merchant did not allow (same server, reached under another host name).
    await page.goto(shop.page_url(oid, origin=f"http://localhost:{shop.port}"))
    await expect(error).to_contain_text("not allowed to take payments")
    await expect(detail).to_contain_text("403 origin not allowed")
    await expect(page.get_by_role("button", name="Try again")).to_be_hidden()

    # An expired signature, and a shop backend that cannot refresh it.
    async def refuse(route: Route) -> None:
        await route.fulfill(status=401, body="log in again")

    await page.route(f"{SHOP_URL}/checkout-signature*", refuse)
    await page.goto(shop.page_url(oid, ts=int(time.time()) - 400))
    await expect(error).to_contain_text("payment link has expired")
    await expect(detail).to_have_text("401 signature expired")
    await page.screenshot(path=shots / "error.png", full_page=True)
    await page.unroute(f"{SHOP_URL}/checkout-signature*")

    # The same link, with a backend that re-signs: the page carries on, and its address holds
    # the fresh signature (so a reload works too).
    asked: list[str] = []

    async def refresh(route: Route) -> None:
        asked.append(route.request.url)
        signed = f"{shop.origin}/checkout/?order_id={oid}"
        await route.fulfill(
            status=200,
            content_type="application/json",
            json={"signed_url": signed, "signature": sign_url(K1, signed, int(time.time()))},
        )

    await page.route(f"{SHOP_URL}/checkout-signature*", refresh)
    stale = shop.page_url(oid, ts=int(time.time()) - 400)
    await page.goto(stale)
    await expect(page.get_by_test_id(OPTION)).to_be_visible()
    assert asked and parse_qs(urlsplit(asked[0]).query)["order_id"] == [oid]
    assert page.url != stale and page.url.startswith(f"{shop.origin}/checkout/?order_id={oid}&sig=")
    await page.reload()
    await expect(page.get_by_test_id(OPTION)).to_be_visible()


async def test_languages(shop: Shop, browser: Browser, shots: Path) -> None:
    order = await shop.create_order("20.00")
    oid = order["order_id"]
    for locale, lang, title, waiting in (
        ("es-ES", "es", "Elige cómo pagar", "esperando tu transferencia"),
        ("de-DE", "de", "Zahlungsart wählen", "warte auf deine Überweisung"),
        ("fr-FR", "en", "Choose how to pay", "waiting for your transfer"),  # not offered: English
    ):
        tab = await open_tab(browser, locale=locale)
        page = tab.page
        await page.goto(shop.page_url(oid))
        await expect(page.get_by_role("heading", name=title)).to_be_visible()
        assert await page.evaluate("document.documentElement.lang") == lang
        await choose(page)
        status = page.get_by_test_id("status")
        await expect(status).to_contain_text(waiting)
        await expect(status).to_contain_text("pending")  # the contract word, in every language
        if locale == "de-DE":
            await page.screenshot(path=shots / "pay-de.png", full_page=True)
        await tab.context.close()
        assert not tab.errors, tab.errors

    tab = await open_tab(browser, locale="en-US")  # `lang` in the signed URL wins
    await tab.page.goto(shop.page_url(oid, extra="&lang=es"))
    await expect(tab.page.get_by_role("heading", name="Elige cómo pagar")).to_be_visible()
    await tab.context.close()


async def test_signed_url_and_wallet_encoding_helpers(shop: Shop, tab: Tab) -> None:
    """The page's pure helpers, run in the browser as the page runs them."""
    page = tab.page
    await page.goto(f"{shop.origin}/checkout/")
    cases = await page.evaluate(
        """async () => {
      const { splitSignedUrl } = await import("./api.js");
      const { erc20TransferData } = await import("./wallet.js");
      const s = (u) => { const r = splitSignedUrl(u); return [r.signedUrl, r.signature]; };
      return {
        last: s("https://p.example/c/?order_id=1&sig=1.ab%2Bc%2Fd"),
        first: s("https://p.example/c/?sig=1.abc&order_id=1&x=%20y"),
        middle: s("https://p.example/c/?a=1&sig=2.x+y&b=&c"),
        only: s("https://p.example/c/?sig=3.z#frag"),
        none: s("https://p.example/c/?order_id=1&signature=no"),
        data: erc20TransferData("0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "19990100"),
      };
    }"""
    )
    assert cases["last"] == ["https://p.example/c/?order_id=1", "1.ab+c/d"]
    assert cases["first"] == ["https://p.example/c/?order_id=1&x=%20y", "1.abc"]
    assert cases["middle"] == ["https://p.example/c/?a=1&b=&c", "2.x+y"]  # '+' stays '+'
    assert cases["only"] == ["https://p.example/c/", "3.z"]
    assert cases["none"] == ["https://p.example/c/?order_id=1&signature=no", None]
    assert cases["data"] == (
        "0xa9059cbb"
        "00000000000000000000000070997970c51812dc3a010c7d01b50e0d17dc79c8"
        "0000000000000000000000000000000000000000000000000000000001310654"
    )
