"""Browser tests of the hosted checkout page: Debian's chromium driven by Playwright, against a real
`stablecheckout serve` process (SQLite file, watchers in-process) and a real anvil chain.

Chromium is `/usr/lib/chromium/chromium` (`apt-get install chromium`; never `playwright install`).
Without it these tests skip with the reason shown, unless STABLECHECKOUT_TEST_REQUIRE_SERVICES=1.

Screenshots go to a temporary directory; set STABLECHECKOUT_SCREENSHOTS=1 to (re)write the ones in
docs/screenshots/.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from web3 import AsyncHTTPProvider, AsyncWeb3

from app.security.signatures import sign_body, sign_url
from devkit.chain.anvil import AnvilNotFoundError, AnvilProcess, deploy_token, find_anvil
from devkit.harness import AppProcess
from tests.conftest import K1, REPO, free_port, settings_dict, unavailable, write_config
from tests.watchers.conftest import PAYER, PAYER_FUNDS, WALLET

CHROMIUM = Path(os.environ.get("STABLECHECKOUT_CHROMIUM", "/usr/lib/chromium/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SHOP_URL = "http://shop.test"
"""The merchant's own site: never reached, Playwright answers for it (`route_shop`)."""
DESKTOP = {"width": 720, "height": 940}
FIAT_QUOTE_TTL = 8
"""Seconds a fiat order's quote is locked in the browser tests (short, to see the re-quote)."""
NETWORK_NOISE = ("Failed to load resource", "WebSocket connection to")
"""Console errors chromium logs for refused requests: expected whenever a test cuts the server."""


def chromium_or_skip() -> Path:
    if not CHROMIUM.exists():
        unavailable(f"chromium not installed at {CHROMIUM} (apt-get install chromium)")
    return CHROMIUM


