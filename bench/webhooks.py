"""Benchmark: webhook delivery throughput and commit -> first attempt latency (issue 7).

    uv run python bench/webhooks.py            # full: 5,000 events (SQLite 2,000), 1.5-2 min
    uv run python bench/webhooks.py --quick    # smoke: 1,000 events, 30-90 s
    uv run python bench/webhooks.py --profile  # also py-spy the sender (PostgreSQL throughput)
    uv run python bench/webhooks.py --loop uvloop --poll-interval 0.1 --no-sqlite --keep

Processes:
  bench     this process. It runs ONE real sender, `app.webhooks.sender.webhook_sender(services)`,
            the job `serve`/`watch` run (default [webhooks] settings: concurrency 50, timeout
            10 s, poll_interval_seconds 0.2; only `allow_private_targets = true` so loopback is
            allowed), on its own engine and event loop. Logging is configured as the CLI does
            (INFO, same format) but written to a file, so the per-attempt log lines cost what they
            cost in production.
  receiver  `python bench/webhooks.py _receiver` in its own process: an aiohttp server on
            127.0.0.1 that answers every POST /hook with 204, stamping `time.time()` when the
            handler starts, with the body's `order_id` and the `Stablecheckout-Attempt` header.
  writer    (latency modes b and c) `python bench/webhooks.py _writer`, a separate process
            that commits status changes; the sender can only find them by polling.

Per database (a fresh PostgreSQL database, created and dropped, also on failure or Ctrl-C; then
a SQLite file in a temporary directory unless --no-sqlite), both migrated with
app.migrate.upgrade_to_head:

  1. throughput  N `order_status_changed` events (--events, 5,000; --sqlite-events, 2,000) are
                 put in the outbox before the sender starts (orders and webhook_events rows
                 inserted in bulk, payload from app.webhooks.service.order_status_payload; setup
                 is not timed). The sender then starts; deliveries/s = N / wall time from its
                 start until a separate monitoring connection sees all N rows `delivered`
                 (checked every 20 ms). If --phase-timeout (40 s) runs out first, the rate is
                 over what was delivered by then. Attempt latency p50/p99 come from
                 webhook_attempts.latency_ms. The sender's rounds are timed by wrapping the
                 module's claim / record / send_due (same code, timers around it): the round
                 time not spent in claim or record is the HTTP fan-out. CPU seconds of the
                 sender's process, the receiver, PostgreSQL and the whole machine are read from
                 /proc; "other" CPU above 10 % of a core flags a machine that was not quiet.
  2. latency     with the sender running and idle, status changes are committed one at a time
                 through the real path (`unit_of_work` + `orders.service.change_status(PAID)`,
                 which writes the outbox row in the same transaction):
                   (a) in this process, --spacing (20 ms) apart, --commits (200; half on
                       SQLite): the commit's after-commit hook wakes the sender at once
                       (app.webhooks.signal);
                   (b) in the writer process, 20 ms apart: no wake-up reaches the sender; it
                       finds the row on its next poll, or on the round it starts straight after
                       a round that delivered something (so a steady stream of commits is
                       partly picked up without waiting for the poll);
                   (c) in the writer process, isolated commits (--sparse-commits, 30) a random
                       poll+50 ms .. 2*poll+50 ms apart: each is found only by a poll, so this
                       is the plain cross-process case (expect p50 ~ poll/2 + one round).
                 Latency = receiver's time.time() on arrival of attempt 1 - writer's time.time()
                 just after the commit returned (same machine, same clock), matched by order_id.
                 The writer also notes the time just before it sends COMMIT; the latency from
                 that is printed beside it as the upper bound (the row became visible between).

Targets (issue 7): >= 500 deliveries/s with one sender; commit -> first attempt p50 <= 100 ms.
Exit status: 0 when the run completed and every event was delivered exactly once; missed targets
fail the run only with --strict (timings depend on the machine). The whole run is bounded by
--deadline seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devkit.harness import (  # noqa: E402
    create_database,
    database_name,
    drop_database,
    free_port,
    machine_busy_seconds,
    nearest_rank,
    postgres_cpu_seconds,
    proc_cpu_seconds,
    wait_quiet,
)

TARGET_RATE = 500.0
TARGET_P50_MS = 100.0
MERCHANT_SECRET = "bench-merchant-Hk4Qz8Lw2Xr6Nv0Jt5Mc9Pb-" + "x" * 16


class BenchError(Exception):
    pass


# --------------------------------------------------------------------------- receiver process


def receiver_main(port: int) -> None:
    """The merchant's endpoint: 204 to everything, arrival times kept in memory."""
    from aiohttp import web

    records: list[tuple[float, bytes, str | None]] = []

    async def hook(request: web.Request) -> web.Response:
        arrived = time.time()
        body = await request.read()
        records.append((arrived, body, request.headers.get("Stablecheckout-Attempt")))
        return web.Response(status=204)

    async def count(_: web.Request) -> web.Response:
        return web.json_response({"count": len(records)})

    async def dump(_: web.Request) -> web.Response:
        out = [[t, json.loads(body).get("order_id"), attempt] for t, body, attempt in records]
        return web.json_response(out)

    async def reset(_: web.Request) -> web.Response:
        records.clear()
        return web.json_response({"count": 0})

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_get("/count", count)
    app.router.add_get("/dump", dump)
    app.router.add_post("/reset", reset)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, backlog=1024)


