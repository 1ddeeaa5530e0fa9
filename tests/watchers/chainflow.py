"""Shared helpers for the watcher tests that drive payments end to end on a real anvil.

Two ways to run the watcher:

* in-process: `harness(...)` builds the real `EvmSource` and `ChainRunner` over a real database and
  lets a test call `runner.step()` (or run the loop) itself, recording every page push;
* as real processes: `WatchProcess` starts `python -m app.cli watch -c CONFIG` with DATABASE_URL
  in the environment, and can `kill -9` it.

Orders and their deposits are made by the same service functions the API routes call.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import root
from app.chains import Blockchain, Coin
from app.config import Settings, load_settings
from app.db import unit_of_work
from app.http import Services
from app.leases import Lease
from app.models import Order, Transfer, WebhookEvent
from app.orders.schemas import CreateOrderRequest
from app.orders.service import create_order
from app.payments.service import create_payment
from app.transfers.service import MatchRules
from devkit.harness import AppProcess
from tests.conftest import settings_dict
from tests.watchers.conftest import WALLET
from watchers.base import ChainSource
from watchers.evm import EvmSource
from watchers.runner import ChainRunner, RunnerOptions

UNKNOWN_URL = "https://shop.example.com/unknown"
ORDER_WEBHOOK = "https://shop.example.com/webhooks/ocrch"


def chain_config(
    database_url: str,
    rpc_urls: list[str],
    token: str,
    *,
    confirmations: int = 2,
    wallet: str = WALLET,
    chain: dict[str, Any] | None = None,
    **sections: Any,
) -> dict[str, Any]:
    """A whole config (as a dict) whose `[chains.eth]` points at anvil and our TestUSDT."""
    eth: dict[str, Any] = {
        "rpc_urls": rpc_urls,
        "confirmations": confirmations,
        "chain_id": 31337,
        "tokens": {"USDT": {"contract": token, "decimals": 6}},
    }
    eth.update(chain or {})
    sections.setdefault("merchant", {"unknown_transfer_webhook_url": UNKNOWN_URL})
    data = settings_dict(database_url, chains={"eth": eth}, **sections)
    data["wallets"] = [{"blockchain": "eth", "address": wallet, "enabled_coins": ["USDT"]}]
    return data


class Recorder:
    """A publisher that keeps what would have been pushed to pages (JSON round-tripped)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        self.messages.append((channel, json.loads(json.dumps(message))))

    def for_order(self, order_id: uuid.UUID | str) -> list[dict[str, Any]]:
        return [m for c, m in self.messages if c == f"order:{order_id}"]


async def open_order(
    db: async_sessionmaker[AsyncSession],
    settings: Settings,
    amount: str,
    *,
    merchant_order_id: str | None = None,
) -> tuple[uuid.UUID, int]:
    """A pending order with a USDT-on-eth deposit; returns (order id, exact base units to pay)."""
    async with unit_of_work(db) as session:
        order = await create_order(
            session,
            settings,
            CreateOrderRequest(
                order_id=merchant_order_id or f"m-{uuid.uuid4().hex[:12]}",
                amount=amount,
                webhook_url=ORDER_WEBHOOK,
            ),
        )
        detail = await create_payment(session, settings, order.id, Blockchain.ETH, Coin.USDT)
    return order.id, int(detail.amount_base_units)


async def order_status(db: async_sessionmaker[AsyncSession], order_id: uuid.UUID) -> str:
    async with db() as session:
        return str(await session.scalar(sa.select(Order.status).where(Order.id == order_id)))


async def all_transfers(db: async_sessionmaker[AsyncSession]) -> list[Transfer]:
    async with db() as session:
        rows = await session.scalars(
            sa.select(Transfer).order_by(Transfer.block_number, Transfer.log_index)
        )
        return list(rows)


async def all_events(db: async_sessionmaker[AsyncSession]) -> list[WebhookEvent]:
    async with db() as session:
        return list(await session.scalars(sa.select(WebhookEvent).order_by(WebhookEvent.id)))


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float, what: str, interval: float = 0.1
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if await check():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(interval)


@dataclass
class Harness:
    """One chain's runner in this process over a real database, driven by the test."""

    settings: Settings
    services: Services
    db: async_sessionmaker[AsyncSession]
    recorder: Recorder
    source: ChainSource
    runner: ChainRunner
    extra: list[Any] = field(default_factory=list)

    async def drain(self) -> None:
        """Step until the runner has nothing more to do right away."""
        for _ in range(100):
            if not await self.runner.step():
                return
        raise AssertionError("runner never settled")

    async def open_order(self, amount: str) -> tuple[uuid.UUID, int]:
        return await open_order(self.db, self.settings, amount)

    async def status(self, order_id: uuid.UUID) -> str:
        return await order_status(self.db, order_id)

    async def transfers(self) -> list[Transfer]:
        return await all_transfers(self.db)

    async def events(self) -> list[WebhookEvent]:
        return await all_events(self.db)


@asynccontextmanager
async def harness(
    database_url: str,
    rpc_urls: list[str],
    token: str,
    *,
    confirmations: int = 2,
    options: RunnerOptions | None = None,
    wrap: Callable[[EvmSource], ChainSource] | None = None,
    source_options: dict[str, Any] | None = None,
    **sections: Any,
) -> AsyncIterator[Harness]:
    settings = load_settings(
        None,
        **chain_config(database_url, rpc_urls, token, confirmations=confirmations, **sections),
    )
    recorder = Recorder()
    services = root.services(settings, recorder)  # the composition root, as `watch` builds it
    engine = services.engine
    evm = EvmSource.from_settings(
        "eth", settings.chains[Blockchain.ETH], settings.wallets, **(source_options or {})
    )
    source: ChainSource = wrap(evm) if wrap is not None else evm
    runner = ChainRunner(
        services,
        source,
        MatchRules.for_chain(settings, "eth"),
        holder="test-runner",
        options=options or RunnerOptions(),
    )
    try:
        yield Harness(settings, services, services.sessionmaker, recorder, source, runner)
    finally:
        await evm.close()
        await engine.dispose()


# ---------------------------------------------------------------------------------------------
# Real `stablecheckout watch` processes


class WatchProcess(AppProcess):
    """`python -m app.cli watch -c CONFIG` on a database given by DATABASE_URL, started at once."""

    def __init__(self, config: Path, database_url: str, log_path: Path) -> None:
        argv = ["watch", "-c", str(config)]
        super().__init__("watch", argv, log_path, env={"DATABASE_URL": database_url}, banner=False)
        self.start()


async def lease_holder(db: async_sessionmaker[AsyncSession], name: str) -> Lease | None:
    async with db() as session:
        lease: Lease | None = await session.get(Lease, name, populate_existing=True)
        if lease is not None:
            session.expunge(lease)
        return lease


def holder_pid(holder: str) -> int:
    """The pid inside a `host:pid:random` lease holder id (app.jobs.holder_id)."""
    return int(holder.split(":")[-2])
