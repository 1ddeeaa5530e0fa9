"""Production shape under faults: 2 `serve --api-only` + 2 `watch` processes on a private
PostgreSQL and Redis, anvil with 1 s blocks, and a merchant webhook receiver, while shoppers keep
checking out (create on either replica, choose the payment on the other, pay on chain, some follow
the order over a WebSocket). Faults, one after another, each with its own check:

  1. kill -9 of the active watcher (the holder of lease `watcher:eth`)
  2. kill -9 of an API replica, then started again
  3. PostgreSQL restart (`pg_ctl restart -m immediate`: crash recovery from the WAL)
  4. Redis restart (SIGKILL, an empty server on the same port)
  5. RPC node restart (anvil stopped and started again with its chain)
  6. the webhook receiver down for 10 s

Then, for the whole run: every paid order paid exactly once, every transfer stored once, every
webhook delivered and verifiable, every WebSocket client saw its terminal status. The report (per
fault: what was done, what was observed, what was verified) is printed and written to
`$STABLECHECKOUT_RELIABILITY_REPORT` (a path prefix: .md and .json) if set; docs/reliability.md
quotes a run. A failure carries the tail of every process's log.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import websockets
from sqlalchemy.ext.asyncio import AsyncEngine
from web3 import AsyncHTTPProvider, AsyncWeb3

from app.db import create_engine
from app.security.admin_auth import hash_secret
from devkit.chain.anvil import (
    ANVIL_ACCOUNTS,
    AnvilProcess,
    deploy_token,
    mint_tokens,
    wait_for_receipt,
)
from tests.conftest import ADMIN_SECRET, REPO, settings_dict, write_config
from tests.reliability.conftest import (
    AppProcess,
    PrivatePostgres,
    PrivateRedis,
    serve_process,
    tail,
    watch_process,
)
from tests.reliability.scenario import (
    Clock,
    Follower,
    Payers,
    Payment,
    Receiver,
    ShopClient,
    new_merchant_order_id,
    random_amount,
    ws_url,
)

pytestmark = pytest.mark.timeout(360)

WALLET = ANVIL_ACCOUNTS[5]
PAYERS = [1, 2, 3, 4, 6, 7, 8, 9]
RATE = float(os.environ.get("STABLECHECKOUT_RELIABILITY_RATE", "1.0"))
"""New checkouts per second while the faults run."""
FOLLOW_EVERY = 2
"""Every second shopper follows the order over a WebSocket."""
SLOW_SHOPPERS = 0.25
"""The share of shoppers who take 5-12 s to pay (their sockets stay open through faults)."""
GAP = 4.0
"""Seconds of plain load between one fault's recovery and the next fault."""
LEASE = "watcher:eth"


@dataclass
class Fault:
    name: str
    action: str
    started: float
    ended: float = 0.0
    observed: dict[str, Any] = field(default_factory=dict)
    verified: list[str] = field(default_factory=list)


@dataclass
class Checkout:
    index: int
    merchant_order_id: str
    amount: str
    order_id: str = ""
    payment: Payment | None = None
    follower: Follower | None = None


