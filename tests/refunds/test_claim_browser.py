"""The refund claim page in a real browser (Debian's chromium) against a real `serve`: the
operator makes the link through the Admin API, the shopper opens it, is told a lowercase address
has no checksum, confirms a checksummed one, and the page then only says it was claimed. The page
renders under its own Content-Security-Policy without a console error."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from eth_utils.address import to_checksum_address
from playwright.async_api import Browser, expect

from app.config import Settings
from app.db import create_engine, create_sessionmaker
from app.models import RefundItem
from tests.admin.test_admin_api import ADMIN
from tests.conftest import ServerProcess
from tests.e2e import conftest as e2e
from tests.e2e.conftest import open_tab
from tests.refunds.conftest import seed_refund

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]
browser = e2e.browser

SHOPPER = to_checksum_address("0x" + "5f3a" * 10)


async def test_shopper_claims_a_refund_in_the_browser(
    server: ServerProcess, settings: Settings, browser: Browser, tmp_path: Path
) -> None:
    engine = create_engine(settings.database_url)
    db: Any = create_sessionmaker(engine)
    try:
        seeded = await seed_refund(db, amount=2_345_600)
        async with httpx.AsyncClient(base_url=server.url, headers=ADMIN) as http:
            made = await http.post(f"/api/v1/admin/refunds/{seeded.item_id}/claim-link")
            assert made.status_code == 200, made.text
        tab = await open_tab(browser)
        page = tab.page
        await page.goto(made.json()["url"])
        await expect(page.get_by_test_id("refund-amount")).to_have_text("2.345600 USDT")
        assert await page.evaluate("getComputedStyle(document.body).display") == "flex", (
            "the inline stylesheet is allowed by the page's CSP"
        )

        await page.get_by_test_id("refund-address").fill(SHOPPER.lower())
        await page.get_by_test_id("refund-continue").click()
        await expect(page.get_by_test_id("address-error")).to_contain_text("checksum")

        await page.get_by_test_id("refund-address").fill(SHOPPER)
        await page.get_by_test_id("refund-continue").click()
        await expect(page.get_by_test_id("refund-confirm-address")).to_have_text(SHOPPER)
        async with db() as session:
            status = await session.scalar(sa.select(RefundItem.status))
        assert status == "open", "nothing is recorded before the shopper confirms"

        await page.get_by_test_id("refund-confirm").click()
        await expect(page.get_by_test_id("refund-status")).to_have_text("Thank you.")
        await expect(page.get_by_test_id("refund-claimed-address")).to_have_text(SHOPPER)
        if os.environ.get("STABLECHECKOUT_SCREENSHOTS") == "1":
            await page.screenshot(path=str(tmp_path / "refund-claimed.png"))

        await page.reload()  # the browser offers to post the form again: it changes nothing
        await page.goto(made.json()["url"])
        await expect(page.get_by_test_id("refund-status")).to_have_text(
            "This refund has already been claimed."
        )
        await expect(page.get_by_test_id("refund-address")).to_have_count(0)
        async with db() as session:
            row = (
                await session.execute(sa.select(RefundItem.status, RefundItem.claim_address))
            ).one()
        assert tuple(row) == ("claimed", SHOPPER)
        await tab.context.close()
        assert not tab.errors, tab.errors
    finally:
        await engine.dispose()
