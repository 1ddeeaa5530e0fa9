"""`stablecheckout dev`: the whole payment loop on one machine, in one process, in one command.

A local EVM chain (anvil, from npm) with 1-second blocks and a test USDT deployed from the
committed artifacts; the API, watchers, expiry sweeper and webhook sender on a fresh SQLite file;
the hosted checkout page with a test wallet; and a demo shop at `/demo` that buys through the
real Service API.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from web3 import AsyncHTTPProvider, AsyncWeb3

from app.checkout.routes import FRONTEND_DIR
from app.config import Settings, load_settings
from app.db import create_engine, create_sessionmaker, unit_of_work
from app.demo.pages import DEMO_CURRENCY, DEMO_EUR_PER_USDT
from app.demo.routes import DemoShop, demo_router
from app.devchain.anvil import ANVIL_ACCOUNTS, AnvilNotFoundError, AnvilProcess, deploy_token
from app.devchain.tron_simulator import TronSimulator
from app.main import create_app
from app.migrate import upgrade_to_head
from app.sessions.keys import create_api_key
from app.sessions.models import KeyMode

log = logging.getLogger("app.dev")

DEV_SECRET = "dev-merchant-secret"  # noqa: S105 - a local demo, printed on start
PAYER = ANVIL_ACCOUNTS[1]
SHOP_WALLET = ANVIL_ACCOUNTS[5]
PAYER_FUNDS = 1_000_000 * 10**6
TRON_SHOP_WALLET = "TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7"
TRON_PAYER = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"


def dev_settings(
    base_url: str, workdir: Path, rpc_url: str, token: str, tron_url: str, tron_token: str
) -> Settings:
    return load_settings(
        None,
        server={"listen": base_url.removeprefix("http://"), "public_url": base_url},
        admin={"secret": "dev-admin-secret"},
        merchant={"name": "Demo shop", "secret": DEV_SECRET, "allowed_origins": [base_url]},
        wallets=[
            {"blockchain": "eth", "address": SHOP_WALLET, "enabled_coins": ["USDT"]},
            {"blockchain": "tron", "address": TRON_SHOP_WALLET, "enabled_coins": ["USDT"]},
        ],
        chains={
            "eth": {
                "rpc_urls": [rpc_url],
                "confirmations": 2,
                "chain_id": 31337,
                "tokens": {"USDT": {"contract": token, "decimals": 6}},
            },
            "tron": {
                "api_urls": [tron_url],
                "confirmations": 0,
                "poll_interval_seconds": 1,
                "tokens": {"USDT": {"contract": tron_token, "decimals": 6}},
            },
        },
        orders={"ttl_seconds": 900},
        rates={"fixed": {f"USDT/{DEMO_CURRENCY}": DEMO_EUR_PER_USDT}, "usd_peg": True},
        webhooks={"allow_private_targets": True},
        checkout_sessions={
            "webhook_url": f"{base_url}/demo/session-webhooks",
            "redirect_allowed_hosts": [urlsplit(base_url).hostname],
        },
        checkout={
            "signature_refresh_url": f"{base_url}/demo/refresh-signature",
            "frontend_dir": str(_page_with_test_wallet(workdir)),
        },
        database_url=f"sqlite+aiosqlite:///{workdir / 'dev.db'}",
        redis_url=None,
    )


async def dev_api_key(settings: Settings) -> str:
    """A test-mode key for the demo's Checkout Sessions (test = this dev chain: nothing is real)."""
    engine = create_engine(settings.database_url)
    try:
        async with unit_of_work(create_sessionmaker(engine)) as session:
            _, secret = await create_api_key(session, KeyMode.TEST, "stablecheckout dev")
    finally:
        await engine.dispose()
    return secret


