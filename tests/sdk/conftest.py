"""One real stack per test module for the SDK suites: anvil with TestUSDT, a `stablecheckout
serve` that watches it, a merchant webhook receiver on loopback, a test API key made by the CLI,
and long random secrets (a merchant secret and a separate `whsec_` session webhook secret)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from web3 import AsyncHTTPProvider, AsyncWeb3

from devkit.chain.anvil import AnvilNotFoundError, AnvilProcess, deploy_token, find_anvil, mine
from devkit.harness import HookReceiver, create_api_key
from tests.conftest import (
    ServerProcess,
    settings_dict,
    start_server,
    unavailable,
    write_config,
)
from tests.watchers.conftest import ANVIL_ACCOUNTS, PAYER, PAYER_FUNDS, WALLET

SHOP_HOST = "shop.test"
TEST_WALLET = ANVIL_ACCOUNTS[6]


@dataclass
class Stack:
    server: ServerProcess
    anvil: AnvilProcess
    w3: AsyncWeb3[Any]
    token: str
    hooks: HookReceiver
    merchant_secret: str
    session_secret: str
    api_key: str
    config: Path

    async def mine(self, blocks: int = 1) -> None:
        await mine(self.w3, blocks)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    try:
        binary = find_anvil()
    except AnvilNotFoundError as exc:
        unavailable(str(exc))
        raise
    tmp_path = tmp_path_factory.mktemp("sdk")
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'sdk.db'}"
    merchant_secret = secrets.token_urlsafe(36)
    session_secret = "whsec_" + secrets.token_urlsafe(32)
    hooks = HookReceiver()
    hooks.start()
    async with AnvilProcess(binary=binary) as node:
        w3: AsyncWeb3[Any] = AsyncWeb3(AsyncHTTPProvider(node.http_url))
        token = await deploy_token(w3, mint={PAYER: PAYER_FUNDS})
        data = settings_dict(
            database_url,
            merchant={"secret": merchant_secret, "allowed_origins": ["http://127.0.0.1:3000"]},
            chains={
                "eth": {
                    "rpc_urls": [node.ws_url],
                    "confirmations": 2,
                    "chain_id": 31337,
                    "tokens": {"USDT": {"contract": token, "decimals": 6}},
                }
            },
            checkout_sessions={
                "redirect_allowed_hosts": [SHOP_HOST],
                "webhook_url": hooks.url("/session-hooks"),
                "webhook_secret": session_secret,
            },
            webhooks={"allow_private_targets": True},
        )
        data["wallets"] = [
            {"blockchain": "eth", "address": WALLET, "enabled_coins": ["USDT"]},
            # The API key is a test key: its sessions take amounts on a test-mode wallet only.
            {"blockchain": "eth", "address": TEST_WALLET, "enabled_coins": ["USDT"], "test": True},
        ]
        config = write_config(tmp_path / "config.toml", data)
        server = start_server(config, database_url, tmp_path / "serve.log")
        try:
            api_key = create_api_key(config, database_url, "--test")
            yield Stack(
                server,
                node,
                w3,
                token,
                hooks,
                merchant_secret,
                session_secret,
                api_key,
                config,
            )
        finally:
            server.stop()
            hooks.stop()
            await w3.provider.disconnect()
