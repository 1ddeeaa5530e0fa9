"""The whole product, for the suites that run it as a merchant would: anvil with TestUSDT,
`stablecheckout serve` processes watching it (each with its own SQLite database and config), the
merchant's HTTP endpoint on loopback, and API keys made by the CLI. tests/sdk, tests/dialects and
tests/dialects/md5 build their module fixtures from `running_stack`; `HookReceiver` is also the
webhook endpoint of the sessions browser flow.

The pieces the benchmarks need too (the merchant's endpoint `HookReceiver`, `create_api_key`)
live in devkit/ (hooks.py, harness.py); this module only assembles them with anvil and `serve`.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from web3 import AsyncHTTPProvider, AsyncWeb3

from devkit.chain.anvil import (
    AnvilNotFoundError,
    AnvilProcess,
    deploy_token,
    find_anvil,
    mine,
    transfer_tokens,
)
from devkit.hooks import HookReceiver
from tests.conftest import (
    ServerProcess,
    settings_dict,
    start_server,
    unavailable,
    write_config,
)
from tests.in_process_cli import create_api_key
from tests.watchers.conftest import PAYER, PAYER_FUNDS


@dataclass
class Stack:
    """A chain, the servers watching it, the merchant's endpoint and secret."""

    anvil: AnvilProcess
    w3: AsyncWeb3[Any]
    token: str
    hooks: HookReceiver
    merchant_secret: str
    workdir: Path
    servers: dict[str, ServerProcess] = field(default_factory=dict)
    configs: dict[str, tuple[Path, str]] = field(default_factory=dict)
    """Each server's config file and database URL."""
    api_key: str = ""
    """A key the fixture made with `make_api_key`, when its tests need one."""

    @property
    def server(self) -> ServerProcess:
        """The first server started."""
        return next(iter(self.servers.values()))

    def start_server(
        self, name: str, wallets: list[dict[str, Any]], **sections: Any
    ) -> ServerProcess:
        """Another `serve` watching this chain, with its own database and config: the merchant
        secret, the chain `eth` with USDT, private webhook targets allowed, then `sections`."""
        database_url = f"sqlite+aiosqlite:///{self.workdir / f'{name}.db'}"
        merchant = {"secret": self.merchant_secret, **sections.pop("merchant", {})}
        webhooks = {"allow_private_targets": True, **sections.pop("webhooks", {})}
        chain = {
            "rpc_urls": [self.anvil.ws_url],
            "confirmations": 2,
            "chain_id": 31337,
            "tokens": {"USDT": {"contract": self.token, "decimals": 6}},
        }
        data = settings_dict(
            database_url, merchant=merchant, chains={"eth": chain}, webhooks=webhooks, **sections
        )
        data["wallets"] = wallets
        config = write_config(self.workdir / f"{name}.toml", data)
        server = start_server(config, database_url, self.workdir / f"{name}.log")
        self.servers[name] = server
        self.configs[name] = (config, database_url)
        return server

    def make_api_key(self, name: str | None = None, *, test: bool = True) -> str:
        """A new API key of server `name` (default the first)."""
        config, database_url = self.configs[name or next(iter(self.configs))]
        return create_api_key(config, database_url, *(["--test"] if test else []))

    async def mine(self, blocks: int = 1) -> None:
        await mine(self.w3, blocks)

    async def pay(self, wallet: str, base_units: int | str) -> str:
        """The shopper's transfer of `base_units` to `wallet`, then two blocks; the tx hash."""
        tx = await transfer_tokens(self.w3, self.token, wallet, int(base_units), sender=PAYER)
        await self.mine(2)
        return tx


@contextlib.asynccontextmanager
async def running_stack(
    workdir: Path, hooks: HookReceiver | None = None, merchant_secret: str | None = None
) -> AsyncIterator[Stack]:
    """Anvil with TestUSDT (the payer funded) and `hooks` listening; start servers with
    `Stack.start_server`. Everything is stopped on exit. Skips (or fails in CI) without anvil."""
    try:
        binary = find_anvil()
    except AnvilNotFoundError as exc:
        unavailable(str(exc))
        raise
    hooks = hooks or HookReceiver()
    hooks.start()
    try:
        async with AnvilProcess(binary=binary) as node:
            w3: AsyncWeb3[Any] = AsyncWeb3(AsyncHTTPProvider(node.http_url))
            try:
                token = await deploy_token(w3, mint={PAYER: PAYER_FUNDS})
                secret = merchant_secret or secrets.token_urlsafe(36)
                stack = Stack(node, w3, token, hooks, secret, workdir)
                try:
                    yield stack
                finally:
                    for server in stack.servers.values():
                        server.stop()
            finally:
                await w3.provider.disconnect()
    finally:
        hooks.stop()
