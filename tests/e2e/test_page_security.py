"""The hosted page's security headers in a real browser (issue 14, item 15): the page works under
the header policy (no violation reported), no other site can frame it, and without a
`config.json` it ignores `?api=` instead of calling whatever server a forged link names."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, Route, expect

from tests.e2e.conftest import Shop, Tab, open_tab
from tests.e2e.test_checkout_page import OPTION, choose

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(240)]


async def test_page_works_under_its_headers(shop: Shop, tab: Tab) -> None:
    order = await shop.create_order("3.00")
    response = await tab.page.goto(shop.page_url(order["order_id"]))
    assert response is not None
    headers = await response.all_headers()
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-content-type-options"] == "nosniff"
    await choose(tab.page)  # scripts, styles, the API and the QR code all load
    await expect(tab.page.get_by_test_id("amount")).to_be_visible()
    # `tab` fails the test on any console error, which is where CSP violations are reported.


@pytest.mark.parametrize("parent", ["same origin", "another document"])
async def test_no_page_can_frame_the_page(shop: Shop, browser: Browser, parent: str) -> None:
    """`frame-ancestors 'none'` and `X-Frame-Options: DENY` refuse every parent, its own origin
    included. (A parent on a routed foreign host would be refused by Chromium's local network
    checks whatever the headers say, so the parents here are loopback or `about:blank`.)"""
    order = await shop.create_order("3.00")
    url = shop.page_url(order["order_id"])
    framing = f'<!doctype html><title>Framing</title><iframe src="{url}"></iframe>'
    opened = await open_tab(browser)
    try:
        if parent == "same origin":

            async def answer(route: Route) -> None:
                await route.fulfill(status=200, content_type="text/html", body=framing)

            await opened.page.route(f"{shop.origin}/framing", answer)
            await opened.page.goto(f"{shop.origin}/framing")
        else:
            await opened.page.set_content(framing)
        await opened.page.wait_for_timeout(2000)
        frames = [f for f in opened.page.frames if f != opened.page.main_frame]
        assert frames, "the iframe is missing"
        assert await frames[0].query_selector("#card") is None, "the checkout page was framed"
    finally:
        await opened.context.close()


async def test_api_param_without_config_json_is_ignored(shop: Shop, browser: Browser) -> None:
    order = await shop.create_order("3.00")
    opened = await open_tab(browser)
    elsewhere: list[str] = []
    try:

        async def no_config(route: Route) -> None:
            await route.fulfill(status=404, body="")

        async def record(route: Route) -> Any:
            elsewhere.append(route.request.url)
            await route.abort()

        await opened.page.route("**/checkout/config.json", no_config)
        await opened.page.route("http://evil.test/**", record)
        await opened.page.goto(shop.page_url(order["order_id"], extra="&api=http://evil.test"))
        await expect(opened.page.get_by_test_id(OPTION)).to_be_visible(timeout=15_000)
        assert elsewhere == []
    finally:
        await opened.context.close()
