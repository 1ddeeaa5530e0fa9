"""`stablecheckout dev`: the whole payment loop on one machine, in one process, in one command.

A local EVM chain (anvil, from npm) with 1-second blocks and a test USDT deployed from the
committed artifacts, a second one with chain id 56 standing for BNB Smart Chain, and the TRON and
Solana simulators; the API, watchers, expiry sweeper and webhook sender on a fresh SQLite file;
the hosted checkout page with a test wallet; and a demo shop at `/demo` that buys through the
real Service API.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from web3 import AsyncHTTPProvider, AsyncWeb3

from app import root
from app.checkout.routes import FRONTEND_DIR
from app.config import Settings, load_settings
from app.migrate import upgrade_to_head
from app.secret_policy import new_secret
from app.serving import uvicorn_options
from app.sessions.keys import create_api_key
from app.sessions.models import KeyMode
from devkit.chain.anvil import ANVIL_ACCOUNTS, AnvilNotFoundError, AnvilProcess, deploy_token
from devkit.chain.solana_simulator import SolanaSimulator
from devkit.chain.tron_simulator import TronSimulator
from devkit.demo.pages import DEMO_CURRENCY, DEMO_EUR_PER_USDT
from devkit.demo.routes import DemoShop, demo_router

log = logging.getLogger("app.dev")

PAYER = ANVIL_ACCOUNTS[1]
SHOP_WALLET = ANVIL_ACCOUNTS[5]
PAYER_FUNDS = 1_000_000 * 10**6
TRON_SHOP_WALLET = "TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7"
TEST_SHOP_WALLET = ANVIL_ACCOUNTS[6]
TRON_TEST_SHOP_WALLET = "TGkWdpawVNfeset3P6uTBbLaPY7nZVZvXY"
TRON_PAYER = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"
SOLANA_SHOP_WALLET = "HvwC9QSAzvGXhhVrgPmauVwFWcYZhne3hVot9EbHuFTm"
BSC_DECIMALS = 18
"""The BSC stand-in's TestUSDT is configured as 18 decimals, as BSC-USD is."""


def extra_chains(solana_urls: list[str], bsc_rpc_url: str, bsc_token: str) -> dict[str, Any]:
    """Wallets and `[chains]` entries for the Solana simulator and the BSC stand-in (chain 56)."""
    return {
        "wallets": [
            {"blockchain": "solana", "address": SOLANA_SHOP_WALLET, "enabled_coins": ["USDC"]},
            {"blockchain": "bsc", "address": SHOP_WALLET, "enabled_coins": ["USDT"]},
        ],
        "chains": {
            # The simulator's mint is mainnet USDC's address: links show the real spl-token.
            "solana": {"rpc_urls": solana_urls, "poll_interval_seconds": 1},
            "bsc": {
                "rpc_urls": [bsc_rpc_url],
                "confirmations": 2,
                "tokens": {"USDT": {"contract": bsc_token, "decimals": BSC_DECIMALS}},
            },
        },
    }


@dataclass(frozen=True)
class DevSecrets:
    """Fresh on every start and printed in the banner: a demo must not teach fixed secrets."""

    merchant: str = field(default_factory=new_secret)
    admin: str = field(default_factory=new_secret)
    session_webhooks: str = field(default_factory=lambda: new_secret(webhook=True))
    opencheckout_webhooks: str = field(default_factory=lambda: new_secret(webhook=True))
    ovgc_webhooks: str = field(default_factory=lambda: new_secret(webhook=True))


