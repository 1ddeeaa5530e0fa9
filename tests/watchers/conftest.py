"""Fixtures for chain-source tests: a real anvil node, the TestUSDT token on it, and a small real
JSON-RPC proxy (an HTTP server on 127.0.0.1) that can refuse large eth_getLogs ranges, hide fields,
or hang, the way hosted nodes do.

Anvil comes from `npm install` (package.json). Without it these tests skip with the reason shown,
unless STABLECHECKOUT_TEST_REQUIRE_SERVICES=1, which turns the skip into a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from web3 import AsyncHTTPProvider, AsyncWeb3

from app.chains import Coin
from devkit.chain.anvil import (
    ANVIL_ACCOUNTS,
    AnvilNotFoundError,
    AnvilProcess,
    deploy_token,
    find_anvil,
)
from watchers.evm import EvmSource

REQUIRE_SERVICES = os.environ.get("STABLECHECKOUT_TEST_REQUIRE_SERVICES") == "1"

PAYER = ANVIL_ACCOUNTS[1]
WALLET = ANVIL_ACCOUNTS[5]
"""Our receiving wallet."""
OTHER_WALLET = ANVIL_ACCOUNTS[6]
"""A second wallet of ours."""
STRANGER = ANVIL_ACCOUNTS[7]
"""Not ours."""
PAYER_FUNDS = 10**15


def unavailable(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (STABLECHECKOUT_TEST_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def anvil_binary() -> Path:
    try:
        return find_anvil()
    except AnvilNotFoundError as exc:
        unavailable(str(exc))
        raise  # unreachable: unavailable() raises


@pytest.fixture
async def anvil(anvil_binary: Path) -> AsyncIterator[AnvilProcess]:
    async with AnvilProcess(binary=anvil_binary) as node:
        yield node


@pytest.fixture
async def w3(anvil: AnvilProcess) -> AsyncIterator[AsyncWeb3[Any]]:
    client: AsyncWeb3[Any] = AsyncWeb3(AsyncHTTPProvider(anvil.http_url))
    yield client
    await client.provider.disconnect()


@pytest.fixture
async def token(w3: AsyncWeb3[Any]) -> str:
    """TestUSDT deployed from the committed artifacts, with PAYER funded."""
    return await deploy_token(w3, mint={PAYER: PAYER_FUNDS})


SourceFactory = Callable[..., EvmSource]


@pytest.fixture
async def make_source(anvil: AnvilProcess, token: str) -> AsyncIterator[SourceFactory]:
    """Build EvmSources for our wallets and the token (overridable), closed after the test."""
    sources: list[EvmSource] = []

    def factory(
        rpc_urls: list[str] | None = None,
        *,
        tokens: dict[Coin | str, tuple[str, int]] | None = None,
        wallets: list[str] | None = None,
        **options: Any,
    ) -> EvmSource:
        options.setdefault("poll_interval", 0.2)
        options.setdefault("request_timeout", 5.0)
        source = EvmSource(
            "eth",
            rpc_urls or [anvil.http_url],
            tokens or {Coin.USDT: (token, 6)},
            wallets if wallets is not None else [WALLET, OTHER_WALLET],
            **options,
        )
        sources.append(source)
        return source

    yield factory
    for source in sources:
        await source.close()


# ---------------------------------------------------------------------------------------------
# A real JSON-RPC proxy


@dataclass
class GetLogsCall:
    span: int
    refused: bool


@dataclass
class RpcProxy:
    """Forwards JSON-RPC to `upstream`; refuses eth_getLogs over `max_span` blocks like Infura."""

    upstream: str
    max_span: int | None = None
    refusal: Callable[[int, int], dict[str, Any]] | None = None
    strip_block_timestamp: bool = False
    hang: bool = False
    get_logs: list[GetLogsCall] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    def refuse(self, low: int, high: int) -> dict[str, Any]:
        if self.refusal is not None:
            return self.refusal(low, high)
        return {"code": -32005, "message": "query returned more than 10000 results"}

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.methods.append(str(body.get("method")))
        if self.hang:
            await self._released.wait()  # never answer until the test ends
            raise web.HTTPServiceUnavailable()
        if body.get("method") == "eth_getLogs":
            query = body["params"][0]
            low, high = int(query["fromBlock"], 16), int(query["toBlock"], 16)
            span = high - low + 1
            refused = self.max_span is not None and span > self.max_span
            self.get_logs.append(GetLogsCall(span, refused))
            if refused:
                error = self.refuse(low, high)
                return web.json_response({"jsonrpc": "2.0", "id": body.get("id"), "error": error})
        assert self._session is not None
        async with self._session.post(self.upstream, json=body) as upstream:
            answer = await upstream.json()
        if self.strip_block_timestamp and body.get("method") == "eth_getLogs":
            for entry in answer.get("result") or []:
                entry.pop("blockTimestamp", None)
        return web.Response(text=json.dumps(answer), content_type="application/json")

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self._session = aiohttp.ClientSession()
        self.url = f"http://127.0.0.1:{port}/"
        return self.url

    async def stop(self) -> None:
        self._released.set()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._runner.cleanup(), 5)


ProxyFactory = Callable[..., Awaitable[RpcProxy]]


@pytest.fixture
async def rpc_proxy(anvil: AnvilProcess) -> AsyncIterator[ProxyFactory]:
    proxies: list[RpcProxy] = []

    async def factory(**options: Any) -> RpcProxy:
        proxy = RpcProxy(upstream=anvil.http_url, **options)
        await proxy.start()
        proxies.append(proxy)
        return proxy

    yield factory
    for proxy in proxies:
        await proxy.stop()
