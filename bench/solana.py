"""Benchmark: Solana detection latency over the subscription path, and a 10,000-signature backlog.

    uv run python bench/solana.py           # 40 payments, 10,000-signature backlog
    uv run python bench/solana.py --quick   # 10 payments, 2,000 signatures

Both parts run the real `ChainRunner` with the real `SolanaSource` and matcher on a fresh database
(SQLite in a temporary directory, or PostgreSQL with --database-url), against the Solana simulator
(`devkit.chain.solana_simulator`) served on 127.0.0.1 in the same process.

Latency. The simulator produces a slot every 400 ms (mainnet's slot time); each block is
`confirmed` when produced and `finalized` 32 slots later (~12.8 s, as on mainnet). The runner holds
`logsSubscribe` (confirmed) on the shop's token account and `signatureSubscribe` (finalized) on each
payment, and polls every 2 s otherwise. One payment every 0.5 s, each with its deposit's Solana Pay
reference. Detection latency = the page push "detected" - the moment the simulator confirmed the
payment's block; paid latency = the push "paid" - the moment it finalized that block. Both are
`time.monotonic()` in one process.

Backlog. Before the runner starts, the shop's account already has N successful USDC transfers
(plus one failed transfer and one transfer to a stranger every 50) spread over N/20 slots. The
runner starts at the first of those slots and catches up: wall time, signatures per second, and the
number of transfers stored, which must be exactly N.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from solders.keypair import Keypair

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app.chains import Blockchain, Coin  # noqa: E402
from app.config import Settings, load_settings  # noqa: E402
from app.db import create_engine, create_sessionmaker, unit_of_work  # noqa: E402
from app.http import Services  # noqa: E402
from app.migrate import upgrade_to_head  # noqa: E402
from app.models import Transfer  # noqa: E402
from app.orders.schemas import CreateOrderRequest  # noqa: E402
from app.orders.service import create_order  # noqa: E402
from app.payments.service import create_payment  # noqa: E402
from app.transfers.service import MatchRules  # noqa: E402
from devkit.chain.solana_simulator import SolanaSimulator  # noqa: E402
from watchers.runner import ChainRunner, RunnerOptions  # noqa: E402
from watchers.solana import SolanaSource  # noqa: E402

USDC = 10**6


class Pushes:
    """A publisher that notes when each order's page would have been told something."""

    def __init__(self) -> None:
        self.detected: dict[str, float] = {}
        self.paid: dict[str, float] = {}

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        now = time.monotonic()
        order = message.get("order") or {}
        order_id = channel.removeprefix("order:")
        if order.get("status") == "paid":
            self.paid.setdefault(order_id, now)
        elif order.get("transfer"):
            self.detected.setdefault(order_id, now)


def settings_for(sim: SolanaSimulator, mint: str, wallet: str, database_url: str) -> Settings:
    return load_settings(
        None,
        admin={"secret": "bench-admin-Qm7Vx2Lp9Rk4"},
        merchant={"name": "bench", "secret": "bench-merchant-Zt6Wq1Nc8Hy3Jd5Lr0Pv4Ks"},
        wallets=[{"blockchain": "solana", "address": wallet, "enabled_coins": ["USDC"]}],
        chains={
            "solana": {
                "rpc_urls": [sim.url, sim.ws_url],
                "tokens": {"USDC": {"contract": mint, "decimals": 6}},
            }
        },
        database_url=database_url,
    )


async def latency(database_url: str, payments: int) -> dict[str, Any]:
    async with SolanaSimulator(finality_lag=32) as sim:
        confirmed_at: dict[int, float] = {}
        finalized_at: dict[int, float] = {}
        confirm, finalize = sim.confirm, sim.finalize

        def on_confirm(slot: int | None = None) -> None:
            before = sim.ledger.confirmed
            confirm(slot)
            for s in range(before + 1, sim.ledger.confirmed + 1):
                confirmed_at.setdefault(s, time.monotonic())

        def on_finalize(slot: int) -> None:
            before = sim.ledger.finalized
            finalize(slot)
            for s in range(before + 1, sim.ledger.finalized + 1):
                finalized_at.setdefault(s, time.monotonic())

        sim.confirm, sim.finalize = on_confirm, on_finalize  # type: ignore[method-assign]
        mint = sim.create_mint(6)
        payer = sim.keypair(mint, 10**9 * USDC)
        wallet = str(Keypair().pubkey())
        sim.ledger.fund(wallet, mint, 0)
        settings = settings_for(sim, mint, wallet, database_url)
        engine = create_engine(database_url)
        pushes = Pushes()
        services = Services(settings, engine, create_sessionmaker(engine), pushes)
        source = SolanaSource.from_settings(
            "solana", settings.chains[Blockchain.SOLANA], [*settings.wallets]
        )
        runner = ChainRunner(
            services,
            source,
            MatchRules.for_chain(settings, "solana"),
            "bench",
            RunnerOptions(max_scan_blocks=100_000, idle_wait_seconds=2.0),
        )
        stop = asyncio.Event()
        sim.start_producing(0.4)
        task = asyncio.create_task(runner.run(stop))
        try:
            sent = await _pay(sim, source, services, settings, payer, wallet, mint, payments)
            deadline = time.monotonic() + 60
            while len(pushes.paid) < payments and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
        finally:
            stop.set()
            await task
            await source.close()
            await engine.dispose()
        detect, paid = [], []
        for order_id, signature in sent.items():
            slot = sim.ledger.by_signature[signature].slot
            if order_id in pushes.detected:
                detect.append(pushes.detected[order_id] - confirmed_at[slot])
            if order_id in pushes.paid:
                paid.append(pushes.paid[order_id] - finalized_at[slot])
        return {"payments": payments, "detected": detect, "paid": paid}


