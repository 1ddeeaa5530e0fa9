"""Benchmark: TRON watcher ingest throughput and detection latency, through the java-tron simulator.

    uv run python bench/tron.py          # full: 1000 busy blocks, 60 payments per mode, 3 s blocks
    uv run python bench/tron.py --quick  # smoke: 200 blocks, 12 payments per mode

Ingest. A simulator process (`python -m devkit.chain.tron_simulator`) is prefilled with
--blocks blocks of --txs-per-block transactions each (TRON mainnet's typical size: ~60% USDT
transfers between strangers, ~30% TRX transfers, the rest other contract calls, plus one USDT
transfer to one of our wallets per block); its responses are serialized before the clock starts.
Measured: (1) `TronSource.transfers()` over the whole range (HTTP + JSON + filtering), (2) the
real `ChainRunner` catching up over the same blocks from block 1 on a fresh PostgreSQL database
(source reads + inserting the transfers + cursor commits), each as blocks per second.

Latency. A real `stablecheckout serve` process (API + watchers, in-memory channels) reads an
in-process simulator that produces a block every --block-time seconds. For each payment: an order
is created through the Service API, a TRON USDT payment chosen through the User API, the order's
WebSocket opened, then the exact amount is sent to the simulator; it lands in the next block.
Latency = WebSocket frame received - the moment the simulator appended the block
(`confirmations = 1`, the first frame after the snapshot) or made it solid (`confirmations = 0`,
solidified 19 blocks behind the head as on mainnet). Both ends use CLOCK_MONOTONIC, which is one
clock for all processes of a Linux machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import tomlkit
import websockets

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app.chains import Blockchain, Coin  # noqa: E402
from app.config import load_settings  # noqa: E402
from app.db import create_engine, create_sessionmaker  # noqa: E402
from app.http import Services  # noqa: E402
from app.models import Transfer  # noqa: E402
from app.security.signatures import sign_body, sign_url  # noqa: E402
from app.transfers.service import MatchRules  # noqa: E402
from devkit.chain.tron_simulator import TronSimulator, sim_address  # noqa: E402
from devkit.harness import PG_SERVER, AppProcess, free_port, throwaway_database  # noqa: E402
from watchers.runner import ChainRunner, RunnerOptions  # noqa: E402
from watchers.tron import TronSource  # noqa: E402

SECRET = "bench-merchant-Hk4Qz8Lw2Xr6Nv0Jt5Mc9Pb"
ADMIN = "bench-admin-Rw7Tk3Zq9Lm1-123"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def config(
    database_url: str, sim_url: str, token: str, wallets: list[str], conf: int
) -> dict[str, Any]:
    return {
        "admin": {"secret": ADMIN},
        "merchant": {
            "name": "Bench",
            "secret": SECRET,
            "allowed_origins": ["https://checkout.example.com"],
        },
        "wallets": [
            {"blockchain": "tron", "address": w, "enabled_coins": ["USDT"]} for w in wallets
        ],
        "security": {"user_rate_limit_per_minute": 0},
        "chains": {
            "tron": {
                "api_urls": [sim_url],
                "confirmations": conf,
                "tokens": {"USDT": {"contract": token, "decimals": 6}},
            }
        },
        "database_url": database_url,
    }


# -- ingest


async def ingest(blocks: int, txs_per_block: int, ours: int) -> dict[str, float]:
    started = time.monotonic()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devkit.chain.tron_simulator",
            "--block-time",
            "0",
            "--solidify-lag",
            "0",
            "--prefill-blocks",
            str(blocks),
            "--txs-per-block",
            str(txs_per_block),
            "--wallets",
            "3",
            "--ours-per-block",
            str(ours),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        print(f"  simulator ready: {info['head']} blocks in {time.monotonic() - started:.1f} s")
        url, token, wallets = info["url"], info["token"], info["wallets"]
        source = TronSource([url], {Coin.USDT: (token, 6)}, wallets, finality="head")
        t0 = time.perf_counter()
        found = await source.transfers(1, blocks)
        source_s = time.perf_counter() - t0
        await source.close()
        assert len(found) == blocks * ours, f"expected {blocks * ours} transfers, got {len(found)}"
        async with fresh_database("ingest") as db_url:
            settings = load_settings(None, **config(db_url, url, token, wallets, 1))
            engine = create_engine(db_url)
            services = Services(settings, engine, create_sessionmaker(engine), None)
            tron = TronSource.from_settings(
                Blockchain.TRON, settings.chains[Blockchain.TRON], settings.wallets
            )
            runner = ChainRunner(
                services,
                tron,
                MatchRules.for_chain(settings, "tron"),
                holder="bench",
                options=RunnerOptions(start_block=1),
            )
            await runner.step()  # seeds the cursor at block 0
            t0 = time.perf_counter()
            while await runner.step():
                pass
            runner_s = time.perf_counter() - t0
            async with services.sessionmaker() as session:
                rows = await session.scalar(sa.select(sa.func.count()).select_from(Transfer))
            await tron.close()
            await engine.dispose()
        assert rows == blocks * ours, rows
        return {
            "blocks": blocks,
            "txs": blocks * txs_per_block,
            "source_bps": blocks / source_s,
            "runner_bps": blocks / runner_s,
            "source_s": source_s,
            "runner_s": runner_s,
        }
    finally:
        proc.terminate()
        proc.wait(10)


# -- latency


@dataclass
class Sample:
    txid: str
    first_frame: float | None = None
    paid_frame: float | None = None


def fresh_database(label: str) -> Any:
    """A migrated throwaway database on the test server, dropped afterwards."""
    return throwaway_database(PG_SERVER, f"sc_bench_tron_{label}", admin_db="test")


async def start_server(cfg: dict[str, Any], workdir: Path) -> AppProcess:
    path = workdir / f"config-{uuid.uuid4().hex[:6]}.toml"
    path.write_text(tomlkit.dumps({k: v for k, v in cfg.items() if k != "database_url"}))
    port = free_port()
    argv = ["serve", "-c", str(path), "--listen", f"127.0.0.1:{port}", "--migrate"]
    env = {"DATABASE_URL": cfg["database_url"]}
    proc = AppProcess("serve", argv, workdir / f"serve-{port}.log", env=env, port=port).start()
    try:
        return await proc.await_healthy(30)
    except (RuntimeError, TimeoutError):
        proc.stop()
        raise RuntimeError("serve did not start") from None


async def one_payment(
    client: httpx.AsyncClient,
    base: str,
    sim: TronSimulator,
    token: str,
    payer: str,
    samples: list[Sample],
    amount: str,
) -> None:
    body = json.dumps(
        {
            "order_id": f"b-{uuid.uuid4().hex[:10]}",
            "amount": amount,
            "webhook_url": "https://shop.example.com/hook",
        }
    ).encode()
    headers = {
        "Ocrch-Signature": sign_body(SECRET, body, int(time.time())),
        "Content-Type": "application/json",
    }
    order = await client.post(f"{base}/api/v1/service/orders", content=body, headers=headers)
    if order.status_code not in (200, 201):
        raise RuntimeError(f"create order: HTTP {order.status_code}: {order.text}")
    order_id = order.json()["order_id"]
    signed = f"https://checkout.example.com/pay?order_id={order_id}"
    user = {
        "Ocrch-Signed-Url": signed,
        "Ocrch-Signature": sign_url(SECRET, signed, int(time.time())),
    }
    chosen = await client.post(
        f"{base}/api/v1/user/orders/{order_id}/payment",
        json={"blockchain": "tron", "stablecoin": "USDT"},
        headers=user,
    )
    if chosen.status_code not in (200, 201):
        raise RuntimeError(f"payment: HTTP {chosen.status_code}: {chosen.text}")
    detail = chosen.json()
    ws_url = base.replace("http://", "ws://") + f"/api/v1/user/orders/{order_id}/ws"
    async with websockets.connect(ws_url, additional_headers=user) as ws:
        json.loads(await ws.recv())  # snapshot
        sample = Sample(
            sim.transfer(token, payer, detail["wallet_address"], int(detail["amount_base_units"]))
        )
        samples.append(sample)
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 180))
            now = time.monotonic()
            if sample.first_frame is None:
                sample.first_frame = now
            if frame.get("order", {}).get("status") == "paid":
                sample.paid_frame = now
                return


async def latency(conf: int, payments: int, block_time: float, workdir: Path) -> dict[str, Any]:
    async with TronSimulator(solidify_lag=19) as sim, fresh_database(f"lat{conf}") as db_url:
        token = sim.deploy_token()
        wallets = [sim_address(f"bench/wallet/{i}") for i in range(3)]
        payer = sim_address("bench/payer")
        sim.produce(25)
        proc = await start_server(config(db_url, sim.url, token, wallets, conf), workdir)
        base = proc.url
        sim.start_producing(block_time)
        samples: list[Sample] = []
        try:
            async with httpx.AsyncClient(timeout=30) as client:
                tasks = []
                for i in range(payments):
                    # Spread over blocks: a new payment every half block interval, at random
                    # phases relative to block production.
                    tasks.append(
                        asyncio.create_task(
                            one_payment(
                                client, base, sim, token, payer, samples, f"{10 + i}.{i % 7}"
                            )
                        )
                    )
                    await asyncio.sleep(block_time / 2)
                await asyncio.wait_for(asyncio.gather(*tasks), 300)
        finally:
            await sim.stop_producing()
            proc.stop(15)
        first, paid = [], []
        for s in samples:
            found = sim.find_transaction(s.txid)
            assert found is not None and s.first_frame is not None and s.paid_frame is not None
            block = found[0]
            origin = block.produced_at if conf else block.solidified_at
            assert origin is not None
            first.append((s.first_frame - origin) * 1000)
            paid.append((s.paid_frame - origin) * 1000)
        return {
            "conf": conf,
            "n": len(samples),
            "first": first,
            "paid": paid,
            "block_time": block_time,
        }


def summary(values: list[float]) -> str:
    return (
        f"p50 {statistics.median(values):.0f} ms, p99 {pct(values, 99):.0f} ms, "
        f"max {max(values):.0f} ms"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--blocks", type=int)
    parser.add_argument("--txs-per-block", type=int, default=300)
    parser.add_argument("--payments", type=int)
    parser.add_argument("--block-time", type=float)
    parser.add_argument("--skip-ingest", action="store_true")
    args = parser.parse_args()
    blocks = args.blocks or (200 if args.quick else 1000)
    payments = args.payments or (12 if args.quick else 60)
    block_time = args.block_time or 3.0
    for ours in () if args.skip_ingest else (0, 1):
        print(f"ingest: {blocks} blocks x {args.txs_per_block} transactions, {ours} to us each")
        result = await ingest(blocks, args.txs_per_block, ours)
        source_line = f"{result['source_bps']:.0f} blocks/s ({result['source_s']:.2f} s)"
        runner_line = f"{result['runner_bps']:.0f} blocks/s ({result['runner_s']:.2f} s)"
        print(f"  TronSource.transfers: {source_line}")
        print(f"  ChainRunner catch-up on PostgreSQL: {runner_line}")
    with tempfile.TemporaryDirectory() as tmp:
        for conf in (1, 0):
            print(f"latency: confirmations = {conf}, {payments} payments, {block_time} s blocks")
            lat = await latency(conf, payments, block_time, Path(tmp))
            origin = "block produced" if conf else "block solidified"
            print(f"  {origin} -> first WebSocket frame: {summary(lat['first'])}")
            print(f"  {origin} -> 'paid' frame:          {summary(lat['paid'])}")


if __name__ == "__main__":
    asyncio.run(main())
