"""Test mode never reserves live amounts, and one key cannot hold unbounded sessions (issue 14,
item 9). Over HTTP, on both databases: sessions made with the API, amounts chosen the way the
hosted page chooses them (the session link's signed URL, then the User API)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from app.config import ConfigError, load_settings
from app.main import create_app
from app.models import Deposit
from tests.conftest import TEST_WALLET_ETH, settings_dict
from tests.helpers import body_bytes, checkout_url, order_body, signed_headers, user_headers
from tests.sessions.conftest import TEST_MODE_WALLETS, Keys, bearer, cart_body, create
from tests.sessions.conftest import session_settings_dict as base_settings

TEST_WALLET = TEST_MODE_WALLETS[0]["address"]


def tight(database_url: str, **sections: Any) -> dict[str, Any]:
    """Three unique amounts per wallet: a pool small enough to exhaust in a test."""
    return base_settings(database_url, orders={"amount_step_max_tries": 3}, **sections)


@pytest.fixture
def session_settings(database_url: str) -> Any:
    return load_settings(None, **tight(database_url))


@pytest.fixture
async def api(session_settings: Any) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(app=create_app(session_settings)) as client:
        yield client


async def choose(
    api: AsyncTestClient[Any], session_id: str, coin: str = "USDT", chain: str = "eth"
) -> Any:
    """What the hosted page does: follow the session link, then ask for a payment on a pair."""
    follow = await api.get(f"/checkout/s/{session_id}", follow_redirects=False)
    signed, _, sig = follow.headers["location"].rpartition("&sig=")
    order_id = dict(p.split("=") for p in urlsplit(signed).query.split("&"))["order_id"]
    headers = {"Ocrch-Signed-Url": signed, "Ocrch-Signature": unquote(sig)}
    return await api.post(
        f"/api/v1/user/orders/{order_id}/payment",
        headers=headers,
        json={"blockchain": chain, "stablecoin": coin},
    )


async def test_test_key_cannot_exhaust_live_amounts(
    api: AsyncTestClient[Any], api_keys: Keys, sdb: Any
) -> None:
    """Today a test key that opens a handful of sessions takes every live amount and a real
    shopper gets 503. Test sessions must draw from the test wallets only."""
    for _ in range(4):
        created = (await create(api, api_keys.test, cart_body())).json()
        detail = await choose(api, created["id"])
        if detail.status_code == 503:
            break  # the test pool is exhausted: that is test mode's own business
        assert detail.status_code == 201, detail.text
        assert detail.json()["wallet_address"] == TEST_WALLET
    live = (await create(api, api_keys.live, cart_body())).json()
    paid_live = await choose(api, live["id"])
    assert paid_live.status_code == 201, paid_live.text
    assert paid_live.json()["wallet_address"] == TEST_WALLET_ETH
    async with sdb() as session:
        rows = (await session.execute(sa.select(Deposit.wallet_address, Deposit.amount))).all()
    assert sum(1 for wallet, _ in rows if wallet == TEST_WALLET_ETH) == 1


async def test_ocrch_orders_and_pairs_never_use_test_wallets(api: AsyncTestClient[Any]) -> None:
    """Service API orders are live: their amounts and the advertised pairs use live wallets."""
    raw = body_bytes(order_body())
    order = await api.post("/api/v1/service/orders", content=raw, headers=signed_headers(raw))
    assert order.status_code == 201, order.text
    order_id = order.json()["order_id"]
    auth = user_headers(checkout_url(order_id))
    pairs = (await api.get("/api/v1/user/chains", headers=auth)).json()
    assert pairs and not {p["wallet_address"] for p in pairs} & {
        w["address"] for w in TEST_MODE_WALLETS
    }
    detail = await api.post(
        f"/api/v1/user/orders/{order_id}/payment",
        headers=auth,
        json={"blockchain": "eth", "stablecoin": "USDT"},
    )
    assert detail.status_code == 201 and detail.json()["wallet_address"] == TEST_WALLET_ETH


async def test_the_page_of_a_test_session_lists_test_pairs(
    api: AsyncTestClient[Any], api_keys: Keys
) -> None:
    """The hosted page asks `/chains` with the session's signed URL: it offers test wallets."""
    created = (await create(api, api_keys.test, cart_body())).json()
    follow = await api.get(f"/checkout/s/{created['id']}", follow_redirects=False)
    signed, _, sig = follow.headers["location"].rpartition("&sig=")
    auth = {"Ocrch-Signed-Url": signed, "Ocrch-Signature": unquote(sig)}
    pairs = (await api.get("/api/v1/user/chains", headers=auth)).json()
    assert {p["wallet_address"] for p in pairs} == {w["address"] for w in TEST_MODE_WALLETS}


async def test_test_session_pays_on_the_test_wallet_of_each_chain(
    api: AsyncTestClient[Any], api_keys: Keys
) -> None:
    created = (await create(api, api_keys.test, cart_body())).json()
    tron = await choose(api, created["id"], coin="USDT", chain="tron")
    assert tron.status_code == 201, tron.text
    assert tron.json()["wallet_address"] == TEST_MODE_WALLETS[1]["address"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_no_test_wallets_means_no_test_payments(database_url: str, api_keys: Keys) -> None:
    data = tight(database_url, wallets=settings_dict(database_url)["wallets"])
    async with AsyncTestClient(app=create_app(load_settings(None, **data))) as api:
        created = (await create(api, api_keys.test, cart_body())).json()
        refused = await choose(api, created["id"])
        assert refused.status_code == 400
        assert "no test-mode wallet ([[wallets]] with test = true)" in refused.text


async def test_session_creation_rate_per_key(database_url: str, api_keys: Keys) -> None:
    data = tight(database_url, checkout_sessions={"max_sessions_per_minute_per_key": 3})
    async with AsyncTestClient(app=create_app(load_settings(None, **data))) as api:
        for _ in range(3):
            assert (await create(api, api_keys.test, cart_body())).status_code == 201
        refused = await create(api, api_keys.test, cart_body())
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        error = refused.json()["error"]
        assert "max_sessions_per_minute_per_key" in error["message"]
        assert (await create(api, api_keys.live, cart_body())).status_code == 201, "per key"


async def test_open_sessions_per_key(database_url: str, api_keys: Keys) -> None:
    data = tight(database_url, checkout_sessions={"max_open_sessions_per_key": 2})
    async with AsyncTestClient(app=create_app(load_settings(None, **data))) as api:
        first = (await create(api, api_keys.test, cart_body())).json()
        assert (await create(api, api_keys.test, cart_body())).status_code == 201
        refused = await create(api, api_keys.test, cart_body())
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert "max_open_sessions_per_key" in refused.json()["error"]["message"]
        expired = await api.post(
            f"/api/v1/checkout/sessions/{first['id']}/expire", headers=bearer(api_keys.test)
        )
        assert expired.status_code == 200, expired.text
        assert (await create(api, api_keys.test, cart_body())).status_code == 201


def test_a_wallet_is_test_or_live_not_both() -> None:
    live = {"blockchain": "eth", "address": TEST_WALLET_ETH, "enabled_coins": ["USDT"]}
    data = settings_dict("sqlite://", wallets=[live, {**live, "test": True}])
    with pytest.raises(ConfigError, match="both as a test wallet and as a live one"):
        load_settings(None, **data)
