"""One real stack for the Epusdt and Epay (MD5) dialect suites: anvil with TestUSDT, a
`stablecheckout serve` watching it with `[epusdt]`, `[epay]` and a fixed USDT/CNY rate, and a
shop's notify endpoint on loopback that answers with scripted bodies (so a refused callback is
seen to be retried, an acked one not).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from web3 import AsyncHTTPProvider, AsyncWeb3

from devkit.chain.anvil import AnvilNotFoundError, AnvilProcess, deploy_token, find_anvil, mine
from devkit.harness import serve_http, stop_http
from tests.conftest import (
    ServerProcess,
    free_port,
    settings_dict,
    start_server,
    unavailable,
    write_config,
)
from tests.watchers.conftest import PAYER, PAYER_FUNDS, WALLET

EPUSDT_TOKEN = "epusdt_" + secrets.token_hex(16)
EPAY_KEY = "epay_" + secrets.token_hex(16)
EPAY_PID = "1000"


@dataclass
class Received:
    method: str
    path: str
    """Path with its query string, as sent."""
    body: bytes
    at: float


@dataclass
class Shop:
    """The shop's notify endpoint: records every request; replies per path from `replies`
    (first unused entry; the last one repeats), default 200 `ok`."""

    port: int = field(default_factory=free_port)
    requests: list[Received] = field(default_factory=list)
    replies: dict[str, list[tuple[int, bytes]]] = field(default_factory=dict)
    server: ThreadingHTTPServer | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        shop = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0") or 0))
                shop.requests.append(Received(self.command, self.path, body, time.monotonic()))
                script = shop.replies.get(self.path.split("?")[0], [(200, b"ok")])
                status, reply = script.pop(0) if len(script) > 1 else script[0]
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = serve_http(self.port, Handler)

    def stop(self) -> None:
        stop_http(self.server)

    def to(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path.split("?")[0] == path]

    async def wait_for(self, path: str, count: int, timeout: float = 60.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.to(path)) >= count:
                return self.to(path)
            await asyncio.sleep(0.1)
        raise AssertionError(f"fewer than {count} requests to {path}: {self.requests!r}")


@dataclass
class Stack:
    server: ServerProcess
    w3: AsyncWeb3[Any]
    token: str
    shop: Shop
    merchant_secret: str

    async def mine(self, blocks: int = 1) -> None:
        await mine(self.w3, blocks)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    try:
        binary = find_anvil()
    except AnvilNotFoundError as exc:
        unavailable(str(exc))
        raise
    tmp_path: Path = tmp_path_factory.mktemp("dialects")
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'dialects.db'}"
    shop = Shop()
    shop.start()
    async with AnvilProcess(binary=binary) as node:
        w3: AsyncWeb3[Any] = AsyncWeb3(AsyncHTTPProvider(node.http_url))
        token = await deploy_token(w3, mint={PAYER: PAYER_FUNDS})
        merchant_secret = secrets.token_urlsafe(36)
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
            webhooks={
                "allow_private_targets": True,
                "first_retry_seconds": 0.5,
                "max_retry_interval_seconds": 1.0,
            },
            rates={"fixed": {"USDT/CNY": "7.20"}},
            epusdt={"enabled": True, "token": EPUSDT_TOKEN},
            epay={"enabled": True, "pid": EPAY_PID, "key": EPAY_KEY},
        )
        data["wallets"] = [{"blockchain": "eth", "address": WALLET, "enabled_coins": ["USDT"]}]
        config = write_config(tmp_path / "config.toml", data)
        server = start_server(config, database_url, tmp_path / "serve.log")
        try:
            yield Stack(server, w3, token, shop, merchant_secret)
        finally:
            server.stop()
            shop.stop()
            await w3.provider.disconnect()


Predicate = Callable[[Received], bool]
