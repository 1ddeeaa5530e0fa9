"""The whole product, for the suites that run it as a merchant would: anvil with TestUSDT,
`stablecheckout serve` processes watching it (each with its own SQLite database and config), the
merchant's HTTP endpoint on loopback, and API keys made by the CLI. tests/sdk, tests/dialects and
tests/dialects/md5 build their module fixtures from `running_stack`; `Receiver` is also the
webhook endpoint of the sessions browser flow.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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
from tests.conftest import (
    REPO,
    ServerProcess,
    free_port,
    settings_dict,
    start_server,
    unavailable,
    write_config,
)
from tests.watchers.conftest import PAYER, PAYER_FUNDS


@dataclass
class Received:
    method: str
    path: str
    """Path with its query string, as sent."""
    headers: dict[str, str]
    """Lower-cased names."""
    body: bytes
    at: float

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON (an Epay GET has no body)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass
class Receiver:
    """The merchant's endpoint: records every request; replies per path from `replies` (the first
    unused entry; the last one repeats), by default 200 `ok`, which every webhook format the
    server sends counts as delivered (Epusdt and Epay read the body)."""

    port: int = field(default_factory=free_port)
    requests: list[Received] = field(default_factory=list)
    replies: dict[str, list[tuple[int, bytes]]] = field(default_factory=dict)
    server: ThreadingHTTPServer | None = None

    def url(self, path: str = "/hooks") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.requests.append(
                    Received(self.command, self.path, headers, body, time.monotonic())
                )
                script = receiver.replies.get(self.path.split("?")[0], [(200, b"ok")])
                status, reply = script.pop(0) if len(script) > 1 else script[0]
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def to(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path.split("?")[0] == path]

    def events(self, event_type: str) -> list[tuple[dict[str, str], bytes]]:
        """Headers and body of the JSON requests whose `type` is `event_type`."""
        return [
            (r.headers, r.body)
            for r in self.requests
            if isinstance(r.json(), dict) and r.json().get("type") == event_type
        ]

    async def wait_for(
        self, predicate: Callable[[Any], bool], timeout: float = 30.0
    ) -> tuple[dict[str, str], bytes]:
        """Headers and body of the first request whose JSON body satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for request in list(self.requests):
                data = request.json()
                if isinstance(data, dict) and predicate(data):
                    return request.headers, request.body
            await asyncio.sleep(0.1)
        raise AssertionError(f"no matching webhook within {timeout} s: {self.requests!r}")

    async def wait_for_path(self, path: str, count: int, timeout: float = 60.0) -> list[Received]:
        """The requests to `path` once there are at least `count` of them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.to(path)) >= count:
                return self.to(path)
            await asyncio.sleep(0.1)
        raise AssertionError(f"fewer than {count} requests to {path}: {self.requests!r}")


def create_api_key(config: Path, database_url: str, *, test: bool = True) -> str:
    """`stablecheckout admin api-keys create [--test]`, as an operator runs it; the new key."""
    made = subprocess.run(
        [sys.executable, "-m", "app.cli", "admin", "api-keys", "create"]
        + (["--test"] if test else [])
        + ["-c", str(config)],
        cwd=REPO,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return made.stdout.splitlines()[-1]


@dataclass
class Stack:
    """A chain, the servers watching it, the merchant's endpoint and secret."""

    anvil: AnvilProcess
    w3: AsyncWeb3[Any]
    token: str
    hooks: Receiver
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
        return create_api_key(config, database_url, test=test)

    async def mine(self, blocks: int = 1) -> None:
        await mine(self.w3, blocks)

    async def pay(self, wallet: str, base_units: int | str) -> str:
        """The shopper's transfer of `base_units` to `wallet`, then two blocks; the tx hash."""
        tx = await transfer_tokens(self.w3, self.token, wallet, int(base_units), sender=PAYER)
        await self.mine(2)
        return tx


@contextlib.asynccontextmanager
async def running_stack(
    workdir: Path, hooks: Receiver | None = None, merchant_secret: str | None = None
) -> AsyncIterator[Stack]:
    """Anvil with TestUSDT (the payer funded) and `hooks` listening; start servers with
    `Stack.start_server`. Everything is stopped on exit. Skips (or fails in CI) without anvil."""
    try:
        binary = find_anvil()
    except AnvilNotFoundError as exc:
        unavailable(str(exc))
        raise
    hooks = hooks or Receiver()
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