def dev_settings(
    base_url: str,
    workdir: Path,
    rpc_url: str,
    token: str,
    tron_url: str,
    tron_token: str,
    secrets: DevSecrets,
    extra: dict[str, Any] | None = None,
) -> Settings:
    extra = extra or {"wallets": [], "chains": {}}
    return load_settings(
        None,
        server={"listen": base_url.removeprefix("http://"), "public_url": base_url},
        admin={"secret": secrets.admin},
        merchant={"name": "Demo shop", "secret": secrets.merchant, "allowed_origins": [base_url]},
        wallets=[
            {"blockchain": "eth", "address": SHOP_WALLET, "enabled_coins": ["USDT"]},
            {"blockchain": "tron", "address": TRON_SHOP_WALLET, "enabled_coins": ["USDT"]},
            # The demo's Checkout Sessions use a test key: their amounts live apart.
            {
                "blockchain": "eth",
                "address": TEST_SHOP_WALLET,
                "enabled_coins": ["USDT"],
                "test": True,
            },
            {
                "blockchain": "tron",
                "address": TRON_TEST_SHOP_WALLET,
                "enabled_coins": ["USDT"],
                "test": True,
            },
            *extra["wallets"],
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
            **extra["chains"],
        },
        orders={"ttl_seconds": 900},
        rates={
            "fixed": {f"{coin}/{DEMO_CURRENCY}": DEMO_EUR_PER_USDT for coin in ("USDT", "USDC")},
            "usd_peg": True,
        },
        webhooks={"allow_private_targets": True},
        checkout_sessions={
            "webhook_url": f"{base_url}/demo/session-webhooks",
            "webhook_secret": secrets.session_webhooks,
            "redirect_allowed_hosts": [urlsplit(base_url).hostname],
        },
        dialects={
            "opencheckout": {
                "webhook_url": f"{base_url}/demo/opencheckout-webhooks",
                "webhook_secret": secrets.opencheckout_webhooks,
            },
            "ovgc": {
                "webhook_url": f"{base_url}/demo/ovgc-webhooks",
                "webhook_secret": secrets.ovgc_webhooks,
            },
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
    async with root.one_transaction(settings) as session:
        _, secret = await create_api_key(session, KeyMode.TEST, "stablecheckout dev")
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
    base_url = f"http://{host}:{port}"
    _fresh_directory(workdir)
    tron: TronSimulator | None = None
    solana: SolanaSimulator | None = None
    bsc: AnvilProcess | None = None
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
        secrets = DevSecrets()
        solana = SolanaSimulator(finality_lag=8)
        await solana.start()
        usdc = solana.create_mint(6, "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v")
        solana_payer = solana.keypair(usdc, PAYER_FUNDS)
        solana.start_producing(0.4)
        bsc = AnvilProcess(block_time=1, chain_id=56)
        await bsc.start()
        w3 = AsyncWeb3(AsyncHTTPProvider(bsc.http_url))
        bsc_token = await deploy_token(w3, mint={PAYER: PAYER_FUNDS * 10**12})
        await w3.provider.disconnect()
        extra = extra_chains([solana.url, solana.ws_url], bsc.ws_url, bsc_token)
        settings = dev_settings(
            base_url, workdir, anvil.ws_url, token, tron.url, tron_token, secrets, extra
        )
        await upgrade_to_head(settings.database_url)
        api_key = await dev_api_key(settings)
        app = root.web_app(settings, run_jobs=True, extra_routes=[demo_router()])
        app.state.demo = DemoShop(
            base_url=base_url,
            rpc_url=anvil.http_url,
            payer=PAYER,
            token=token,
            tron=tron,
            tron_token=tron_token,
            tron_payer=TRON_PAYER,
            api_key=api_key,
            solana=solana,
            solana_payer=solana_payer,
            solana_mints={"USDC": usdc},
            bsc_rpc_url=bsc.http_url,
            bsc_token=bsc_token,
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
                **uvicorn_options(settings),
            )
        )
        announcer = asyncio.create_task(
            _announce_when_listening(server, base_url, anvil, token, api_key, secrets)
        )
        await server.serve()
        announcer.cancel()
    finally:
        if tron is not None:
            await tron.close()
        if solana is not None:
            await solana.close()
        if bsc is not None:
            await bsc.stop()
        await anvil.stop()
        print("stablecheckout dev: stopped", flush=True)


async def _announce_when_listening(
    server: uvicorn.Server,
    base_url: str,
    anvil: AnvilProcess,
    token: str,
    api_key: str,
    secrets: DevSecrets,
) -> None:
    """Print the URL only once it answers: scripts wait for this line."""
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes only a flag
        await asyncio.sleep(0.05)
    _announce(base_url, anvil, token, api_key, secrets)


def _announce(
    base_url: str, anvil: AnvilProcess, token: str, api_key: str, secrets: DevSecrets
) -> None:
    print(
        f"""
stablecheckout dev is running at {base_url}

  demo shop        {base_url}/demo        buy something, then press "Pay with browser wallet"
                   (or, on /demo, "pay short", "pay twice", "pay late": payments gone wrong)
  checkout page    {base_url}/checkout/
  API schema       {base_url}/schema/swagger
  local chain      {anvil.http_url} (anvil, chain id 31337, 1 block/s)
  TRON simulator   java-tron HTTP API, 1 block/s (pay TRON checkouts from /demo)
  Solana simulator Solana JSON-RPC, 2.5 slots/s, USDC with Solana Pay links (pay from /demo)
  BSC stand-in     a second anvil, chain id 56, 18-decimal USDT (pay from /demo)
  test USDT        {token}
  merchant secret  {secrets.merchant}
  admin secret     {secrets.admin}
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