def _page_with_test_wallet(workdir: Path) -> Path:
    """The checkout page as shipped, with the dev test wallet loaded before the page's modules."""
    target = workdir / "checkout"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for item in FRONTEND_DIR.iterdir():
        if item.name != "index.html":
            (target / item.name).symlink_to(item)
    index = (FRONTEND_DIR / "index.html").read_text(encoding="utf-8")
    tag = '<script src="/demo/test-wallet.js"></script>'
    (target / "index.html").write_text(
        index.replace("<head>", f"<head>\n{tag}", 1), encoding="utf-8"
    )
    return target


def _fresh_directory(path: Path) -> None:
    """Every run starts a new chain, so it starts a new database too."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)


async def run_dev(host: str, port: int, workdir: Path) -> None:
    from watchers.registry import watcher_jobs

    base_url = f"http://{host}:{port}"
    _fresh_directory(workdir)
    tron: TronSimulator | None = None
    try:
        anvil = AnvilProcess(block_time=1)
        await anvil.start()
    except AnvilNotFoundError as exc:
        raise SystemExit(
            f"stablecheckout dev: {exc}\n  run `npm ci` (or `make dev`) first"
        ) from None
    try:
        w3: AsyncWeb3[Any] = AsyncWeb3(AsyncHTTPProvider(anvil.http_url))
        token = await deploy_token(w3, mint={PAYER: PAYER_FUNDS})
        await w3.provider.disconnect()
        tron = TronSimulator(solidify_lag=1)
        await tron.start()
        tron_token = tron.deploy_token()
        tron.start_producing(1.0)
        settings = dev_settings(base_url, workdir, anvil.ws_url, token, tron.url, tron_token)
        await upgrade_to_head(settings.database_url)
        api_key = await dev_api_key(settings)
        app = create_app(
            settings, run_jobs=True, extra_jobs=watcher_jobs, extra_routes=[demo_router()]
        )
        app.state.demo = DemoShop(
            base_url=base_url,
            rpc_url=anvil.http_url,
            payer=PAYER,
            token=token,
            tron=tron,
            tron_token=tron_token,
            tron_payer=TRON_PAYER,
            api_key=api_key,
        )
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                log_level="warning",
                access_log=False,
                ws="websockets-sansio",
                ws_per_message_deflate=False,
                timeout_graceful_shutdown=3,
            )
        )
        announcer = asyncio.create_task(
            _announce_when_listening(server, base_url, anvil, token, api_key)
        )
        await server.serve()
        announcer.cancel()
    finally:
        if tron is not None:
            await tron.close()
        await anvil.stop()
        print("stablecheckout dev: stopped", flush=True)


async def _announce_when_listening(
    server: uvicorn.Server, base_url: str, anvil: AnvilProcess, token: str, api_key: str
) -> None:
    """Print the URL only once it answers: scripts wait for this line."""
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes only a flag
        await asyncio.sleep(0.05)
    _announce(base_url, anvil, token, api_key)


def _announce(base_url: str, anvil: AnvilProcess, token: str, api_key: str) -> None:
    print(
        f"""
stablecheckout dev is running at {base_url}

  demo shop        {base_url}/demo        buy something, then press "Pay with browser wallet"
  checkout page    {base_url}/checkout/
  API schema       {base_url}/schema/swagger
  local chain      {anvil.http_url} (anvil, chain id 31337, 1 block/s)
  TRON simulator   java-tron HTTP API, 1 block/s (pay TRON checkouts from /demo)
  test USDT        {token}
  merchant secret  {DEV_SECRET}
  test API key     {api_key} (Checkout Sessions)

Press Ctrl-C to stop.
""",
        flush=True,
    )


def main(host: str, port: int, workdir: str) -> int:
    os.environ.pop("DATABASE_URL", None)
    loop = asyncio.new_event_loop()
    task = loop.create_task(run_dev(host, port, Path(workdir).resolve()))
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        loop.run_until_complete(task)
    except (KeyboardInterrupt, asyncio.CancelledError):
        loop.run_until_complete(asyncio.sleep(0))
    finally:
        loop.close()
    return 0
