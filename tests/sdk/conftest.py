"""One real stack per test module for the SDK suites (tests/stack.py): anvil with TestUSDT, and
two `stablecheckout serve` processes watching it with long random secrets. The main server speaks
every API and sends every webhook format it has: Ocrch order webhooks, session events (a separate
`whsec_` secret), the OpenCheckout and OVGC dialects' events (secrets of their own) and the
Epusdt and Epay notify callbacks. `[webhooks].format = "seed002"` is a server-wide choice, so seed
002's callbacks come from a second server (`stack.servers["seed002"]`, its own wallet). A test API
key is made by the CLI; the merchant's endpoint listens on loopback."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from devkit.hooks import HookReceiver
from tests.stack import Stack, running_stack
from tests.watchers.conftest import ANVIL_ACCOUNTS, WALLET

SHOP_HOST = "shop.test"
TEST_WALLET = ANVIL_ACCOUNTS[6]
SEED002_WALLET = ANVIL_ACCOUNTS[8]
SESSION_SECRET = "whsec_" + secrets.token_urlsafe(32)
OPENCHECKOUT_SECRET = "whsec_" + secrets.token_urlsafe(32)
OVGC_SECRET = "whsec_" + secrets.token_urlsafe(32)
EPUSDT_TOKEN = "epusdt_" + secrets.token_hex(16)
EPAY_KEY = "epay_" + secrets.token_hex(16)
EPAY_PID = "1000"
CNY_PER_USDT = "7.20"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    hooks = HookReceiver()
    async with running_stack(tmp_path_factory.mktemp("sdk"), hooks) as stack:
        stack.start_server(
            "serve",
            wallets=[
                {"blockchain": "eth", "address": WALLET, "enabled_coins": ["USDT"]},
                # The API key is a test key: its sessions take amounts on a test-mode wallet only.
                {
                    "blockchain": "eth",
                    "address": TEST_WALLET,
                    "enabled_coins": ["USDT"],
                    "test": True,
                },
            ],
            merchant={"allowed_origins": ["http://127.0.0.1:3000"]},
            checkout_sessions={
                "redirect_allowed_hosts": [SHOP_HOST],
                "webhook_url": hooks.url("/session-hooks"),
                "webhook_secret": SESSION_SECRET,
            },
            dialects={
                "opencheckout": {
                    "webhook_url": hooks.url("/webhooks/opencheckout"),
                    "webhook_secret": OPENCHECKOUT_SECRET,
                },
                "ovgc": {"webhook_url": hooks.url("/webhooks/ovgc"), "webhook_secret": OVGC_SECRET},
            },
            rates={"fixed": {"USDT/CNY": CNY_PER_USDT}},
            epusdt={"enabled": True, "token": EPUSDT_TOKEN},
            epay={"enabled": True, "pid": EPAY_PID, "key": EPAY_KEY},
        )
        stack.start_server(
            "seed002",
            wallets=[{"blockchain": "eth", "address": SEED002_WALLET, "enabled_coins": ["USDT"]}],
            webhooks={"format": "seed002"},
        )
        stack.api_key = stack.make_api_key("serve")
        yield stack