@dataclass
class World:
    clock: Clock
    pg: PrivatePostgres
    redis: PrivateRedis
    node: AnvilProcess
    w3: AsyncWeb3[Any]
    token: str
    engine: AsyncEngine
    apis: list[AppProcess]
    watchers: list[AppProcess]
    receiver: Receiver
    shop: ShopClient
    payers: Payers
    rng: random.Random
    checkouts: list[Checkout] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    follower_tasks: list[asyncio.Task[None]] = field(default_factory=list)
    stop_followers: asyncio.Event = field(default_factory=asyncio.Event)
    faults: list[Fault] = field(default_factory=list)
    probes: list[str] = field(default_factory=list)

    def processes(self) -> list[AppProcess]:
        return [*self.apis, *self.watchers]

    async def query(self, statement: str, **params: Any) -> list[Any]:
        """Read from the private database, riding out its restart."""
        give_up = time.monotonic() + 60
        while True:
            try:
                async with self.engine.connect() as conn:
                    return list((await conn.execute(sa.text(statement), params)).all())
            except (sa.exc.DBAPIError, OSError):
                if time.monotonic() > give_up:
                    raise
                await asyncio.sleep(0.3)

    async def scalar(self, statement: str, **params: Any) -> Any:
        rows = await self.query(statement, **params)
        return rows[0][0] if rows else None

    async def lease_holder_pid(self) -> int | None:
        holder = await self.scalar(
            "SELECT holder FROM leases WHERE name = :name AND expires_at > now()", name=LEASE
        )
        return int(str(holder).split(":")[-2]) if holder else None


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float, what: str, interval: float = 0.2
) -> float:
    """Seconds until `check()` held; AssertionError after `timeout`."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(interval)
    return time.monotonic() - started


def config_for(world_db: str, token: str, receiver: Receiver, start_block: int) -> dict[str, Any]:
    data = settings_dict(
        world_db,
        admin={"secret": hash_secret(ADMIN_SECRET)},  # no replica rewrites the shared file
        merchant={"unknown_transfer_webhook_url": receiver.url},
        chains={
            "eth": {
                "rpc_urls": [],  # set by the caller
                "confirmations": 2,
                "chain_id": 31337,
                "poll_interval_seconds": 0.5,
                "start_block": start_block,
                "tokens": {"USDT": {"contract": token, "decimals": 6}},
            }
        },
        webhooks={
            "allow_private_targets": True,
            "poll_interval_seconds": 0.2,
            "first_retry_seconds": 0.5,
            "max_retry_interval_seconds": 3.0,
            "timeout_seconds": 3.0,
        },
        # every shopper comes from 127.0.0.1
        security={"user_rate_limit_per_minute": 0, "websocket_max_per_client": 0},
    )
    data["wallets"] = [{"blockchain": "eth", "address": WALLET, "enabled_coins": ["USDT"]}]
    return data


# ---------------------------------------------------------------------------------------------
# Load


async def checkout(world: World, index: int) -> None:
    rng = world.rng
    item = Checkout(index, new_merchant_order_id(), random_amount(rng))
    world.checkouts.append(item)
    prefer = index % 2
    item.order_id = await world.shop.create_order(
        item.merchant_order_id, item.amount, world.receiver.url, prefer
    )
    detail = await world.shop.choose_payment(item.order_id, 1 - prefer)
    assert detail["wallet_address"] == WALLET and detail["token_contract"] == world.token, detail
    if index % FOLLOW_EVERY == 0:
        side = (index // FOLLOW_EVERY) % 2
        item.follower = Follower(item.order_id, world.apis, side, world.clock)
        world.follower_tasks.append(asyncio.create_task(item.follower.run(world.stop_followers)))
    slow = rng.random() < SLOW_SHOPPERS
    await asyncio.sleep(rng.uniform(5, 12) if slow else rng.uniform(0.2, 1.5))  # opens a wallet
    item.payment = await world.payers.pay(
        Payment(
            item.order_id,
            detail["wallet_address"],
            int(detail["amount_base_units"]),
            detail["token_contract"],
        )
    )


async def generate_load(world: World, stop: asyncio.Event) -> None:
    index = 0
    next_at = time.monotonic()
    while not stop.is_set():
        world.tasks.append(asyncio.create_task(checkout(world, index)))
        index += 1
        next_at += 1 / RATE
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, next_at - time.monotonic()))


# ---------------------------------------------------------------------------------------------
# Faults


def begin(world: World, name: str, action: str) -> Fault:
    fault = Fault(name, action, world.clock.now())
    world.faults.append(fault)
    print(f"[{fault.started:7.2f}] fault: {name}", flush=True)
    return fault


async def all_alive(world: World) -> None:
    dead = [p.name for p in world.processes() if not p.alive()]
    assert not dead, f"processes died: {dead}"


async def healthy(world: World, replica: AppProcess) -> bool:
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            return (await http.get(f"{replica.url}/health")).status_code == 200
    except httpx.HTTPError:
        return False


async def paid_since(world: World, wall: float) -> int:
    return int(
        await world.scalar(
            "SELECT count(*) FROM orders WHERE status = 'paid' AND paid_at > :since",
            since=dt.datetime.fromtimestamp(wall, dt.UTC),
        )
    )


async def kill_active_watcher(world: World) -> None:
    fault = begin(world, "kill -9 of the active watcher", "SIGKILL to the holder of `watcher:eth`")
    holder = await world.lease_holder_pid()
    victim = next(w for w in world.watchers if w.pid == holder)
    standby = next(w for w in world.watchers if w is not victim)
    victim.kill9()
    fault.observed["killed"] = f"{victim.name} (pid {holder})"

    async def standby_holds() -> bool:
        return await world.lease_holder_pid() == standby.pid

    took = await eventually(standby_holds, 40, f"{standby.name} takes {LEASE}", 0.25)
    taken_wall = time.time()
    fault.observed["takeover_seconds"] = round(took, 1)
    victim.start()
    await asyncio.to_thread(victim.wait_ready)

    async def paying_again() -> bool:
        return await paid_since(world, taken_wall) > 0

    await eventually(paying_again, 30, "orders paid by the new lease holder")
    await all_alive(world)
    fault.ended = world.clock.now()
    fault.verified += [
        f"{standby.name} (standby) took `{LEASE}` {took:.1f} s after the kill "
        "(lease 15 s, standby retries every 5 s)",
        f"{victim.name} started again and stands by",
        "orders are paid again by the new holder",
    ]


async def kill_api_replica(world: World) -> None:
    victim = world.apis[1]
    fault = begin(world, "kill -9 of an API replica", f"SIGKILL to {victim.name}, start after 1 s")
    await some_sockets(world, victim.name)
    before = len(world.shop.retries)
    cut = connected(world, victim.name)
    victim.kill9()
    await asyncio.sleep(1.0)
    victim.start()
    took = await asyncio.to_thread(_timed, victim.wait_ready)
    await all_alive(world)
    fault.ended = world.clock.now()
    retried = world.shop.retries[before:]
    fault.observed["back_after_seconds"] = round(1.0 + took, 1)
    fault.observed["sockets_cut"] = len(cut)

    async def cut_sockets_done() -> bool:
        return all(f.terminal for f in cut)

    await eventually(cut_sockets_done, 60, "the cut sockets reconnect and see `paid`")
    fault.verified += [
        f"{victim.name} healthy again {1.0 + took:.1f} s after the kill, same port",
        f"{len(retried)} client requests failed over to the other replica meanwhile, none lost "
        "(order creation retried with its Idempotency-Key)",
        f"the {len(cut)} WebSocket clients it had reconnected (to the other replica first) and "
        "saw `paid`",
    ]


def _timed(fn: Callable[[], None]) -> float:
    started = time.monotonic()
    fn()
    return time.monotonic() - started


async def restart_postgres(world: World) -> None:
    fault = begin(
        world,
        "PostgreSQL restart",
        "`pg_ctl stop -m immediate` (every backend killed, no checkpoint), down 3 s, start "
        "(crash recovery from the WAL)",
    )
    restarted_wall = time.time()
    took = await asyncio.to_thread(world.pg.restart, "immediate", 3.0)
    fault.observed["unreachable_seconds"] = round(took, 1)

    async def both_healthy() -> bool:
        return all([await healthy(world, api) for api in world.apis])

    api_back = await eventually(both_healthy, 30, "both API replicas healthy after the restart")

    async def cursor_moved() -> bool:
        updated = await world.scalar(
            "SELECT updated_at FROM chain_cursors WHERE blockchain = 'eth'"
        )
        return bool(updated and updated.timestamp() > restarted_wall + took)

    scan_back = await eventually(cursor_moved, 30, "the watcher scans again after the restart")

    async def paying_again() -> bool:
        return await paid_since(world, restarted_wall + took) > 0

    await eventually(paying_again, 30, "orders paid after the restart")
    await all_alive(world)
    fault.ended = world.clock.now()
    fault.observed["api_healthy_after_seconds"] = round(api_back, 1)
    fault.observed["watcher_scanning_after_seconds"] = round(scan_back, 1)
    fault.verified += [
        "no process exited (pool_pre_ping and per-step retries)",
        f"both replicas answer /health 200 {api_back:.1f} s after the server is back",
        f"the active watcher scans again {scan_back:.1f} s after it, and orders are paid",
    ]


async def push_probe(world: World, via: int, to: int) -> float:
    """Create on one replica, follow on the other, cancel on the first: seconds to the frame."""
    shop = world.shop
    order_id = await shop.create_order(new_merchant_order_id(), "1.00", world.receiver.url, via)
    async with websockets.connect(ws_url(world.apis[to].url, order_id), open_timeout=5) as socket:
        first = json.loads(await asyncio.wait_for(socket.recv(), 5))
        assert first["order"]["status"] == "pending", first
        started = time.monotonic()
        await world.shop.cancel(order_id, via)
        frame = json.loads(await asyncio.wait_for(socket.recv(), 3))
        assert frame["order"]["status"] == "cancelled", frame
        return time.monotonic() - started


async def restart_redis(world: World) -> None:
    fault = begin(world, "Redis restart", "SIGKILL to redis-server, a new empty one 1 s later")
    await some_sockets(world, world.apis[0].name, 1)
    await some_sockets(world, world.apis[1].name, 1)
    followers = [c.follower for c in world.checkouts if c.follower]
    holding = {f.on for f in connected(world)}
    resynced_before = resync_closes(followers)
    open_sockets = len(connected(world))
    await asyncio.to_thread(world.redis.restart, 1.0)
    restarted = time.monotonic()

    async def both_healthy() -> bool:
        return all([await healthy(world, api) for api in world.apis])

    await eventually(both_healthy, 20, "both API replicas healthy after the Redis restart")
    latencies = []
    for via, to in ((0, 1), (1, 0)):
        for attempt in range(20):
            try:
                latencies.append(await push_probe(world, via, to))
                break
            except (AssertionError, TimeoutError, websockets.exceptions.ConnectionClosed) as exc:
                world.probes.append(f"push {via}->{to} attempt {attempt}: {type(exc).__name__}")
                if attempt == 19:
                    raise AssertionError(f"no push {via}->{to} after the Redis restart") from exc
                await asyncio.sleep(0.5)
    pushes_back = time.monotonic() - restarted
    await all_alive(world)
    resyncing = {api.name for api in world.apis if "realtime.redis_reconnected" in api.log()}
    resynced = resync_closes(followers) - resynced_before
    fault.ended = world.clock.now()
    fault.observed["cross_replica_push_ms"] = [round(x * 1000) for x in latencies]
    fault.observed["sockets_open"] = open_sockets
    fault.observed["sockets_closed_1012"] = resynced
    fault.verified += [
        "both replicas healthy; no process exited",
        f"a change made on one replica reaches a socket on the other again (both directions, "
        f"{pushes_back:.1f} s after the restart)",
        f"the replicas with sockets open at the restart ({', '.join(sorted(holding)) or 'none'}) "
        f"closed them with 1012 once they had resubscribed ({', '.join(sorted(resyncing))}); "
        f"{resynced} follower sockets ({open_sockets} were open at the restart, more opened "
        "during it) were closed so, reconnected and read the order again",
    ]


def connected(world: World, replica: str | None = None) -> list[Follower]:
    """The followers whose socket is open right now (to `replica`, or to any)."""
    followers = [c.follower for c in world.checkouts if c.follower is not None]
    return [f for f in followers if f.on and (replica is None or f.on == replica)]


async def some_sockets(world: World, replica: str, wanted: int = 2) -> None:
    """Let the load open a few sockets on `replica` (up to 15 s) so the fault cuts some."""

    async def enough() -> bool:
        return len(connected(world, replica)) >= wanted

    with contextlib.suppress(AssertionError):
        await eventually(enough, 10, f"{wanted} sockets open on {replica}", 0.05)


def resync_closes(followers: list[Follower]) -> int:
    return sum(n for f in followers for key, n in f.closes.items() if key.endswith("close 1012"))


async def restart_node(world: World) -> None:
    fault = begin(world, "RPC node restart", "anvil stopped (chain dumped), started 2 s later")
    head = await world.w3.eth.block_number
    head_hash = (await world.w3.eth.get_block(head))["hash"]
    await world.node.restart(downtime=2.0)
    same = (await world.w3.eth.get_block(head))["hash"] == head_hash

    async def scanned_past() -> bool:
        cursor = await world.scalar("SELECT block_number FROM chain_cursors WHERE blockchain='eth'")
        return bool(cursor and cursor > head + 2)

    took = await eventually(scanned_past, 40, "the watcher scans blocks made after the restart")
    await all_alive(world)
    fault.ended = world.clock.now()
    fault.observed["head_at_stop"] = head
    fault.observed["rescanning_after_seconds"] = round(took, 1)
    assert same, "anvil came back with a different chain"
    fault.verified += [
        f"the node came back with the same chain (block {head} has the same hash)",
        f"the watcher reconnected and scanned past it {took:.1f} s after the restart",
        "payments that failed while it was down were sent again as the same signed transaction "
        "(same nonce, same hash: a retry cannot pay twice)",
    ]


async def receiver_down(world: World) -> None:
    fault = begin(world, "webhook receiver down", "the merchant endpoint refuses connections 10 s")
    await world.receiver.stop()
    down_wall = time.time()
    await asyncio.sleep(10)
    await world.receiver.start()
    up_wall = time.time()
    failed = await world.scalar(
        "SELECT count(*) FROM webhook_attempts WHERE status_code IS NULL AND started_at >= :d",
        d=dt.datetime.fromtimestamp(down_wall, dt.UTC),
    )

    async def backlog_delivered() -> bool:
        left = await world.scalar(
            "SELECT count(*) FROM webhook_events WHERE status <> 'delivered' AND created_at < :u",
            u=dt.datetime.fromtimestamp(up_wall, dt.UTC),
        )
        return int(left) == 0

    took = await eventually(backlog_delivered, 30, "events queued while down are delivered")
    await all_alive(world)
    fault.ended = world.clock.now()
    fault.observed["failed_attempts_while_down"] = int(failed)
    fault.observed["backlog_delivered_after_seconds"] = round(took, 1)
    assert int(failed) > 0, "no delivery was attempted while the receiver was down"
    fault.verified += [
        f"{failed} attempts failed while it was down (recorded in webhook_attempts)",
        f"everything queued meanwhile was delivered {took:.1f} s after it came back "
        "(backoff capped at 3 s here)",
    ]


# ---------------------------------------------------------------------------------------------
# The test


async def test_checkouts_survive_faults(
    private_postgres: PrivatePostgres,
    private_redis: PrivateRedis,
    chain_node: AnvilProcess,
    tmp_path: Path,
) -> None:
    clock = Clock()
    pg = private_postgres
    await asyncio.to_thread(pg.create_database, "stablecheckout")
    database_url = pg.url("stablecheckout")
    w3: AsyncWeb3[Any] = AsyncWeb3(AsyncHTTPProvider(chain_node.http_url))
    token = await deploy_token(w3)
    mints = [await mint_tokens(w3, token, ANVIL_ACCOUNTS[i], 10**15, wait=False) for i in PAYERS]
    await wait_for_receipt(w3, mints[-1])
    receiver = Receiver(clock)
    await receiver.start()
    data = config_for(database_url, token, receiver, await w3.eth.block_number)
    data["chains"]["eth"]["rpc_urls"] = [chain_node.ws_url, chain_node.http_url]
    config = write_config(tmp_path / "config.toml", data)
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": private_redis.url,
        "PYTHONUNBUFFERED": "1",
    }
    migrate = subprocess.run(
        [sys.executable, "-m", "app.cli", "migrate", "-c", str(config)],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    print(f"[{clock.now():7.2f}] token deployed, payers funded, database migrated", flush=True)
    logs = tmp_path / "logs"
    logs.mkdir()
    apis = [serve_process(f"api{i}", config, env, logs) for i in (1, 2)]
    watchers = [watch_process(f"watch{i}", config, env, logs) for i in (1, 2)]
    engine = create_engine(database_url, pool_size=5)
    shop = ShopClient(apis, clock)
    world = World(
        clock=clock,
        pg=pg,
        redis=private_redis,
        node=chain_node,
        w3=w3,
        token=token,
        engine=engine,
        apis=apis,
        watchers=watchers,
        receiver=receiver,
        shop=shop,
        payers=Payers(w3, PAYERS, clock),
        rng=random.Random(int(os.environ.get("STABLECHECKOUT_TEST_SEED", "10"))),
    )
    exit_codes: dict[str, int | None] = {}
    try:
        try:
            for proc in world.processes():
                proc.start()
            await asyncio.gather(*(asyncio.to_thread(p.wait_ready) for p in world.processes()))

            async def leased() -> bool:
                return await world.lease_holder_pid() in {w.pid for w in watchers}

            await eventually(leased, 30, f"a watcher holds {LEASE}")
            print(f"[{clock.now():7.2f}] all processes up; load starts", flush=True)
            load_started = clock.now()
            stop_load = asyncio.Event()
            loader = asyncio.create_task(generate_load(world, stop_load))
            for fault in (
                kill_active_watcher,
                kill_api_replica,
                restart_postgres,
                restart_redis,
                restart_node,
                receiver_down,
            ):
                await asyncio.sleep(GAP)
                await fault(world)
            await asyncio.sleep(GAP)
            stop_load.set()
            await loader
            load_seconds = clock.now() - load_started
            await asyncio.wait_for(asyncio.gather(*world.tasks), 150)
            print(f"[{clock.now():7.2f}] {len(world.checkouts)} checkouts paid on chain")
            await drain_and_verify(world, load_seconds)
        finally:
            world.stop_followers.set()
            for proc in world.processes():
                exit_codes[proc.name] = await asyncio.to_thread(proc.stop)
    except (Exception, pytest.fail.Exception) as exc:
        raise AssertionError(f"{exc}\n\n{logs_for_failure(world)}") from exc
    finally:
        for task in world.follower_tasks:
            task.cancel()
        await shop.close()
        await receiver.stop()
        await engine.dispose()
        await w3.provider.disconnect()
    report = render_report(world, exit_codes)
    print(report)
    target = os.environ.get("STABLECHECKOUT_RELIABILITY_REPORT")
    (tmp_path / "reliability-report.md").write_text(report)
    if target:
        Path(f"{target}.md").write_text(report)
        Path(f"{target}.json").write_text(json.dumps(world_summary(world, exit_codes), indent=2))
    unclean = {
        p.name: exit_codes[p.name]
        for p in world.processes()
        if not p.clean_exit(exit_codes[p.name])
    }
    assert not unclean, f"unclean exits on SIGTERM: {unclean}"


def logs_for_failure(world: World) -> str:
    parts = [f"--- {p.name} (pids {p.pids}) ---\n{tail(p.log_path, 50)}" for p in world.processes()]
    parts.append(f"--- postgres ---\n{tail(world.pg.log_path, 20)}")
    parts.append(f"--- redis ---\n{tail(world.redis.log_path, 10)}")
    parts.append(f"--- anvil ---\n{world.node.output()[-1500:]}")
    parts.append("--- faults ---\n" + "\n".join(f"{f.name}: {f.observed}" for f in world.faults))
    return "\n\n".join(parts)


# ---------------------------------------------------------------------------------------------
# After the faults


TOTALS = "totals"


async def drain_and_verify(world: World, load_seconds: float) -> None:
    checkouts = world.checkouts
    paid_ids = [c.order_id for c in checkouts]

    async def all_paid() -> bool:
        count = await world.scalar(
            "SELECT count(*) FROM orders WHERE status = 'paid' AND id = ANY(CAST(:ids AS uuid[]))",
            ids=paid_ids,
        )
        return int(count) == len(paid_ids)

    await eventually(all_paid, 60, f"all {len(paid_ids)} orders paid", 0.5)

    async def all_delivered() -> bool:
        left = await world.scalar("SELECT count(*) FROM webhook_events WHERE status <> 'delivered'")
        seen = world.receiver.event_ids()
        ids = {str(r[0]) for r in await world.query("SELECT id FROM webhook_events")}
        return int(left) == 0 and ids <= seen

    drained = await eventually(all_delivered, 90, "every webhook event delivered", 0.5)

    async def followers_done() -> bool:
        return all(c.follower.terminal for c in checkouts if c.follower)

    with contextlib.suppress(AssertionError):  # judged below, with polling as the fallback
        await eventually(followers_done, 20, "WebSocket followers saw their terminal status")
    world.stop_followers.set()

    # --- exactly once: orders, transfers, outbox rows
    merchant_ids = [c.merchant_order_id for c in checkouts]
    duplicates = await world.query(
        "SELECT merchant_order_id, count(*) FROM orders WHERE merchant_order_id = ANY(:m) "
        "GROUP BY merchant_order_id HAVING count(*) <> 1",
        m=merchant_ids,
    )
    assert not duplicates, f"orders created more than once: {duplicates}"
    payments = [c.payment for c in checkouts if c.payment is not None]
    assert len(payments) == len(checkouts)
    sent_hashes = {p.tx_hash for p in payments}
    assert len(sent_hashes) == len(payments), "one transaction per payment"
    transfers = await world.query(
        "SELECT blockchain, tx_hash, log_index, order_id, status, confirmed FROM transfers"
    )
    assert len(transfers) == len(payments), (
        f"{len(transfers)} transfers stored for {len(payments)} payments sent"
    )
    keys = Counter((t[0], t[1].lower(), t[2]) for t in transfers)
    assert all(n == 1 for n in keys.values()), "a transfer stored twice"
    assert {t[1].lower() for t in transfers} == sent_hashes, "stored = sent, hash for hash"
    by_hash = {p.tx_hash: p.order_id for p in payments}
    assert all(str(t[3]) == by_hash[t[1].lower()] for t in transfers), "each paid its own order"
    assert all(t[4] == "matched" and t[5] for t in transfers), "all matched and confirmed"
    deposits = await world.query(
        "SELECT order_id, count(*) FROM deposits WHERE status = 'matched' "
        "AND order_id = ANY(CAST(:ids AS uuid[])) GROUP BY order_id",
        ids=paid_ids,
    )
    assert len(deposits) == len(paid_ids) and all(n == 1 for _, n in deposits)
    events = await world.query(
        "SELECT id, event_type, order_id, payload, status, attempts FROM webhook_events"
    )
    paid_events = Counter(
        str(e[2]) for e in events if e[1] == "order_status_changed" and e[3].get("status") == "paid"
    )
    assert set(paid_events) == set(paid_ids), "a `paid` outbox row for every paid order"
    assert all(n == 1 for n in paid_events.values()), f"paid twice: {paid_events.most_common(3)}"
    assert not [e for e in events if e[1] == "unknown_transfer_received"]

    # --- webhooks: delivered, seen, verifiable
    assert all(e[4] == "delivered" for e in events)
    deliveries = world.receiver.deliveries
    assert {str(e[0]) for e in events} <= world.receiver.event_ids()
    assert all(d.verified for d in deliveries), "every request verified (stdlib HMAC, 300 s)"
    for delivery in deliveries:
        event = next(e for e in events if str(e[0]) == delivery.event_id)
        assert delivery.payload["order_id"] == str(event[2])
        assert delivery.payload["status"] == event[3]["status"]
    per_event = Counter(d.event_id for d in deliveries)

    # --- WebSocket followers
    followers = [c.follower for c in checkouts if c.follower is not None]
    polled: list[str] = []
    for follower in followers:
        if follower.terminal is None:
            polled.append(follower.order_id)
            assert await world.shop.status(follower.order_id) == "paid"
        else:
            assert follower.terminal == "paid", follower
    assert not polled, (
        f"{len(polled)} WebSocket clients never got their terminal status pushed (polling "
        "would have found `paid`): a socket stayed open and silent"
    )

    # --- end-to-end latency (payment mined → paid committed), per fault window
    rows = await world.query(
        "SELECT id, paid_at FROM orders WHERE id = ANY(CAST(:ids AS uuid[]))", ids=paid_ids
    )
    paid_at = {str(r[0]): r[1].timestamp() for r in rows}
    latencies = {
        c.order_id: paid_at[c.order_id] - world.clock.started_wall - c.payment.mined_at
        for c in checkouts
        if c.payment is not None
    }
    for fault in world.faults:
        window = [
            latencies[c.order_id]
            for c in checkouts
            if c.payment and fault.started - 1 <= c.payment.mined_at <= fault.ended
        ]
        fault.observed["payments_mined_during"] = len(window)
        if window:
            fault.observed["max_mined_to_paid_seconds"] = round(max(window), 1)
        fault.observed["client_requests_retried"] = sum(
            1 for r in world.shop.retries if fault.started <= r.at <= fault.ended + 1
        )
        fault.observed["payments_resent"] = sum(
            p.sends - 1 for p in payments if fault.started - 6 <= p.sent_at <= fault.ended
        )
    quiet = sorted(
        latencies[c.order_id]
        for c in checkouts
        if c.payment
        and not any(f.started - 1 <= c.payment.mined_at <= f.ended + 3 for f in world.faults)
    )
    world.faults.append(
        Fault(
            TOTALS,
            "",
            0.0,
            observed={
                "load_seconds": round(load_seconds, 1),
                "checkouts": len(checkouts),
                "paid": len(paid_ids),
                "transfers_stored": len(transfers),
                "paid_outbox_rows": sum(paid_events.values()),
                "webhook_events": len(events),
                "webhook_requests_received": len(deliveries),
                "webhook_redeliveries_of_a_delivered_event": sum(n - 1 for n in per_event.values()),
                "webhooks_drained_after_seconds": round(drained, 1),
                "ws_followers": len(followers),
                "ws_followers_terminal_pushed": len(followers) - len(polled),
                "ws_reconnects": sum(max(0, f.connects - 1) for f in followers),
                "ws_close_reasons": dict(sum((f.closes for f in followers), Counter())),
                "client_requests_retried": len(world.shop.retries),
                "order_creates_replayed_by_idempotency_key": world.shop.replayed,
                "payments_resent": sum(max(0, p.sends - 1) for p in payments),
                "quiet_mined_to_paid_p50_seconds": round(quiet[len(quiet) // 2], 2)
                if quiet
                else None,
                "quiet_mined_to_paid_max_seconds": round(quiet[-1], 2) if quiet else None,
                "all_mined_to_paid_max_seconds": round(max(latencies.values()), 1),
            },
        )
    )


def world_summary(world: World, exit_codes: dict[str, int | None]) -> dict[str, Any]:
    return {
        "faults": [
            {
                "name": f.name,
                "action": f.action,
                "at": f.started,
                "ended": f.ended,
                "observed": f.observed,
                "verified": f.verified,
            }
            for f in world.faults
            if f.name != TOTALS
        ],
        "totals": next((f.observed for f in world.faults if f.name == TOTALS), {}),
        "exit_codes": exit_codes,
        "probes": world.probes,
    }


def render_report(world: World, exit_codes: dict[str, int | None]) -> str:
    summary = world_summary(world, exit_codes)
    lines = ["# Reliability run", ""]
    for number, fault in enumerate(summary["faults"], 1):
        lines.append(
            f"## {number}. {fault['name']} (t = {fault['at']:.1f} s → {fault['ended']:.1f} s)"
        )
        lines.append(f"Action: {fault['action']}.")
        lines.append(f"Observed: `{json.dumps(fault['observed'])}`")
        lines += [f"- {v}" for v in fault["verified"]]
        lines.append("")
    lines.append("## Whole run")
    lines += [f"- {k}: {v}" for k, v in summary["totals"].items()]
    lines.append(f"- exit codes on SIGTERM: {exit_codes}")
    if summary["probes"]:
        lines.append(f"- push probes repeated: {summary['probes']}")
    return "\n".join(lines) + "\n"
