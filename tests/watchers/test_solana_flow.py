"""Solana payments end to end: the real runner and matcher over both databases, against the local
Solana node. Detected at `confirmed`, paid at `finalized`; Solana Pay references; an abandoned
confirmed block; failed transactions.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from solders.keypair import Keypair

from app.chains import Blockchain, Coin
from app.config import Settings, load_settings
from app.db import create_engine, create_sessionmaker, unit_of_work
from app.http import Services
from app.models import RefundItem, Transfer
from app.orders.schemas import CreateOrderRequest
from app.orders.service import create_order
from app.payments.schemas import PaymentDetail
from app.payments.service import create_payment
from app.transfers.service import MatchRules
from devkit.chain.solana_simulator import SolanaSimulator
from tests.conftest import settings_dict
from tests.watchers.chainflow import ORDER_WEBHOOK, UNKNOWN_URL, Recorder, order_status
from watchers.runner import ChainRunner, RunnerOptions
from watchers.solana import SolanaSource

USDC = 10**6


@dataclass
class Flow:
    sim: SolanaSimulator
    settings: Settings
    services: Services
    recorder: Recorder
    source: SolanaSource
    runner: ChainRunner
    mint: str
    wallet: str
    payer: Keypair

    async def order(self, amount: str) -> PaymentDetail:
        async with unit_of_work(self.services.sessionmaker) as session:
            order = await create_order(
                session,
                self.settings,
                CreateOrderRequest(
                    order_id=f"m-{uuid.uuid4().hex[:8]}", amount=amount, webhook_url=ORDER_WEBHOOK
                ),
            )
            return await create_payment(
                session, self.settings, order.id, Blockchain.SOLANA, Coin.USDC
            )

    async def drain(self) -> None:
        for _ in range(20):
            if not await self.runner.step():
                return

    async def status(self, detail: PaymentDetail) -> str:
        return await order_status(self.services.sessionmaker, detail.order_id)

    async def transfers(self) -> list[Transfer]:
        async with self.services.sessionmaker() as session:
            return list(await session.scalars(sa.select(Transfer).order_by(Transfer.id)))


@pytest.fixture
async def flow(database_url: str) -> AsyncIterator[Flow]:
    async with SolanaSimulator(finality_lag=5) as sim:
        mint = sim.create_mint(6)
        payer = sim.keypair(mint, 10_000 * USDC)
        wallet = str(Keypair().pubkey())
        data = settings_dict(
            database_url,
            chains={
                "solana": {
                    "rpc_urls": [sim.url],
                    "tokens": {"USDC": {"contract": mint, "decimals": 6}},
                }
            },
            merchant={"unknown_transfer_webhook_url": UNKNOWN_URL},
        )
        data["wallets"] = [{"blockchain": "solana", "address": wallet, "enabled_coins": ["USDC"]}]
        settings = load_settings(None, **data)
        engine = create_engine(settings.database_url)
        recorder = Recorder()
        services = Services(settings, engine, create_sessionmaker(engine), recorder)
        source = SolanaSource.from_settings(
            "solana", settings.chains[Blockchain.SOLANA], settings.wallets
        )
        runner = ChainRunner(
            services,
            source,
            MatchRules.for_chain(settings, "solana"),
            "test",
            RunnerOptions(start_block=sim.ledger.confirmed + 1, max_scan_blocks=100_000),
        )
        try:
            yield Flow(sim, settings, services, recorder, source, runner, mint, wallet, payer)
        finally:
            await source.close()
            await engine.dispose()


def _query(uri: str) -> dict[str, str]:
    target, _, query = uri.partition("?")
    return {"target": target, **dict(p.split("=", 1) for p in query.split("&"))}


async def test_solana_pay_link_detected_at_confirmed_and_paid_at_finalized(flow: Flow) -> None:
    await flow.drain()  # seeds the cursor
    detail = await flow.order("12.50")
    assert (detail.amount, detail.amount_base_units, detail.decimals) == ("12.50", "12500000", 6)
    assert detail.reference is not None and detail.token_contract == flow.mint
    assert _query(detail.payment_uri) == {
        "target": f"solana:{flow.wallet}",
        "amount": "12.5",
        "spl-token": flow.mint,
        "reference": detail.reference,
    }
    signature = flow.sim.transfer(
        flow.payer, flow.wallet, flow.mint, 12_500_000, references=(detail.reference,)
    )
    slot = flow.sim.produce()[0].slot
    await flow.drain()
    assert await flow.status(detail) == "pending"
    [stored] = await flow.transfers()
    assert (stored.tx_hash, stored.block_number, stored.to_address) == (
        signature,
        slot,
        flow.wallet,
    )
    pushed = flow.recorder.for_order(detail.order_id)
    assert pushed and pushed[-1]["order"]["transfer"]["tx_hash"] == signature
    assert pushed[-1]["order"]["required_confirmations"] == 32

    flow.sim.produce(4)  # finalized is now slot - 1: still not final
    await flow.drain()
    assert await flow.status(detail) == "pending"
    flow.sim.produce()
    await flow.drain()
    assert flow.sim.ledger.finalized >= slot
    assert await flow.status(detail) == "paid"


async def test_a_reference_beats_the_amount_and_no_reference_uses_the_amount(flow: Flow) -> None:
    await flow.drain()
    first = await flow.order("20")
    second = await flow.order("20")
    assert second.amount == "20.0001" and first.reference != second.reference
    assert second.reference is not None
    # `first`'s exact amount, but carrying `second`'s reference: it belongs to `second`, and pays
    # it (the order's amount is 20; the uniqueness step is not owed, issue 16).
    flow.sim.transfer(flow.payer, flow.wallet, flow.mint, 20 * USDC, references=(second.reference,))
    flow.sim.produce()
    # An exchange withdrawal: no reference, the unique amount decides: `second` again, a repeat.
    flow.sim.transfer(flow.payer, flow.wallet, flow.mint, 20_000_100)
    flow.sim.produce(7)
    await flow.drain()
    assert await flow.status(first) == "pending"
    assert await flow.status(second) == "paid"
    by_amount = {t.amount: t for t in await flow.transfers()}
    named, repeat = by_amount[20 * USDC], by_amount[20_000_100]
    assert (named.status, named.order_id, named.exception) == ("matched", second.order_id, None)
    assert (repeat.status, repeat.order_id, repeat.exception) == (
        "no_matched_deposit",
        second.order_id,
        "duplicate",
    )

    third = await flow.order("5")
    assert third.reference is not None
    flow.sim.transfer(flow.payer, flow.wallet, flow.mint, 6 * USDC, references=(third.reference,))
    flow.sim.produce(7)
    await flow.drain()
    assert await flow.status(third) == "paid"  # more than asked, named by its reference
    async with flow.services.sessionmaker() as session:
        items = (await session.execute(sa.select(RefundItem.kind, RefundItem.amount))).all()
    assert sorted(items) == [("duplicate", 20_000_100), ("overpaid", 1 * USDC)]


async def test_a_short_payment_named_by_its_reference_asks_for_the_rest(flow: Flow) -> None:
    """A reference attributes whatever the amount: half the price is a part, the order asks for
    the rest with a fresh deposit (its own reference), and paying that pays the order."""
    await flow.drain()
    detail = await flow.order("20")
    flow.sim.transfer(flow.payer, flow.wallet, flow.mint, 8 * USDC, references=(detail.reference,))
    flow.sim.produce(7)
    await flow.drain()
    assert await flow.status(detail) == "pending"
    async with unit_of_work(flow.services.sessionmaker) as session:
        rest = await create_payment(
            session, flow.settings, detail.order_id, Blockchain.SOLANA, Coin.USDC
        )
    assert rest.amount_base_units == str(12 * USDC)
    assert rest.reference is not None and rest.reference != detail.reference
    pushed = flow.recorder.for_order(detail.order_id)[-1]["order"]
    assert (pushed["amount_received"], pushed["amount_due"]) == ("8", "12")
    assert pushed["payment"]["amount_base_units"] == str(12 * USDC)
    flow.sim.transfer(flow.payer, flow.wallet, flow.mint, 12 * USDC, references=(rest.reference,))
    flow.sim.produce(7)
    await flow.drain()
    assert await flow.status(detail) == "paid"
    assert [(t.status, t.exception) for t in await flow.transfers()] == [
        ("matched", "partial"),
        ("matched", "partial"),
    ]


async def test_an_abandoned_confirmed_block_never_pays(flow: Flow) -> None:
    await flow.drain()
    detail = await flow.order("7")
    flow.sim.transfer(flow.payer, flow.wallet, flow.mint, 7 * USDC)
    doomed = flow.sim.produce()[0]
    await flow.drain()
    [seen] = await flow.transfers()
    assert seen.status == "waiting_for_confirmation" and seen.deposit_id is not None
    flow.sim.abandon(doomed.slot)
    flow.sim.produce(8)
    await flow.drain()
    [gone] = await flow.transfers()
    assert gone.status == "orphaned" and gone.deposit_id is None
    assert await flow.status(detail) == "pending"


async def test_failed_transactions_pay_nothing(flow: Flow, caplog: Any) -> None:
    await flow.drain()
    detail = await flow.order("3")
    flow.sim.transfer(flow.payer, flow.wallet, flow.mint, 3 * USDC, fail=True)
    flow.sim.produce(7)
    await flow.drain()
    assert await flow.transfers() == []
    assert await flow.status(detail) == "pending"
