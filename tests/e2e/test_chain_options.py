"""The checkout page offers BSC and Solana with their network marks and wallet links (EIP-681 with
chain id 56; a Solana Pay transfer request with the deposit's reference), in a real browser against
a real `serve`. No node is needed to choose: only the payment links are checked here; payments on
both chains are tested in tests/watchers and tests/test_devserver.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from playwright.async_api import Browser, expect

from tests.conftest import free_port, settings_dict, write_config
from tests.e2e.conftest import Shop, chromium_or_skip, open_tab
from tests.watchers.conftest import WALLET

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

SOLANA_WALLET = "HvwC9QSAzvGXhhVrgPmauVwFWcYZhne3hVot9EbHuFTm"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    chromium_or_skip()
    tmp_path = tmp_path_factory.mktemp("chains")
    port = free_port()
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"
    data = settings_dict(database_url, merchant={"allowed_origins": [f"http://127.0.0.1:{port}"]})
    data["wallets"] = [
        {"blockchain": "bsc", "address": WALLET, "enabled_coins": ["USDT"]},
        {"blockchain": "solana", "address": SOLANA_WALLET, "enabled_coins": ["USDC"]},
    ]
    server = Shop(
        port, write_config(tmp_path / "config.toml", data), database_url, tmp_path / "log"
    )
    server.start()
    yield server
    server.stop()


async def test_bsc_and_solana_options_icons_and_wallet_links(
    shop: Shop, browser: Browser, shots: Path
) -> None:
    tab = await open_tab(browser)
    page = tab.page
    order = await shop.create_order("12.345678")
    await page.goto(shop.page_url(order["order_id"]))
    bsc, solana = page.get_by_test_id("option-bsc-USDT"), page.get_by_test_id("option-solana-USDC")
    await expect(bsc).to_contain_text("BNB Smart Chain · BEP-20")
    await expect(solana).to_contain_text("Solana · SPL")
    for chain in ("bsc", "solana"):
        icon = page.get_by_test_id(f"net-{chain}").first.locator("img")
        await expect(icon).to_have_js_property("complete", True)
        assert await icon.evaluate("img => img.naturalWidth") > 0
    await page.screenshot(path=shots / "chains-choose.png", full_page=True)

    async with page.expect_response(lambda r: r.url.endswith("/payment")) as answer:
        await solana.click()
    detail: dict[str, Any] = await (await answer.value).json()
    link = await page.locator("#open-wallet").get_attribute("href") or ""
    assert link == detail["payment_uri"] and link.startswith(f"solana:{SOLANA_WALLET}?")
    query = parse_qs(urlsplit(link).query)
    assert query["amount"] == ["12.345678"] and query["reference"] == [detail["reference"]]
    assert query["spl-token"] == ["EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"]
    qr = await page.get_by_test_id("qr").get_attribute("src") or ""
    assert unquote(qr.split("data=", 1)[1]) == link
    await expect(page.get_by_test_id("wallet-pay")).to_be_hidden()
    await page.screenshot(path=shots / "chains-solana.png", full_page=True)

    await page.locator("#change").click()
    async with page.expect_response(lambda r: r.url.endswith("/payment")) as answer:
        await bsc.click()
    detail = await (await answer.value).json()
    assert detail["decimals"] == 18 and detail["amount_base_units"] == "12345678000000000000"
    link = await page.locator("#open-wallet").get_attribute("href") or ""
    assert link == (
        "ethereum:0x55d398326f99059fF775485246999027B3197955@56/transfer"
        f"?address={WALLET}&uint256=12345678000000000000"
    )
    await tab.context.close()
    assert not tab.errors, tab.errors
