"""Helpers for the TRON end-to-end tests: the java-tron simulator, and the real TronSource and
ChainRunner over a real database, stepped by the test (as tests/watchers/test_payment_flow.py does
on anvil). Orders and deposits are made by the same service functions the API routes call."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import root
from app.chains import Blockchain, Coin
from app.config import Settings, load_settings
from app.db import unit_of_work
from app.http import Services
from app.models import Order, Transfer, WebhookEvent
from app.orders.schemas import CreateOrderRequest
from app.orders.service import create_order
from app.payments.schemas import PaymentDetail
from app.payments.service import create_payment
from app.transfers.service import MatchRules
from devkit.chain.tron_simulator import TronSimulator, sim_address
from tests.conftest import settings_dict
from watchers.runner import ChainRunner, RunnerOptions
from watchers.tron import TronSource

WALLET = sim_address("tests/our-wallet")
OTHER_WALLET = sim_address("tests/our-other-wallet")
PAYER = sim_address("tests/payer")
STRANGER = sim_address("tests/stranger")
UNKNOWN_URL = "https://shop.example.com/unknown"
ORDER_WEBHOOK = "https://shop.example.com/webhooks/ocrch"


class Recorder:
    """A publisher that keeps what would have been pushed to pages (JSON round-tripped)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        self.messages.append((channel, json.loads(json.dumps(message))))

    def for_order(self, order_id: uuid.UUID) -> list[dict[str, Any]]:
        return [m for c, m in self.messages if c == f"order:{order_id}"]


def tron_config(
    database_url: str,
    sim: TronSimulator,
    token: str,
    *,
    confirmations: int = 0,
    wallets: tuple[str, ...] = (WALLET,),
    api_key: str = "",
    extra_urls: tuple[str, ...] = (),
) -> dict[str, Any]:
    data = settings_dict(
        database_url,
        chains={
            "tron": {
                "api_urls": [*extra_urls, sim.url],
                "api_key": api_key,
                "confirmations": confirmations,
                "poll_interval_seconds": 0.2,
                "tokens": {"USDT": {"contract": token, "decimals": 6}},
            }
        },
        merchant={"unknown_transfer_webhook_url": UNKNOWN_URL},
    )
    data["wallets"] = [
        {"blockchain": "tron", "address": w, "enabled_coins": ["USDT"]} for w in wallets
    ]
    return data


@dataclass
class TronHarness:
    sim: TronSimulator
    token: str
    settings: Settings
    services: Services
    recorder: Recorder
    runner: ChainRunner
    sources: list[TronSource] = field(default_factory=list)

    @property
    def db(self) -> async_sessionmaker[AsyncSession]:
        return self.services.sessionmaker

    def new_runner(self, holder: str = "test-runner-2") -> ChainRunner:
        """A fresh source and runner on the same database: a restarted `watch` process."""
        source = TronSource.from_settings(
            Blockchain.TRON,
            self.settings.chains[Blockchain.TRON],
            self.settings.wallets,
            request_timeout=10.0,
            backoff_base=0.01,
        )
        self.sources.append(source)
        return ChainRunner(
            self.services,
            source,
            MatchRules.for_chain(self.settings, "tron"),
            holder=holder,
            options=RunnerOptions(),
        )

    async def drain(self, runner: ChainRunner | None = None) -> None:
        runner = runner or self.runner
        for _ in range(100):
            if not await runner.step():
                return
        raise AssertionError("runner never settled")

    async def open_order(self, amount: str) -> tuple[uuid.UUID, PaymentDetail]:
        async with unit_of_work(self.db) as session:
            order = await create_order(
                session,
                self.settings,
                CreateOrderRequest(
                    order_id=f"m-{uuid.uuid4().hex[:12]}", amount=amount, webhook_url=ORDER_WEBHOOK
                ),
            )
            detail = await create_payment(
                session, self.settings, order.id, Blockchain.TRON, Coin.USDT
            )
        return order.id, detail

    async def status(self, order_id: uuid.UUID) -> str:
        async with self.db() as session:
            return str(await session.scalar(sa.select(Order.status).where(Order.id == order_id)))

    async def transfers(self) -> list[Transfer]:
        async with self.db() as session:
            rows = await session.scalars(
                sa.select(Transfer).order_by(Transfer.block_number, Transfer.log_index)
            )
            return list(rows)

    async def events(self) -> list[WebhookEvent]:
        async with self.db() as session:
            return list(await session.scalars(sa.select(WebhookEvent).order_by(WebhookEvent.id)))

    async def paid_events(self) -> list[WebhookEvent]:
        return [e for e in await self.events() if e.payload.get("status") == "paid"]


@asynccontextmanager
async def tron_harness(
    database_url: str, sim: TronSimulator, token: str, **config: Any
) -> AsyncIterator[TronHarness]:
    settings = load_settings(None, **tron_config(database_url, sim, token, **config))
    recorder = Recorder()
    services = root.services(settings, recorder)  # the composition root, as `watch` builds it
    engine = services.engine
    harness = TronHarness(sim, token, settings, services, recorder, runner=None)  # type: ignore[arg-type]
    harness.runner = harness.new_runner("test-runner")
    try:
        yield harness
    finally:
        for source in harness.sources:
            await source.close()
        await engine.dispose()
