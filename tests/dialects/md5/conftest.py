"""One real stack for the Epusdt and Epay (MD5) dialect suites (tests/stack.py): anvil with
TestUSDT, a `stablecheckout serve` watching it with `[epusdt]`, `[epay]`, a fixed USDT/CNY rate and
fast webhook retries, and the shop's notify endpoint on loopback, whose replies the tests script
(so a refused callback is seen to be retried, an acked one not).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.stack import Stack, running_stack
from tests.watchers.conftest import WALLET

EPUSDT_TOKEN = "epusdt_" + secrets.token_hex(16)
EPAY_KEY = "epay_" + secrets.token_hex(16)
EPAY_PID = "1000"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path_factory.mktemp("dialects")) as stack:
        stack.start_server(
            "serve",
            wallets=[{"blockchain": "eth", "address": WALLET, "enabled_coins": ["USDT"]}],
            webhooks={"first_retry_seconds": 0.5, "max_retry_interval_seconds": 1.0},
            rates={"fixed": {"USDT/CNY": "7.20"}},
            epusdt={"enabled": True, "token": EPUSDT_TOKEN},
            epay={"enabled": True, "pid": EPAY_PID, "key": EPAY_KEY},
        )
        yield stack