async def _pay(
    sim: SolanaSimulator,
    source: SolanaSource,
    services: Services,
    settings: Settings,
    payer: Keypair,
    wallet: str,
    mint: str,
    payments: int,
) -> dict[str, str]:
    """One payment every 0.5 s, each a Solana Pay transfer with its deposit's reference."""
    if not await source.subscribe(5.0):
        raise RuntimeError("the subscriptions did not come up")
    await asyncio.sleep(1.0)
    sent: dict[str, str] = {}
    for i in range(payments):
        async with unit_of_work(services.sessionmaker) as session:
            order = await create_order(
                session,
                settings,
                CreateOrderRequest(
                    order_id=f"b-{uuid.uuid4().hex[:8]}",
                    amount=f"{10 + i}",
                    webhook_url="https://shop.example/hook",
                ),
            )
            detail = await create_payment(session, settings, order.id, Blockchain.SOLANA, Coin.USDC)
        references = (detail.reference,) if detail.reference else ()
        sent[str(order.id)] = sim.transfer(
            payer, wallet, mint, int(detail.amount_base_units), references=references
        )
        await asyncio.sleep(0.5)
    return sent


async def backlog(database_url: str, count: int) -> dict[str, Any]:
    async with SolanaSimulator(finality_lag=2) as sim:
        mint = sim.create_mint(6)
        payer = sim.keypair(mint, 10**12 * USDC)
        wallet, stranger = str(Keypair().pubkey()), str(Keypair().pubkey())
        sim.ledger.fund(wallet, mint, 0)
        first_slot = sim.ledger.slot + 1
        sent: set[str] = set()
        started = time.monotonic()
        for i in range(count):
            sent.add(sim.transfer(payer, wallet, mint, 1 + i))
            if i % 50 == 0:
                sim.transfer(payer, wallet, mint, 10**18, fail=True)
                sim.transfer(payer, stranger, mint, 1)
            if i % 20 == 19:
                sim.produce()
        sim.produce(3)
        built = time.monotonic() - started
        settings = settings_for(sim, mint, wallet, database_url)
        engine = create_engine(database_url)
        services = Services(settings, engine, create_sessionmaker(engine), Pushes())
        source = SolanaSource.from_settings(
            "solana", settings.chains[Blockchain.SOLANA], [*settings.wallets]
        )
        runner = ChainRunner(
            services,
            source,
            MatchRules.for_chain(settings, "solana"),
            "bench",
            RunnerOptions(start_block=first_slot, max_scan_blocks=100_000),
        )
        started = time.monotonic()
        while await runner.step():  # one step reads up to 100,000 slots
            pass
        elapsed = time.monotonic() - started
        async with services.sessionmaker() as session:
            stored = set(await session.scalars(sa.select(Transfer.tx_hash)))
        await source.close()
        await engine.dispose()
        return {
            "count": count,
            "built_seconds": built,
            "seconds": elapsed,
            "missing": len(sent - stored),
            "extra": len(stored - sent),
            "calls": dict(sim.calls),
        }


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        urls = []
        for name in ("latency", "backlog"):
            url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / name}.db"
            await upgrade_to_head(url)
            urls.append(url)
        lat = await latency(urls[0], 10 if args.quick else 40)
        print(f"latency: {lat['payments']} payments")
        for label in ("detected", "paid"):
            values = [v * 1000 for v in lat[label]]
            print(
                f"  {label:8s} n={len(values)} p50={statistics.median(values):.0f} ms "
                f"p90={pct(values, 0.9):.0f} ms max={max(values):.0f} ms"
            )
        back = await backlog(urls[1], 2000 if args.quick else 10_000)
        rate = back["count"] / back["seconds"]
        print(
            f"backlog: {back['count']} signatures (+ failed and foreign ones) caught up in "
            f"{back['seconds']:.1f} s ({rate:.0f}/s); missing {back['missing']}, "
            f"extra {back['extra']}; chain built in {back['built_seconds']:.1f} s"
        )
        print(f"  RPC calls: {back['calls']}")


if __name__ == "__main__":
    asyncio.run(main())
