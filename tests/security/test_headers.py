"""Security headers on the pages shoppers open (issue 14, item 15): the hosted checkout page and
the session pages. The browser half (the page still works under them, and cannot be framed) is
tests/e2e/test_page_security.py."""

from __future__ import annotations

import re
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from app.config import load_settings
from app.main import create_app
from app.security.headers import HOSTED_PAGE_CSP, style_hash
from tests.conftest import settings_dict

FIXED = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


@pytest.fixture
async def app_client(sqlite_database_url: str) -> Any:
    settings = load_settings(None, **settings_dict(sqlite_database_url))
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


@pytest.mark.parametrize("path", ["/checkout/", "/checkout/index.html", "/checkout/app.js"])
async def test_hosted_page(app_client: AsyncTestClient[Any], path: str) -> None:
    response = await app_client.get(path)
    assert response.status_code == 200
    for name, value in FIXED.items():
        assert response.headers[name] == value
    csp = response.headers["content-security-policy"]
    assert csp == HOSTED_PAGE_CSP and "frame-ancestors 'none'" in csp


async def test_the_header_policy_is_the_pages_own_plus_framing(
    app_client: AsyncTestClient[Any],
) -> None:
    """The page's `<meta>` policy is what the browser test proves works; the header adds to it."""
    page = (await app_client.get("/checkout/")).text
    meta = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert meta is not None
    assert f"{meta.group(1)}; frame-ancestors 'none'" == HOSTED_PAGE_CSP


async def test_session_pages(app_client: AsyncTestClient[Any]) -> None:
    response = await app_client.get("/checkout/s/cs_test_unknown")
    assert response.status_code == 404
    for name, value in FIXED.items():
        assert response.headers[name] == value
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    style = re.search(r"<style>(.*?)</style>", response.text, re.DOTALL)
    assert style is not None and style_hash(style.group(1)) in csp  # its only stylesheet loads
