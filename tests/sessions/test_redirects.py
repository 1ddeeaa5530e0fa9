"""Redirect URLs out of the box: any https host unless the operator narrows the list."""

from __future__ import annotations

import pytest

from app.config import Settings, load_settings
from app.errors import InvalidInput
from app.sessions.redirects import check_redirect_url
from tests.conftest import settings_dict


def _settings(**checkout_sessions: object) -> Settings:
    return load_settings(
        None, **settings_dict("sqlite+aiosqlite:///unused.db", checkout_sessions=checkout_sessions)
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://yourstore.com/success?session_id={CHECKOUT_SESSION_ID}",
        "https://another-shop.example/return",
        "http://localhost:3000/ok",
    ],
)
def test_a_fresh_config_accepts_any_https_url(url: str) -> None:
    check_redirect_url("success_url", url, _settings())


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("javascript:alert(1)", "https://"),
        ("http://yourstore.com/ok", "https://"),
        ("https://user:pw@yourstore.com/", "user name"),
        ("https://evil.example\\@yourstore.com/", "backslash"),
        ("https://yourstore.com/\nx", "control"),
        ("data:text/html,<script>alert(1)</script>", "https://"),
    ],
)
def test_a_fresh_config_still_refuses_unsafe_urls(url: str, says: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_redirect_url("success_url", url, _settings())
    assert says in info.value.message


def test_a_configured_list_narrows_it() -> None:
    settings = _settings(redirect_allowed_hosts=["yourstore.com"])
    check_redirect_url("cancel_url", "https://yourstore.com/cart", settings)
    with pytest.raises(InvalidInput) as info:
        check_redirect_url("cancel_url", "https://another-shop.example/", settings)
    assert "not in [checkout_sessions].redirect_allowed_hosts (allowed: yourstore.com)" in (
        info.value.message
    )
