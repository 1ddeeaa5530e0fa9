"""Fixtures for the dialect tests: the Checkout Sessions fixtures (API keys made as `admin
api-keys create` makes them) for in-process tests, and one real stack per module for the seeds'
own integration code: anvil with TestUSDT, a `stablecheckout serve` watching it with
`[dialects.opencheckout]`, `[dialects.ovgc]` and `[webhooks].format = "seed002"`, a webhook
receiver on loopback, and a test API key made by the CLI (as tests/sdk does)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
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
from tests.sessions.conftest import api_keys, sdb  # noqa: F401 - fixtures used by name
from tests.watchers.conftest import OTHER_WALLET, PAYER, PAYER_FUNDS, WALLET

SEED_HOSTS = ["yourstore.com", "yoursite.com"]
"""Where the seeds' guides send shoppers back."""


@dataclass
class SeedStack:
    server: ServerProcess
    w3: AsyncWeb3[Any]
    token: str
    hooks: HookReceiver
    merchant_secret: str
    opencheckout_secret: str
    ovgc_secret: str
    api_key: str

    async def mine(self, blocks: int = 1) -> None:
        await mine(self.w3, blocks)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def seed_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SeedStack]:
    try:
        binary = find_anvil()
    except AnvilNotFoundError as exc:
        unavailable(str(exc))
        raise
    tmp_path = tmp_path_factory.mktemp("dialects")
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'dialects.db'}"
    merchant_secret = secrets.token_urlsafe(36)
    oc_secret = "whsec_" + secrets.token_urlsafe(32)
    ovgc_secret = "whsec_" + secrets.token_urlsafe(32)
    hooks = HookReceiver()
    hooks.start()
    async with AnvilProcess(binary=binary) as node:
        w3: AsyncWeb3[Any] = AsyncWeb3(AsyncHTTPProvider(node.http_url))
        token = await deploy_token(w3, mint={PAYER: PAYER_FUNDS})
        data = settings_dict(
            database_url,
            merchant={"secret": merchant_secret},
            chains={
                "eth": {
                    "rpc_urls": [node.ws_url],
                    "confirmations": 2,
                    "chain_id": 31337,
                    "tokens": {"USDT": {"contract": token, "decimals": 6}},
                }
            },
            checkout_sessions={"redirect_allowed_hosts": SEED_HOSTS},
            dialects={
                "opencheckout": {
                    "webhook_url": hooks.url("/webhooks/opencheckout"),
                    "webhook_secret": oc_secret,
                },
                "ovgc": {"webhook_url": hooks.url("/webhooks/ovgc"), "webhook_secret": ovgc_secret},
            },
            webhooks={"allow_private_targets": True, "format": "seed002"},
        )
        data["wallets"] = [
            {"blockchain": "eth", "address": WALLET, "enabled_coins": ["USDT"], "test": True},
            {"blockchain": "eth", "address": OTHER_WALLET, "enabled_coins": ["USDT"]},
        ]
        config = write_config(tmp_path / "config.toml", data)
        server = start_server(config, database_url, tmp_path / "serve.log")
        try:
            api_key = create_api_key(config, database_url, "--test")
            yield SeedStack(
                server,
                w3,
                token,
                hooks,
                merchant_secret,
                oc_secret,
                ovgc_secret,
                api_key,
            )
        finally:
            server.stop()
            hooks.stop()
            await w3.provider.disconnect()
