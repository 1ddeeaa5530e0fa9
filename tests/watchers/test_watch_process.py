"""Real `stablecheckout watch` processes against a real anvil: `kill -9` at random moments during a
burst of payments, and a hot standby taking over from a killed lease holder.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import random
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from web3 import AsyncWeb3

from app.config import load_settings
from app.db import create_engine, create_sessionmaker, unit_of_work, utcnow
from app.leases import Lease
from app.models import Deposit, Order, Transfer
from devkit.chain.anvil import AnvilProcess, mine, transfer_tokens
from tests.conftest import write_config
from tests.watchers.chainflow import (
    WatchProcess,
    all_events,
    chain_config,
    eventually,
    holder_pid,
    lease_holder,
    open_order,
    order_status,
)
from tests.watchers.conftest import PAYER, WALLET

LEASE = "watcher:eth"
BURST = int(os.environ.get("STABLECHECKOUT_TEST_BURST", "200"))


async def wait_for_log(proc: WatchProcess, text: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in proc.log():
            return True
        if not proc.alive():
            raise AssertionError(f"watch exited with {proc.process.returncode}:\n{proc.log()}")
        await asyncio.sleep(0.05)
    return False


@pytest.mark.slow  # a burst of 200 payments with kill -9 at random moments: fault injection
async def test_kill_9_during_a_burst_of_payments_loses_and_doubles_nothing(
    database_url: str, anvil: AnvilProcess, w3: AsyncWeb3[Any], token: str, tmp_path: Path
) -> None:
    seed = int(os.environ.get("STABLECHECKOUT_TEST_SEED", str(random.randrange(2**32))))
    rng = random.Random(seed)
    print(f"kill -9 schedule seed: STABLECHECKOUT_TEST_SEED={seed}")
    start_block = await w3.eth.block_number
    data = chain_config(
        database_url,
        [anvil.ws_url],
        token,
        confirmations=2,
        chain={"start_block": start_block, "poll_interval_seconds": 0.5},
    )
    settings = load_settings(None, **data)
    config = write_config(tmp_path / "config.toml", data)
    engine = create_engine(database_url)
    db = create_sessionmaker(engine)
    try:
        orders = [await open_order(db, settings, f"{10 + i}.5") for i in range(BURST)]
        assert len({amount for _, amount in orders}) == BURST

        async def stored() -> int:
            async with db() as session:
                count = await session.scalar(sa.select(sa.func.count()).select_from(Transfer))
            return int(count or 0)

        sent: list[str] = []
        burst_done = asyncio.Event()
        first_started = asyncio.Event()

        async def pay_all() -> None:
            # Spread over ~25 s, from when the first watch process is up, so that several of them
            # (each needs a few seconds to start) are killed while payments keep arriving.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(first_started.wait(), 30)
            for _, amount in orders:
                sent.append(await transfer_tokens(w3, token, WALLET, amount, sender=PAYER))
                await asyncio.sleep(rng.uniform(0.02, 0.18))
            burst_done.set()

        kills: list[tuple[float, int]] = []
        log_path = tmp_path / "watch.log"

        async def chaos() -> None:
            while not burst_done.is_set() or len(kills) < 3:
                paid_lines = log_path.read_text().count("matcher.paid") if kills else 0
                proc = WatchProcess(config, database_url, log_path)
                if not first_started.is_set():
                    await wait_for_log(proc, "watch.started", 30)
                    first_started.set()
                try:
                    moment = rng.random()
                    if moment < 0.45:
                        # Right after it paid something: inside or between its transactions.
                        deadline = time.monotonic() + 15
                        while time.monotonic() < deadline and proc.alive():
                            if proc.log().count("matcher.paid") > paid_lines:
                                break
                            await asyncio.sleep(0.01)
                        await asyncio.sleep(rng.uniform(0.0, 0.05))
                    elif moment < 0.9:  # at any time while it works
                        await wait_for_log(proc, "watch.started", 20)
                        await asyncio.sleep(rng.uniform(0.0, 2.0))
                    else:  # while it starts
                        await asyncio.sleep(rng.uniform(0.0, 2.0))
                finally:
                    proc.kill9()
                kills.append((time.monotonic(), await stored()))
                # The dead holder's lease would lapse in 15 s; let it lapse now.
                async with unit_of_work(db) as session:
                    await session.execute(
                        sa.update(Lease)
                        .where(Lease.name == LEASE)
                        .values(expires_at=utcnow() - dt.timedelta(seconds=1))
                    )

        started = time.monotonic()
        await asyncio.gather(pay_all(), chaos())
        burst_seconds = time.monotonic() - started
        await mine(w3, 2)  # the last payments reach their depth

        final = WatchProcess(config, database_url, log_path)
        try:

            async def all_paid() -> bool:
                async with db() as session:
                    paid = await session.scalar(
                        sa.select(sa.func.count()).select_from(Order).where(Order.status == "paid")
                    )
                return paid == BURST

            await eventually(all_paid, 45, f"{BURST} orders paid after the last restart", 0.25)
        finally:
            code = final.stop()
        assert code == 0, final.log()[-3000:]

        partial = [n for _, n in kills if 0 < n < BURST]
        print(f"burst {burst_seconds:.1f} s, {len(kills)} kills, stored at each: {kills}")
        assert len(kills) >= 3 and partial, f"kills landed mid-burst: {kills}"

        async with db() as session:
            transfers = list(await session.scalars(sa.select(Transfer)))
            deposits = list(await session.scalars(sa.select(Deposit)))
            statuses = set(await session.scalars(sa.select(Order.status)))
        events = await all_events(db)
    finally:
        await engine.dispose()

    order_ids = {order_id for order_id, _ in orders}
    assert len(transfers) == BURST, "no transfer missing, none stored twice"
    assert {t.tx_hash for t in transfers} == set(sent)
    assert all(t.status == "matched" and t.confirmed for t in transfers)
    assert {t.order_id for t in transfers} == order_ids
    assert statuses == {"paid"}
    assert all(d.status == "matched" and d.transfer_id is not None for d in deposits)
    assert len({d.transfer_id for d in deposits}) == BURST
    paid_events = [e for e in events if e.event_type == "order_status_changed"]
    assert sorted(str(e.order_id) for e in paid_events) == sorted(str(o) for o in order_ids), (
        "exactly one `paid` outbox row per order"
    )
    assert all(e.payload["status"] == "paid" for e in paid_events)
    assert not [e for e in events if e.event_type == "unknown_transfer_received"]


async def test_standby_watch_takes_over_from_a_killed_holder(
    database_url: str, anvil: AnvilProcess, w3: AsyncWeb3[Any], token: str, tmp_path: Path
) -> None:
    data = chain_config(
        database_url,
        [anvil.ws_url],
        token,
        confirmations=2,
        chain={"start_block": await w3.eth.block_number, "poll_interval_seconds": 0.5},
    )
    settings = load_settings(None, **data)
    config = write_config(tmp_path / "config.toml", data)
    engine = create_engine(database_url)
    db = create_sessionmaker(engine)
    first = WatchProcess(config, database_url, tmp_path / "first.log")
    second = WatchProcess(config, database_url, tmp_path / "second.log")
    procs = {first.pid: first, second.pid: second}
    try:

        async def held() -> bool:
            lease = await lease_holder(db, LEASE)
            return lease is not None and holder_pid(lease.holder) in procs

        await eventually(held, 30, "one watch holds watcher:eth")
        lease = await lease_holder(db, LEASE)
        assert lease is not None
        holder = procs[holder_pid(lease.holder)]
        standby = second if holder is first else first
        assert await wait_for_log(standby, "watch.started", 20)
        await asyncio.sleep(1.0)
        lease = await lease_holder(db, LEASE)
        assert lease is not None and holder_pid(lease.holder) == holder.pid, "no flapping"

        holder.kill9()
        killed_at = time.monotonic()
        order_id, amount = await open_order(db, settings, "31")
        await transfer_tokens(w3, token, WALLET, amount, sender=PAYER)
        await mine(w3)

        async def paid() -> bool:
            return await order_status(db, order_id) == "paid"

        # Lease 15 s + the standby's retry every 5 s + a scan.
        await eventually(paid, 30, "the standby pays a payment made after the kill", 0.2)
        took = time.monotonic() - killed_at
        lease = await lease_holder(db, LEASE)
        assert lease is not None and holder_pid(lease.holder) == standby.pid
        assert standby.alive()
        print(f"standby took over and paid {took:.1f} s after kill -9")
        assert took <= 25
        events = await all_events(db)
        assert [(e.event_type, e.payload.get("status")) for e in events] == [
            ("order_status_changed", "paid")
        ]
        assert standby.stop() == 0
    finally:
        for proc in procs.values():
            if proc.alive():
                proc.kill9()
        await engine.dispose()
    assert "watcher.start" in standby.log()