@dataclass
class Shop:
    """A real `stablecheckout serve` on a fixed port (so it can be restarted in place)."""

    port: int
    config: Path
    database_url: str
    log_path: Path
    process: AppProcess | None = None
    logs: list[str] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        argv = ["serve", "-c", str(self.config), "--listen", f"127.0.0.1:{self.port}", "--migrate"]
        env = {"DATABASE_URL": self.database_url}
        self.process = AppProcess(
            "serve", argv, self.log_path, env=env, port=self.port, banner=False
        )
        try:
            self.process.start().wait_healthy(30)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"serve did not become healthy:\n{self.log()}") from None

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.stop(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def create_order(self, amount: str = "19.99", **extra: Any) -> dict[str, Any]:
        """An order made the way a merchant backend makes one: a signed Service API call."""
        body: dict[str, Any] = {
            "order_id": f"ord-{uuid.uuid4().hex[:8]}",
            "amount": amount,
            "webhook_url": "https://shop.example.com/webhooks/ocrch",
            "success_url": f"{SHOP_URL}/thanks",
            "cancel_url": f"{SHOP_URL}/cart",
            **extra,
        }
        raw = json.dumps(body, separators=(",", ":")).encode()
        async with httpx.AsyncClient(base_url=self.origin, timeout=10) as client:
            response = await client.post(
                "/api/v1/service/orders",
                content=raw,
                headers={
                    "Content-Type": "application/json",
                    "Ocrch-Signature": sign_body(K1, raw, int(time.time())),
                },
            )
        assert response.status_code == 201, response.text
        order: dict[str, Any] = response.json()
        return order

    def page_url(
        self,
        order_id: str,
        *,
        ts: int | None = None,
        origin: str | None = None,
        extra: str = "",
        key: str = K1,
    ) -> str:
        """The link a merchant sends the shopper to: the signed page URL plus `&sig=`."""
        signed = f"{origin or self.origin}/checkout/?order_id={order_id}{extra}"
        signature = sign_url(key, signed, int(time.time()) if ts is None else ts)
        return f"{signed}&sig={quote(signature, safe='')}"


@dataclass
class Chain:
    node: AnvilProcess
    w3: AsyncWeb3[Any]
    token: str
    second_token: str


# One chain, one server and one browser for the whole module (each test makes its own orders):
# starting them per test costs more than the tests themselves.


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chain() -> AsyncIterator[Chain]:
    chromium_or_skip()
    try:
        binary = find_anvil()
    except AnvilNotFoundError as exc:
        unavailable(str(exc))
        raise
    async with AnvilProcess(binary=binary) as node:
        w3: AsyncWeb3[Any] = AsyncWeb3(AsyncHTTPProvider(node.http_url))
        token = await deploy_token(w3, mint={PAYER: PAYER_FUNDS})
        second = await deploy_token(w3, mint={PAYER: PAYER_FUNDS})  # plays USDC: two choices
        yield Chain(node, w3, token, second)
        await w3.provider.disconnect()


@pytest.fixture(scope="module")
def shop(chain: Chain, tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp_path = tmp_path_factory.mktemp("shop")
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"
    data = settings_dict(
        database_url,
        merchant={"allowed_origins": [origin]},
        chains={
            "eth": {
                "rpc_urls": [chain.node.ws_url],
                "confirmations": 2,
                "chain_id": 31337,
                "tokens": {
                    "USDT": {"contract": chain.token, "decimals": 6},
                    "USDC": {"contract": chain.second_token, "decimals": 6},
                },
            }
        },
        checkout={"signature_refresh_url": f"{SHOP_URL}/checkout-signature"},
        # One module's tabs all come from 127.0.0.1.
        security={
            "user_rate_limit_per_minute": 100_000,
            "qr_rate_limit_per_minute": 100_000,
            "websocket_max_per_client": 0,
        },
        rates={"fixed": {"USDT/EUR": "0.9200"}, "quote_ttl_seconds": FIAT_QUOTE_TTL},
    )
    data["wallets"] = [{"blockchain": "eth", "address": WALLET, "enabled_coins": ["USDT", "USDC"]}]
    config = write_config(tmp_path / "config.toml", data)
    server = Shop(port, config, database_url, tmp_path / "serve.log")
    server.start()
    yield server
    server.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_or_skip()
    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(
            executable_path=str(executable), args=CHROMIUM_ARGS, headless=True
        )
        yield instance
        await instance.close()


@dataclass
class Tab:
    context: BrowserContext
    page: Page
    errors: list[str]


async def open_tab(
    browser: Browser,
    *,
    viewport: dict[str, int] | None = None,
    locale: str = "en-US",
    **options: Any,
) -> Tab:
    context = await browser.new_context(viewport=viewport or DESKTOP, locale=locale, **options)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on(
        "console",
        lambda msg: (
            errors.append(f"console: {msg.text}")
            if msg.type == "error" and not any(n in msg.text for n in NETWORK_NOISE)
            else None
        ),
    )
    await route_shop(page)
    return Tab(context, page, errors)


async def route_shop(page: Page) -> None:
    """The merchant's site (success and cancel pages, signature refresh) answered in the browser."""

    async def answer(route: Any) -> None:
        await route.fulfill(
            status=200,
            content_type="text/html",
            body="<!doctype html><title>Shop</title><h1>Back at the shop</h1>",
        )

    await page.route(f"{SHOP_URL}/thanks*", answer)
    await page.route(f"{SHOP_URL}/cart*", answer)


@pytest_asyncio.fixture(loop_scope="module")
async def tab(browser: Browser) -> AsyncIterator[Tab]:
    opened = await open_tab(browser)
    yield opened
    await opened.context.close()
    assert not opened.errors, opened.errors


def screenshot_dir(tmp_path: Path) -> Path:
    if os.environ.get("STABLECHECKOUT_SCREENSHOTS") == "1":
        target = REPO / "docs" / "screenshots"
    else:
        target = tmp_path / "screenshots"
    target.mkdir(parents=True, exist_ok=True)
    return target


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return screenshot_dir(tmp_path)
