"""Fixtures for the dialect tests: the Checkout Sessions fixtures (API keys made as `admin
api-keys create` makes them) for in-process tests, and one real stack per module for the seeds'
own integration code (tests/stack.py): anvil with TestUSDT, a `stablecheckout serve` watching it
with `[dialects.opencheckout]`, `[dialects.ovgc]` and `[webhooks].format = "seed002"`, a webhook
receiver on loopback, and a test API key made by the CLI."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from devkit.hooks import HookReceiver
from tests.sessions.conftest import api_keys, sdb  # noqa: F401 - fixtures used by name
from tests.stack import Stack, running_stack
from tests.watchers.conftest import OTHER_WALLET, WALLET

SEED_HOSTS = ["yourstore.com", "yoursite.com"]
"""Where the seeds' guides send shoppers back."""
OPENCHECKOUT_SECRET = "whsec_" + secrets.token_urlsafe(32)
OVGC_SECRET = "whsec_" + secrets.token_urlsafe(32)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def seed_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    hooks = HookReceiver()
    async with running_stack(tmp_path_factory.mktemp("dialects"), hooks) as stack:
        stack.start_server(
            "serve",
            wallets=[
                {"blockchain": "eth", "address": WALLET, "enabled_coins": ["USDT"], "test": True},
                {"blockchain": "eth", "address": OTHER_WALLET, "enabled_coins": ["USDT"]},
            ],
            checkout_sessions={"redirect_allowed_hosts": SEED_HOSTS},
            dialects={
                "opencheckout": {
                    "webhook_url": hooks.url("/webhooks/opencheckout"),
                    "webhook_secret": OPENCHECKOUT_SECRET,
                },
                "ovgc": {"webhook_url": hooks.url("/webhooks/ovgc"), "webhook_secret": OVGC_SECRET},
            },
            webhooks={"format": "seed002"},
        )
        stack.api_key = stack.make_api_key()
        yield stack