# --------------------------------------------------------------------------- shared helpers


def make_services(database_url: str, **webhooks: Any) -> Any:
    from app.config import load_settings
    from app.db import create_engine, create_sessionmaker
    from app.http import Services

    settings = load_settings(
        None,
        admin={"secret": "bench-admin-Rw7Tk3Zq9Lm1"},
        merchant={
            "name": "Benchmark Shop",
            "secret": MERCHANT_SECRET,
            "allowed_origins": ["http://127.0.0.1:3000"],
        },
        wallets=[
            {
                "blockchain": "eth",
                "address": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
                "enabled_coins": ["USDT", "USDC"],
            }
        ],
        database_url=database_url,
        webhooks={"allow_private_targets": True, **webhooks},
    )
    engine = create_engine(settings.database_url)
    return Services(settings, engine, create_sessionmaker(engine))


async def commit_paid(services: Any, order_id: uuid.UUID) -> tuple[float, float]:
    """The real state change: one unit of work, change_status writes the outbox row.

    Returns time.time() just before COMMIT is sent and just after it returned (and the
    after-commit hooks ran). The row becomes visible to the sender in between, so the latency
    from the first is an upper bound, from the second a lower bound; they differ by the commit's
    round trip, and more when the CPUs are busy and the writer waits to be scheduled."""
    from app.db import unit_of_work
    from app.orders.models import OrderStatus
    from app.orders.service import change_status

    async with unit_of_work(services.sessionmaker) as session:
        changed = await change_status(session, order_id, to=OrderStatus.PAID)
        if changed is None:
            raise BenchError(f"order {order_id} was not pending")
        before = time.time()
    return before, time.time()


async def commit_one_by_one(
    services: Any, ids: list[uuid.UUID], spacing: tuple[float, float]
) -> dict[str, tuple[float, float]]:
    """Commit each order's change, then sleep a time drawn uniformly from `spacing`."""
    committed: dict[str, tuple[float, float]] = {}
    for order_id in ids:
        committed[str(order_id)] = await commit_paid(services, order_id)
        await asyncio.sleep(random.uniform(*spacing))
    return committed


def writer_main(database_url: str, ids_path: str, out_path: str, spacing: str) -> None:
    """Latency mode (b): commit from a process that has no sender."""
    ids = [uuid.UUID(x) for x in json.loads(Path(ids_path).read_text())]

    async def run() -> None:
        services = make_services(database_url)
        try:
            lo, hi = (float(x) for x in spacing.split(":"))
            committed = await commit_one_by_one(services, ids, (lo, hi))
        finally:
            await services.engine.dispose()
        Path(out_path).write_text(json.dumps(committed))

    asyncio.run(run())


