"""Fixtures for the Checkout Sessions tests: settings with the `[checkout_sessions]` section, an
in-process app over the real database (both databases through `database_url`), API keys made the
way `stablecheckout admin api-keys create` makes them, and row counts to prove nothing changed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from app.config import Settings, load_settings
from app.db import create_engine, create_sessionmaker, unit_of_work
from app.main import create_app
from app.models import ApiKey, CheckoutSession, IdempotencyKey, Order, WebhookEvent
from app.sessions import keys
from app.sessions.models import KeyMode
from tests.conftest import settings_dict

SHOP = "https://shop.example"
SESSION_HOOK = f"{SHOP}/webhooks/sessions"
SESSION_SECTION: dict[str, Any] = {
    "redirect_allowed_hosts": ["shop.example", "*.shop.example"],
    "webhook_url": SESSION_HOOK,
    "webhook_secret": "whsec_Zr4Ku8Wn2Qp6Xs0Jv3Lm7Hc1Tb5Yd9Fg",
}
TABLES = (ApiKey, CheckoutSession, Order, WebhookEvent, IdempotencyKey)


TEST_MODE_WALLETS: list[dict[str, Any]] = [
    {
        "blockchain": "eth",
        "address": "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
        "enabled_coins": ["USDT", "USDC"],
        "test": True,
    },
    {
        "blockchain": "tron",
        "address": "TPzLMtKqkJ5dXJX8DEHYFSmX8QobKF4N77",
        "enabled_coins": ["USDT"],
        "test": True,
    },
]
"""Where test-mode sessions' orders take their amounts (the live wallets are settings_dict's)."""


def session_settings_dict(database_url: str, **sections: Any) -> dict[str, Any]:
    section = {**SESSION_SECTION, **sections.pop("checkout_sessions", {})}
    # The in-process client's address, as `serve --listen` would set it: our own origin.
    sections.setdefault("server", {"listen": "testserver.local:80"})
    data = settings_dict(database_url, checkout_sessions=section, **sections)
    if "wallets" not in sections:
        data["wallets"] = [*data["wallets"], *TEST_MODE_WALLETS]
    return data


def cart_body(**overrides: Any) -> dict[str, Any]:
    """The seed 000 request: line items, success_url with the placeholder, cancel_url, metadata."""
    body: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": "usd",
                    "product_data": {"name": "T-shirt", "description": "Soft cotton"},
                    "unit_amount": 1999,
                },
                "quantity": 2,
            },
            {
                "price_data": {
                    "currency": "USD",
                    "product_data": {"name": "Sticker pack"},
                    "unit_amount": 400,
                },
                "quantity": 1,
            },
        ],
        "success_url": f"{SHOP}/orders/42/success?session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"{SHOP}/cart",
        "metadata": {"order_id": "42"},
    }
    body.update(overrides)
    return body


@dataclass
class Keys:
    test: str
    live: str
    test_id: str


@pytest.fixture
def session_settings(database_url: str) -> Settings:
    return load_settings(None, **session_settings_dict(database_url))


@pytest.fixture
async def api(session_settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(app=create_app(session_settings)) as client:
        yield client


@pytest.fixture
async def sdb(session_settings: Settings) -> AsyncIterator[Any]:
    engine = create_engine(session_settings.database_url)
    yield create_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
async def api_keys(sdb: Any) -> Keys:
    async with unit_of_work(sdb) as session:
        test, test_secret = await keys.create_api_key(session, KeyMode.TEST, "tests")
        _, live_secret = await keys.create_api_key(session, KeyMode.LIVE, "tests")
    return Keys(test_secret, live_secret, str(test.id))


def bearer(secret: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}", **extra}


async def create(
    client: AsyncTestClient[Any] | httpx.AsyncClient,
    secret: str,
    body: dict[str, Any] | bytes,
    **headers: str,
) -> httpx.Response:
    import json

    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await client.post(
        "/api/v1/checkout/sessions",
        content=raw,
        headers=bearer(secret, **{"Content-Type": "application/json", **headers}),
    )


async def counts(sessionmaker: Any) -> dict[str, int]:
    async with sessionmaker() as session:
        return {
            model.__tablename__: int(
                await session.scalar(sa.select(sa.func.count()).select_from(model))
            )
            for model in TABLES
        }