# --------------------------------------------------------------------------- measurement helpers


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class RoundTimer:
    """Timers wrapped around the sender module's own functions (behaviour unchanged)."""

    rounds: int = 0
    empty_rounds: int = 0
    round_s: float = 0.0
    claim_s: float = 0.0
    record_s: float = 0.0
    claimed: int = 0
    _saved: dict[str, Any] = field(default_factory=dict)

    def install(self) -> None:
        from app.webhooks import sender as mod

        self._saved = {"claim": mod.claim, "record": mod.record, "send_due": mod.send_due}
        orig_claim, orig_record, orig_send_due = mod.claim, mod.record, mod.send_due

        async def claim(*a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                got = await orig_claim(*a, **k)
                self.claimed += len(got)
                return got
            finally:
                self.claim_s += time.perf_counter() - t

        async def record(*a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return await orig_record(*a, **k)
            finally:
                self.record_s += time.perf_counter() - t

        async def send_due(*a: Any, **k: Any) -> int:
            t = time.perf_counter()
            n: int = await orig_send_due(*a, **k)
            if n:
                self.rounds += 1
                self.round_s += time.perf_counter() - t
            else:
                self.empty_rounds += 1
            return n

        mod.claim, mod.record, mod.send_due = claim, record, send_due  # type: ignore[assignment]

    def uninstall(self) -> None:
        from app.webhooks import sender as mod

        for name, value in self._saved.items():
            setattr(mod, name, value)
        self._saved = {}


@dataclass
class Throughput:
    events: int
    seconds: float
    delivered: int
    """Seen `delivered` when the clock stopped (all N, unless --phase-timeout ran out)."""
    final_delivered: int
    """Delivered once the sender had stopped after finishing its round in flight."""
    attempts: int
    received: int
    non_2xx: int
    lat_p50: float
    lat_p99: float
    lat_max: float
    timer: RoundTimer
    sender_cpu: float
    receiver_cpu: float
    pg_cpu: float | None
    """All PostgreSQL processes on the machine (None on SQLite)."""
    machine_cpu: float

    @property
    def other_cpu(self) -> float:
        """Cores' worth used by everything else on the machine during the run."""
        used = self.sender_cpu + self.receiver_cpu + (self.pg_cpu or 0.0)
        return max(0.0, self.machine_cpu - used) / self.seconds if self.seconds else 0.0

    @property
    def rate(self) -> float:
        return self.delivered / self.seconds if self.seconds else 0.0


@dataclass
class Latency:
    label: str
    values_ms: list[float]
    """Receiver's arrival time - writer's time just after the commit returned."""
    upper_ms: list[float]
    """Receiver's arrival time - writer's time just before it sent COMMIT."""
    expected: int
    extra_attempts: int = 0

    @property
    def missing(self) -> int:
        return self.expected - len(self.values_ms)


@dataclass
class DbReport:
    name: str
    throughput: Throughput | None = None
    latencies: list[Latency] = field(default_factory=list)


# --------------------------------------------------------------------------- the run


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.started = time.monotonic()
        self.args = args
        self.workdir = workdir
        self.port = free_port()
        self.hook_url = f"http://127.0.0.1:{self.port}/hook"
        self.receiver: subprocess.Popen[bytes] | None = None
        self.children: list[asyncio.subprocess.Process] = []
        self.reports: list[DbReport] = []
        self.profile_summary: str = ""

    def progress(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f} s] {message}", flush=True)

    # ---------------- receiver

    def start_receiver(self) -> None:
        log = (self.workdir / "receiver.log").open("wb")
        self.receiver = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "_receiver", str(self.port)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()

    def stop_receiver(self) -> None:
        proc = self.receiver
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    async def receiver_call(self, method: str, path: str) -> Any:
        import httpx

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}") as client:
            response = await client.request(method, path, timeout=10)
            response.raise_for_status()
            return response.json()

    async def wait_receiver_ready(self) -> None:
        end = time.monotonic() + 15
        while time.monotonic() < end:
            assert self.receiver is not None
            if self.receiver.poll() is not None:
                raise BenchError("receiver exited: " + (self.workdir / "receiver.log").read_text())
            with contextlib.suppress(Exception):
                await self.receiver_call("GET", "/count")
                return
            await asyncio.sleep(0.1)
        raise BenchError("receiver not ready after 15 s")

    async def wait_received(self, expected: int, seconds: float) -> int:
        end = time.monotonic() + seconds
        count = 0
        while time.monotonic() < end:
            count = (await self.receiver_call("GET", "/count"))["count"]
            if count >= expected:
                return int(count)
            await asyncio.sleep(0.05)
        return int(count)

    # ---------------- database setup

    async def create_pg(self) -> tuple[str, str]:
        name = database_name("bench_webhooks")
        return name, await create_database(self.args.pg, name)

    async def drop_pg(self, name: str) -> None:
        await drop_database(self.args.pg, name)

    async def insert_orders(
        self, services: Any, count: int, *, status: str, outbox: bool
    ) -> list[uuid.UUID]:
        """Orders (and, with `outbox`, one pending `order_status_changed` event each) in bulk."""
        import sqlalchemy as sa

        from app.db import utcnow
        from app.ids import new_id
        from app.orders.models import Order
        from app.webhooks.models import EventType, WebhookEvent
        from app.webhooks.service import order_status_payload

        ids: list[uuid.UUID] = []
        chunk = 1000
        for start in range(0, count, chunk):
            now = utcnow()
            orders, events = [], []
            for i in range(start, min(count, start + chunk)):
                order = Order(
                    id=new_id(),
                    merchant_order_id=f"bench-{i}",
                    amount_units=1000 + i,
                    amount_scale=2,
                    status=status,
                    webhook_url=self.hook_url,
                    created_at=now,
                    updated_at=now,
                    expires_at=now + dt.timedelta(hours=1),
                    paid_at=now if status == "paid" else None,
                )
                ids.append(order.id)
                orders.append(
                    {
                        "id": order.id,
                        "merchant_order_id": order.merchant_order_id,
                        "amount_units": order.amount_units,
                        "amount_scale": order.amount_scale,
                        "status": order.status,
                        "webhook_url": order.webhook_url,
                        "created_at": now,
                        "updated_at": now,
                        "expires_at": order.expires_at,
                        "paid_at": order.paid_at,
                    }
                )
                if outbox:
                    events.append(
                        {
                            "id": new_id(),
                            "event_type": EventType.ORDER_STATUS_CHANGED.value,
                            "order_id": order.id,
                            "target_url": self.hook_url,
                            "payload": order_status_payload(order),
                            "status": "pending",
                            "attempts": 0,
                            "next_attempt_at": now,
                            "created_at": now,
                        }
                    )
            async with services.sessionmaker() as session, session.begin():
                await session.execute(sa.insert(Order), orders)
                if events:
                    await session.execute(sa.insert(WebhookEvent), events)
        return ids

    # ---------------- sender

    @contextlib.asynccontextmanager
    async def running_sender(self, services: Any) -> Any:
        from app.webhooks.sender import webhook_sender

        stop = asyncio.Event()
        task = asyncio.create_task(webhook_sender(services)(stop), name="webhook_sender")
        try:
            yield task
        finally:
            stop.set()
            try:
                await asyncio.wait_for(task, timeout=15)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
            except asyncio.CancelledError:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                raise

    # ---------------- phase 1

    async def throughput(
        self, services: Any, monitor_url: str, n: int, profile: bool
    ) -> Throughput:
        import sqlalchemy as sa
        from sqlalchemy.ext.asyncio import create_async_engine

        await self.receiver_call("POST", "/reset")
        await self.insert_orders(services, n, status="paid", outbox=True)
        monitor = create_async_engine(monitor_url, pool_size=1, max_overflow=0)
        count_sql = sa.text("SELECT count(*) FROM webhook_events WHERE status = 'delivered'")
        on_pg = monitor_url.startswith("postgresql")
        timer = RoundTimer()
        timer.install()
        assert self.receiver is not None
        spy = None
        try:
            async with monitor.connect() as conn:
                await conn.execute(count_sql)  # warm the monitoring connection
                await conn.commit()
                if profile:
                    spy = await self.start_profiler(seconds=self.args.phase_timeout)
                cpu0 = (
                    self_cpu_seconds(),
                    proc_cpu_seconds(self.receiver.pid),
                    postgres_cpu_seconds() if on_pg else 0.0,
                    machine_busy_seconds(),
                )
                started = time.perf_counter()
                delivered = 0
                async with self.running_sender(services):
                    deadline = started + self.args.phase_timeout
                    while time.perf_counter() < deadline:
                        await asyncio.sleep(0.02)
                        delivered = int((await conn.execute(count_sql)).scalar_one())
                        await conn.commit()
                        if delivered >= n:
                            break
                    seconds = time.perf_counter() - started
                    cpu1 = (
                        self_cpu_seconds(),
                        proc_cpu_seconds(self.receiver.pid),
                        postgres_cpu_seconds() if on_pg else 0.0,
                        machine_busy_seconds(),
                    )
                # The sender finishes (and records) its round in flight before it stops.
                final = int((await conn.execute(count_sql)).scalar_one())
                rows = (
                    await conn.execute(
                        sa.text("SELECT latency_ms, status_code FROM webhook_attempts")
                    )
                ).all()
                await conn.commit()
            if spy is not None:
                await self.finish_profiler(spy, seconds)
            if final < n:
                # Too slow for --phase-timeout: report the rate reached, and take the rest out of
                # the latency phase's way.
                async with services.sessionmaker() as session, session.begin():
                    await session.execute(
                        sa.text(
                            "UPDATE webhook_events SET status = 'failed' WHERE status = 'pending'"
                        )
                    )
        finally:
            timer.uninstall()
            await monitor.dispose()
        received = (await self.receiver_call("GET", "/count"))["count"]
        lat = [float(r[0]) for r in rows if r[0] is not None]
        return Throughput(
            events=n,
            seconds=seconds,
            delivered=delivered,
            final_delivered=final,
            attempts=len(rows),
            received=int(received),
            non_2xx=sum(1 for r in rows if not (r[1] and 200 <= r[1] < 300)),
            lat_p50=nearest_rank(lat, 50),
            lat_p99=nearest_rank(lat, 99),
            lat_max=max(lat) if lat else float("nan"),
            timer=timer,
            sender_cpu=cpu1[0] - cpu0[0],
            receiver_cpu=cpu1[1] - cpu0[1],
            pg_cpu=max(0.0, cpu1[2] - cpu0[2]) if on_pg else None,
            machine_cpu=cpu1[3] - cpu0[3],
        )

    # ---------------- phase 2

    async def match(self, label: str, committed: dict[str, tuple[float, float]]) -> Latency:
        got = await self.wait_received(len(committed), 10)
        records = await self.receiver_call("GET", "/dump")
        first: dict[str, float] = {}
        extra = 0
        for arrived, order_id, attempt in records:
            if order_id not in committed:
                continue
            if attempt == "1" and order_id not in first:
                first[order_id] = arrived
            else:
                extra += 1
        values = [(first[k] - committed[k][1]) * 1000 for k in committed if k in first]
        upper = [(first[k] - committed[k][0]) * 1000 for k in committed if k in first]
        result = Latency(label, values, upper, len(committed), extra)
        if got < len(committed) or result.missing:
            raise BenchError(f"{label}: {result.missing} of {len(committed)} never arrived")
        return result

    async def commit_elsewhere(
        self, database_url: str, ids: list[uuid.UUID], spacing: tuple[float, float]
    ) -> dict[str, tuple[float, float]]:
        """Run the writer process over `ids` and return its commit times."""
        ids_path = self.workdir / "writer-ids.json"
        out_path = self.workdir / "writer-out.json"
        ids_path.write_text(json.dumps([str(x) for x in ids]))
        log = (self.workdir / "writer.log").open("wb")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__).resolve()),
            "_writer",
            database_url,
            str(ids_path),
            str(out_path),
            f"{spacing[0]}:{spacing[1]}",
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self.children.append(proc)
        try:
            code = await asyncio.wait_for(proc.wait(), timeout=self.args.phase_timeout)
        finally:
            self.children.remove(proc)
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        if code != 0:
            raise BenchError("writer failed:\n" + (self.workdir / "writer.log").read_text())
        committed: dict[str, tuple[float, float]] = json.loads(out_path.read_text())
        return committed

    async def latency(
        self, services: Any, database_url: str, m: int, sparse: int, results: list[Latency]
    ) -> None:
        gap = self.args.spacing
        poll = services.settings.webhooks.poll_interval_seconds
        # Isolated commits: further apart than a poll plus a round, at random phases.
        sparse_gap = (poll + 0.05, 2 * poll + 0.05)
        ids_a = await self.insert_orders(services, m, status="pending", outbox=False)
        ids_b = await self.insert_orders(services, m, status="pending", outbox=False)
        ids_c = await self.insert_orders(services, sparse, status="pending", outbox=False)
        async with self.running_sender(services):
            await asyncio.sleep(0.5)  # let it drain whatever is due and go idle
            await self.receiver_call("POST", "/reset")
            committed = await commit_one_by_one(services, ids_a, (gap, gap))
            results.append(
                await self.match(f"(a) same process, {gap * 1000:.0f} ms apart", committed)
            )

            await self.receiver_call("POST", "/reset")
            committed = await self.commit_elsewhere(database_url, ids_b, (gap, gap))
            results.append(
                await self.match(f"(b) other process, {gap * 1000:.0f} ms apart", committed)
            )

            if sparse:
                await self.receiver_call("POST", "/reset")
                committed = await self.commit_elsewhere(database_url, ids_c, sparse_gap)
                label = (
                    f"(c) other process, {sparse_gap[0] * 1000:.0f}-"
                    f"{sparse_gap[1] * 1000:.0f} ms apart"
                )
                results.append(await self.match(label, committed))

    # ---------------- profiler

    async def start_profiler(self, seconds: float) -> subprocess.Popen[bytes]:
        out = self.workdir / "sender-profile.txt"
        log = (self.workdir / "py-spy.log").open("wb")
        spy = subprocess.Popen(
            [
                "uv",
                "run",
                "--with",
                "py-spy",
                "py-spy",
                "record",
                "--pid",
                str(os.getpid()),
                "--rate",
                "250",
                "--format",
                "raw",
                "--output",
                str(out),
                "--duration",
                str(int(seconds) + 1),
                "--nonblocking",
                "--idle",
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        await asyncio.sleep(2.0)  # uv resolves py-spy, py-spy attaches, before the sender starts
        return spy

    async def finish_profiler(self, spy: subprocess.Popen[bytes], run_seconds: float) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(spy.pid, signal.SIGINT)  # py-spy writes what it has on SIGINT
        for _ in range(100):
            if spy.poll() is not None:
                break
            await asyncio.sleep(0.1)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(spy.pid, signal.SIGKILL)
            spy.wait()
        self.profile_summary = summarize_profile(self.workdir / "sender-profile.txt", run_seconds)

    # ---------------- per database

    async def run_database(
        self, name: str, url: str, events: int, commits: int, sparse: int, profile: bool
    ) -> None:
        from app.migrate import upgrade_to_head

        report = DbReport(name)
        self.reports.append(report)
        await upgrade_to_head(url)
        overrides: dict[str, Any] = {}
        if self.args.poll_interval is not None:
            overrides["poll_interval_seconds"] = self.args.poll_interval
        services = make_services(url, **overrides)
        try:
            self.progress(f"{name}: throughput, {events} events in the outbox")
            report.throughput = await self.throughput(services, url, events, profile)
            t = report.throughput
            self.progress(f"{name}: {t.delivered} delivered in {t.seconds:.1f} s")
            self.progress(f"{name}: commit -> first attempt, {commits}/{commits}/{sparse} commits")
            await self.latency(services, url, commits, sparse, report.latencies)
        finally:
            await services.engine.dispose()

    async def run(self) -> None:
        self.start_receiver()
        await self.wait_receiver_ready()
        pg_name = None
        try:
            pg_name, pg_url = await self.create_pg()
            a = self.args
            await self.run_database(
                "PostgreSQL", pg_url, a.events, a.commits, a.sparse_commits, a.profile
            )
        finally:
            if pg_name is not None:
                await self.drop_pg(pg_name)
        if not self.args.no_sqlite:
            path = self.workdir / "bench.db"
            url = f"sqlite+aiosqlite:///{path}"
            a = self.args
            commits, sparse = a.commits // 2, a.sparse_commits // 2
            await self.run_database("SQLite", url, a.sqlite_events, commits, sparse, False)

    async def cleanup(self) -> None:
        for proc in list(self.children):
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                with contextlib.suppress(Exception):
                    await proc.wait()
        self.stop_receiver()


def summarize_profile(path: Path, run_seconds: float, top: int = 14) -> str:
    """Own time per function and inclusive time for the parts of a sender round, as shares of
    the busy samples (samples waiting in epoll are left out: they also cover the profiler's
    start-up before the sender ran)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return "(no profile written)"
    own: dict[str, int] = {}
    groups = {
        "sender.claim (incl.)": ("claim (app/webhooks/sender.py",),
        "sender.deliver (incl.)": ("deliver (app/webhooks/sender.py",),
        "sender.record (incl.)": ("record (app/webhooks/sender.py",),
        "  httpx + httpcore + anyio": ("(httpx/", "(httpcore/", "(anyio/"),
        "  sqlalchemy": ("(sqlalchemy/",),
        "  asyncpg": ("(asyncpg/",),
        "  logging": ("(logging/",),
    }
    incl = dict.fromkeys(groups, 0)
    total = idle = 0
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        leaf = frames[-1]
        if "select (selectors.py" in leaf:
            idle += count
            continue
        own[leaf] = own.get(leaf, 0) + count
        for label, marker in groups.items():
            if any(m in f for f in frames for m in marker):
                incl[label] += count
    busy = total - idle
    if not busy:
        return "(empty profile)"
    out = [
        f"py-spy of the sender's process during the PostgreSQL throughput run: {busy} busy "
        f"samples at 250 Hz = {100 * busy / (250 * run_seconds):.0f} % of the run's wall "
        "time; shares of the busy samples:"
    ]
    for label, count in incl.items():
        out.append(f"  {label:<26} {100 * count / busy:5.1f} %")
    out.append("  top own-time frames:")
    for leaf, count in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        out.append(f"    {100 * count / busy:5.1f} %  {leaf[:110]}")
    return "\n".join(out)


# --------------------------------------------------------------------------- report


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def print_report(bench: Bench, started: float) -> bool:
    args = bench.args
    ok = True
    print()
    print(
        f"Webhook delivery benchmark (issue 7): {args.events} events on PostgreSQL, "
        f"{args.sqlite_events} on SQLite; {args.commits} commits in (a) and (b), "
        f"{args.sparse_commits} in (c) (half on SQLite); {os.cpu_count()} CPUs, "
        f"load average at start {args.load_at_start}"
    )
    print(
        f"One sender: app.webhooks.sender.webhook_sender on the {args.loop} loop, default "
        "[webhooks] settings (concurrency 50, poll 200 ms"
        + ("" if args.poll_interval is None else f" -> {args.poll_interval * 1000:.0f} ms")
        + "); receiver in its own process answering 204."
    )
    print()
    print(
        f"{'database':<11} {'events':>6} {'wall s':>7} {'deliv/s':>8} {'att p50':>8} "
        f"{'att p99':>8} {'rounds':>6} {'claim':>6} {'send':>6} {'record':>6}  "
        f"{'CPU s: sender/recv/pg/machine':<30}"
    )
    for report in bench.reports:
        t = report.throughput
        if t is None:
            continue
        r = t.timer
        rounds = max(r.rounds, 1)
        send_ms = (r.round_s - r.claim_s - r.record_s) / rounds * 1000
        print(
            f"{report.name:<11} {t.events:>6} {t.seconds:>7.2f} {t.rate:>8.0f} "
            f"{t.lat_p50:>6.0f}ms {t.lat_p99:>6.0f}ms {r.rounds:>6} "
            f"{r.claim_s / rounds * 1000:>4.1f}ms {send_ms:>4.1f}ms "
            f"{r.record_s / rounds * 1000:>4.1f}ms  "
            f"{t.sender_cpu:.1f}/{t.receiver_cpu:.1f}/"
            f"{'-' if t.pg_cpu is None else f'{t.pg_cpu:.1f}'}/{t.machine_cpu:.1f}"
        )
    noisy = [r for r in bench.reports if r.throughput and r.throughput.other_cpu > 0.10]
    print(
        "  (claim/send/record = mean time per non-empty round of up to 50 events; "
        "att = webhook_attempts.latency_ms;\n   CPU s = CPU seconds used during the run by "
        "the sender's process, the receiver, all PostgreSQL processes, the whole machine)"
    )
    for report in bench.reports:
        t = report.throughput
        if t is not None and t.delivered:
            print(
                f"  {report.name}: sender CPU {t.sender_cpu / t.delivered * 1000:.2f} ms per "
                f"delivery, i.e. at most {t.delivered / t.sender_cpu:.0f}/s on one free core"
            )
    for report in noisy:
        assert report.throughput is not None
        print(
            f"  WARNING: other processes used {report.throughput.other_cpu * 100:.0f} % of a "
            f"core during the {report.name} run: the machine was not quiet, rerun "
            "(--wait-quiet) for clean figures"
        )
    print()
    print(
        f"{'database':<11} {'commit -> first attempt':<38} {'n':>4} {'p50':>8} {'p90':>8} "
        f"{'p99':>8} {'max':>8}   {'p50 / p99 from before COMMIT':<28}"
    )
    for report in bench.reports:
        for lat in report.latencies:
            v, u = lat.values_ms, lat.upper_ms
            print(
                f"{report.name:<11} {lat.label:<38} {len(v):>4} {nearest_rank(v, 50):>6.1f}ms "
                f"{nearest_rank(v, 90):>6.1f}ms {nearest_rank(v, 99):>6.1f}ms {max(v):>6.1f}ms   "
                f"{nearest_rank(u, 50):>6.1f}ms / {nearest_rank(u, 99):>6.1f}ms"
            )
    print(
        "  (from the writer's time.time() just after the commit returned, as the targets are "
        "read; the row\n   became visible between the two, so the truth lies in between.\n"
        "   (a) sender woken in-process by app.webhooks.signal; (b) found by the poll or by "
        "back-to-back rounds;\n   (c) found by the poll alone)"
    )
    print()
    print("Checks:")
    for report in bench.reports:
        t = report.throughput
        if t is not None:
            d = t.final_delivered
            exact = t.attempts == d and t.received == d and t.non_2xx == 0
            ok &= exact
            print(
                f"  {report.name}: {d}/{t.events} delivered, {t.attempts} attempts "
                f"logged, {t.received} requests received, {t.non_2xx} non-2xx -> "
                f"{'exactly once' if exact else 'NOT exactly once'}"
            )
            if d < t.events:
                print(
                    f"  {report.name}: PARTIAL: only {t.delivered} of {t.events} delivered "
                    f"within --phase-timeout {args.phase_timeout:.0f} s; the rate is over "
                    "those (the rest were marked failed)"
                )
        for lat in report.latencies:
            if lat.extra_attempts:
                ok = False
                print(f"  {report.name} {lat.label}: {lat.extra_attempts} extra requests")
    print()
    print("Targets:")
    targets_ok = True
    for report in bench.reports:
        if report.throughput is not None:
            hit = report.throughput.rate >= TARGET_RATE
            targets_ok &= hit
            print(
                f"  {report.name:<11} deliveries/s {report.throughput.rate:>7.0f}  "
                f">= {TARGET_RATE:.0f}        {verdict(hit)}"
            )
        for lat in report.latencies:
            p50 = nearest_rank(lat.values_ms, 50)
            hit = p50 <= TARGET_P50_MS
            targets_ok &= hit
            print(
                f"  {report.name:<11} {lat.label[:3]} commit->attempt p50 {p50:>6.1f} ms "
                f"<= {TARGET_P50_MS:.0f} ms  {verdict(hit)}"
            )
    if bench.profile_summary:
        print()
        print(bench.profile_summary)
    print()
    print(f"Total run time {time.monotonic() - started:.0f} s.")
    if args.strict:
        ok &= targets_ok
    return ok


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 events, 40 commits per mode")
    parser.add_argument("--events", type=int, help="outbox events for throughput (5000)")
    parser.add_argument(
        "--commits", type=int, help="commits in latency modes (a) and (b) (200; half on SQLite)"
    )
    parser.add_argument(
        "--spacing", type=float, default=0.02, help="seconds between commits in (a) and (b)"
    )
    parser.add_argument(
        "--sparse-commits",
        type=int,
        help="commits in (c), each alone in a poll interval (30; --quick 10; 0 to skip)",
    )
    parser.add_argument(
        "--pg",
        default=os.environ.get("BENCH_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432"),
        help="PostgreSQL server URL without database (trust auth; a database is created)",
    )
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument(
        "--sqlite-events", type=int, help="outbox events for SQLite (min(--events, 2000))"
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the PostgreSQL throughput")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--deadline", type=float, default=170.0, help="bound on the whole run")
    parser.add_argument(
        "--phase-timeout",
        type=float,
        default=40.0,
        help="longest a throughput run may take (the rate is then over what was delivered)",
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        help="[webhooks].poll_interval_seconds for the sender (default: the app's, 0.2)",
    )
    parser.add_argument(
        "--loop",
        choices=["asyncio", "uvloop"],
        default="asyncio",
        help="event loop of the sender's process: asyncio as in `stablecheckout watch` "
        "(default), uvloop as under uvicorn in `serve`/`dev`",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="first wait up to this long until other processes leave the CPUs",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, profile)")
    args = parser.parse_args(argv)
    if args.events is None:
        args.events = 1000 if args.quick else 5000
    if args.commits is None:
        args.commits = 40 if args.quick else 200
    if args.sparse_commits is None:
        args.sparse_commits = 10 if args.quick else 30
    if args.sqlite_events is None:
        args.sqlite_events = min(args.events, 2000)
    args.load_at_start = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return args


async def amain(bench: Bench) -> None:
    main_task = asyncio.current_task()
    assert main_task is not None
    # SIGTERM cancels the run like Ctrl-C does, so the finally blocks stop the receiver and
    # writer and drop the database.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    try:
        async with asyncio.timeout(bench.args.deadline):
            await bench.run()
    finally:
        await bench.cleanup()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_receiver"]:
        receiver_main(int(argv[1]))
        return 0
    if argv[:1] == ["_writer"]:
        writer_main(argv[1], argv[2], argv[3], argv[4])
        return 0
    args = parse_args(argv)
    if args.wait_quiet > 0:
        print(f"waiting up to {args.wait_quiet:g} s for a quiet machine ...", flush=True)
        wait_quiet(args.wait_quiet)
        args.load_at_start = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        prefix = "stablecheckout-webhooks-bench-"
        if args.keep:
            workdir = Path(tempfile.mkdtemp(prefix=prefix))
            print(f"logs and profile in {workdir}", flush=True)
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix)))
        # As `stablecheckout serve` logs (INFO, one line per attempt and per httpx request),
        # into a file instead of the terminal.
        logging.basicConfig(
            level=logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s %(message)s",
            filename=str(workdir / "bench.log"),
        )
        logging.getLogger("alembic").setLevel(logging.WARNING)
        bench = Bench(args, workdir)
        try:
            if args.loop == "uvloop":
                import uvloop

                uvloop.run(amain(bench))
            else:
                asyncio.run(amain(bench))
        except (BenchError, TimeoutError, asyncio.CancelledError, KeyboardInterrupt) as exc:
            if isinstance(exc, TimeoutError):
                what = f"deadline of {args.deadline:.0f} s exceeded"
            elif isinstance(exc, BenchError):
                what = str(exc)
            else:
                what = "interrupted; receiver, writer and database cleaned up"
            print(f"bench/webhooks.py failed: {what}", file=sys.stderr)
            with contextlib.suppress(OSError):
                lines = (workdir / "bench.log").read_text().splitlines()
                tail = [line for line in lines if " INFO " not in line][-20:]
                print("\n".join(tail), file=sys.stderr)
            if any(r.throughput for r in bench.reports):
                print("\nWhat was measured before that:")
                print_report(bench, started)
            return 2
        return 0 if print_report(bench, started) else 1


if __name__ == "__main__":
    raise SystemExit(main())
