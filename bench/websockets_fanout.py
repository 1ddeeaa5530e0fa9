"""Benchmark: WebSocket fan-out, idle memory and commit-to-client latency (issue 4).

    uv run python bench/websockets_fanout.py             # full run: 10,000 clients, ~2.5 minutes
    uv run python bench/websockets_fanout.py --quick     # smoke run: 1,000 clients, ~45 s
    uv run python bench/websockets_fanout.py --clients 5000 --seconds 10

What it does, in order:
  setup    a fresh PostgreSQL database (dropped at the end, also on failure or Ctrl-C), migrated
           by `stablecheckout migrate`, and the orders inserted straight into `orders` with COPY
           (setup time is not measured). The config sets `[security] user_rate_limit_per_minute
           = 0` so the User API rate limit does not throttle the load.
  phase 1  one `stablecheckout serve -c CONFIG --listen 127.0.0.1:PORT --migrate` process with
           in-memory channels (no REDIS_URL). Warm-up: a few sockets and cancels. Its VmRSS is
           read, then --clients WebSockets are opened from separate client processes (python
           `websockets`, asyncio), each on its own order, each authenticated by the query
           parameters `signed_url` + `signature` and each waiting for its snapshot frame. After
           --settle seconds idle, VmRSS is read again: (after - before) / clients is the RSS per
           idle connection. Then --rate status changes per second for --seconds: each one is a
           signed `POST /api/v1/user/orders/{id}/cancel` on a distinct connected order (the
           commit happens inside that request, then the change is published on `order:{id}`),
           sent open-loop on a fixed schedule.
  phase 2  two processes over Redis (REDIS_URL): A is a full `serve`, B is `serve --api-only`.
           Half the sockets are on A, half on B; a socket on A has its order cancelled through B
           and vice versa, so every update crosses Redis. Same rate and duration.

Latency. CLOCK_MONOTONIC is one clock for every process on a Linux machine, so timestamps taken
in different processes compare directly. The client process stamps each `status_update` frame
when it reaches its code. The commit is stamped by LISTEN: a trigger installed in the benchmark's
own database (not part of the app) runs `pg_notify` when an order's status changes, and
PostgreSQL delivers that notification when the transaction commits. So:
  commit->frame  frame time - notification time (the target: p99 <= 50 ms). It reads the commit
                 a fraction of a millisecond late, so it is a slight underestimate;
  send->frame    frame time - the moment just before the cancel request was written: an upper
                 bound that also holds the HTTP request, the UPDATE and the commit's fsync.
Lost = cancels answered 200 whose socket never got the frame within 5 s. Every socket that was
not cancelled must still be open at the end. Other programs running on the machine skew latency:
the CPU busy in the second before each latency run ("other load") is reported, and --wait-quiet
waits for a quiet machine first.

File descriptors: the soft RLIMIT_NOFILE is raised to the hard limit in this process before any
child starts (servers and client processes inherit it); if the hard limit is below what the run
needs, the run stops with an error instead of quietly opening fewer sockets. Each client process
checks its own limit again.

Exit status: 0 when the run completed, every socket connected, no frame was lost and every
cancel answered 200; missed targets (RSS/idle connection <= 50 KiB, p99 <= 50 ms) fail the run
only with --strict. The whole run is bounded by --deadline seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import gc
import json
import math
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.security.signatures import sign_url  # noqa: E402
from devkit.harness import (  # noqa: E402
    AppProcess,
    create_database,
    drop_database,
    free_port,
    machine_cpu_seconds,
    nearest_rank,
    proc_cpu_seconds,
    proc_status_kb,
    runqueue_wait_seconds,
)

SECRET = "bench-merchant-Hk4Qz8Lw2Xr6Nv0Jt5Mc9Pb-" + "w" * 16
ORIGIN = "https://checkout.example.com"
CLK_TCK = os.sysconf("SC_CLK_TCK")
TARGET_RSS_KIB = 50.0
TARGET_P99_MS = 50.0
FRAME_GRACE_S = 5.0  # how long after the last cancel a frame may still arrive
FD_MARGIN = 512  # descriptors beyond one per socket: listeners, DB pool, Redis, logs, pipes

CONFIG_TOML = """\
[admin]
secret = "bench-admin-Rw7Tk3Zq9Lm1"

[merchant]
name = "Benchmark Shop"
secret = "{secret}"
allowed_origins = ["{origin}"]

[[wallets]]
blockchain = "eth"
address = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
enabled_coins = ["USDT", "USDC"]

[security]
user_rate_limit_per_minute = 0
websocket_max_per_client = 0  # every client runs on 127.0.0.1

[webhooks]
allow_private_targets = true  # the webhook sink runs on 127.0.0.1
"""


class BenchError(Exception):
    pass


T0 = time.monotonic()


def say(text: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f} s] {text}", flush=True)


# --------------------------------------------------------------------------- small helpers


def checkout_url(order_id: str) -> str:
    """The URL a merchant backend signs for the hosted checkout page of one order."""
    return f"{ORIGIN}/pay?order_id={order_id}"


def ws_url(base: str, order_id: str) -> str:
    signed = checkout_url(order_id)
    query = urlencode(
        {"signed_url": signed, "signature": sign_url(SECRET, signed, int(time.time()))}
    )
    return f"{base}/api/v1/user/orders/{order_id}/ws?{query}"


def all_cpu() -> dict[tuple[int, str], float]:
    """CPU seconds so far of every process on the machine, keyed by (pid, short command line)."""
    usage: dict[tuple[int, str], float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        name = " ".join(Path(w).name if w.startswith("/") else w for w in cmd.split()[:4])
        usage[(int(entry.name), name[:70])] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return usage


def top_cpu(before: dict[tuple[int, str], float], wall: float, n: int = 6) -> list[str]:
    """The processes that used the most CPU since `before` (new processes count from zero)."""
    after = all_cpu()
    used = sorted(((t - before.get(k, 0.0), k) for k, t in after.items()), reverse=True)[:n]
    return [f"{seconds / wall:5.2f} cores  pid {pid} {name}" for seconds, (pid, name) in used]


def busy_cores(start: tuple[float, float], end: tuple[float, float]) -> float:
    """How many CPUs were busy on average between two machine_cpu_seconds() readings."""
    wall = (end[1] - start[1]) / (os.cpu_count() or 1)
    return (end[0] - start[0]) / wall if wall > 0 else 0.0


def wait_quiet(limit: float) -> float:
    """Wait up to `limit` s for a second in which the machine uses < 20 % of one CPU."""
    end = time.monotonic() + limit
    while True:
        before = machine_cpu_seconds()
        time.sleep(1.0)
        load = busy_cores(before, machine_cpu_seconds())
        if load < 0.2 or time.monotonic() >= end:
            return load


def raise_nofile(need: int, who: str) -> int:
    """Soft RLIMIT_NOFILE up to the hard limit; a hard limit below `need` is an error."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        try:  # root with CAP_SYS_RESOURCE may raise the hard limit itself
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
            hard = need
        except (ValueError, OSError) as exc:
            raise BenchError(
                f"{who}: RLIMIT_NOFILE hard limit is {hard}, this run needs {need} descriptors "
                f"and raising it failed ({exc}). Raise it (ulimit -Hn, systemd LimitNOFILE, "
                f"docker --ulimit nofile=...) or pass a smaller --clients."
            ) from None
    target = hard if hard != resource.RLIM_INFINITY else max(need, soft)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return int(resource.getrlimit(resource.RLIMIT_NOFILE)[0])


# --------------------------------------------------------------------------- client process


async def _stdin_reader() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


def _emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
    sys.stdout.flush()


async def sink_main() -> None:
    """The merchant's webhook endpoint: answers every POST with 200 and counts them."""
    count = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                count += 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    stdin = await _stdin_reader()
    _emit({"event": "ready", "port": server.sockets[0].getsockname()[1]})
    while line := await stdin.readline():
        command = json.loads(line)["cmd"]
        if command == "report":
            _emit({"event": "report", "count": count})
        elif command == "quit":
            break
    _emit({"event": "bye"})
    os._exit(0)  # open keep-alive connections from the servers need no goodbye


async def worker_main() -> None:
    """One client process: opens its share of the sockets and timestamps every frame."""
    from websockets.asyncio.client import ClientConnection, connect
    from websockets.exceptions import ConnectionClosed

    stdin = await _stdin_reader()
    job = json.loads(await stdin.readline())
    targets: list[tuple[str, str]] = [tuple(t) for t in job["targets"]]  # type: ignore[misc]
    limit = raise_nofile(len(targets) + 256, f"client process {os.getpid()}")
    if limit < len(targets) + 256:
        raise BenchError(f"client process: RLIMIT_NOFILE {limit} < {len(targets) + 256}")
    compression = None if job["compression"] == "none" else "deflate"

    conns: dict[str, ClientConnection] = {}
    received: dict[str, tuple[float, str]] = {}
    errors: Counter[str] = Counter()
    failed: list[str] = []
    unexpected_close: Counter[str] = Counter()
    terminal_close: Counter[str] = Counter()
    extra_frames = 0
    watchers: list[asyncio.Task[None]] = []
    sem = asyncio.Semaphore(job["concurrency"])

    async def watch(ws: ClientConnection, oid: str) -> None:
        nonlocal extra_frames
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                now = time.monotonic()
                frame = json.loads(message)
                status = str((frame.get("order") or {}).get("status"))
                if (
                    frame.get("type") == "status_update"
                    and status != "pending"
                    and oid not in received
                ):
                    received[oid] = (now, status)
                    continue
                extra_frames += 1
        code = str(ws.close_code)
        (terminal_close if oid in received else unexpected_close)[code] += 1

    async def open_one(base: str, oid: str) -> None:
        async with sem:
            try:
                ws = await connect(
                    ws_url(base, oid),
                    compression=compression,
                    ping_interval=None,  # browsers send no pings; the server's pings are answered
                    open_timeout=60,
                    close_timeout=10,
                    proxy=None,
                )
                snapshot = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if snapshot.get("type") != "status_update" or snapshot["order"]["status"] != (
                    "pending"
                ):
                    await ws.close()
                    raise BenchError(f"unexpected snapshot {snapshot}")
            except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
                errors[f"{type(exc).__name__}: {str(exc)[:120]}"] += 1
                failed.append(oid)
                return
        conns[oid] = ws
        watchers.append(asyncio.create_task(watch(ws, oid)))

    started = time.monotonic()
    await asyncio.gather(*(open_one(base, oid) for base, oid in targets))
    _emit(
        {
            "event": "connected",
            "ok": len(conns),
            "failed": failed,
            "errors": dict(errors),
            "seconds": time.monotonic() - started,
        }
    )

    while line := await stdin.readline():
        command = json.loads(line)["cmd"]
        if command == "report":
            still_open = sum(1 for ws in conns.values() if ws.close_code is None)
            _emit(
                {
                    "event": "report",
                    "received": received,
                    "open": still_open,
                    "unexpected_close": dict(unexpected_close),
                    "terminal_close": dict(terminal_close),
                    "extra_frames": extra_frames,
                }
            )
        elif command == "quit":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*(ws.close() for ws in conns.values()), return_exceptions=True),
                    30,
                )
            for task in watchers:
                task.cancel()
            _emit({"event": "bye"})
            return


LIVE_WORKERS: list[Worker] = []


class Worker:
    """The orchestrator's handle on one client process."""

    def __init__(self, proc: asyncio.subprocess.Process, name: str, log_path: Path) -> None:
        self.proc, self.name, self.log_path = proc, name, log_path

    @classmethod
    async def start(
        cls, name: str, targets: list[tuple[str, str]], args: argparse.Namespace, tmp: Path
    ) -> Worker:
        worker = await cls.spawn(name, "--worker", tmp)
        job = {"targets": targets, "concurrency": args.concurrency, "compression": args.compression}
        await worker.send(job)
        return worker

    @classmethod
    async def spawn(cls, name: str, mode: str, tmp: Path) -> Worker:
        log_path = tmp / f"{name}.log"
        with log_path.open("wb") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                str(Path(__file__).resolve()),
                mode,
                cwd=ROOT,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                limit=1 << 26,
                start_new_session=True,
            )
        worker = cls(proc, name, log_path)
        LIVE_WORKERS.append(worker)
        return worker

    async def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        await self.proc.stdin.drain()

    async def expect(self, event: str, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        except TimeoutError:
            raise BenchError(f"{self.name}: no '{event}' after {timeout:.0f} s") from None
        if not line:
            await self.proc.wait()
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise BenchError(f"{self.name} exited with {self.proc.returncode}:\n{tail}")
        message: dict[str, Any] = json.loads(line)
        if message.get("event") != event:
            raise BenchError(f"{self.name}: expected '{event}', got {message}")
        return message

    async def quit(self, graceful: bool = True) -> None:
        """Close its sockets properly (graceful) or just end the process, which drops them."""
        if self.proc.returncode is not None:
            return
        if graceful:
            with contextlib.suppress(Exception):
                await self.send({"cmd": "quit"})
                await self.expect("bye", 40)
        self.kill()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.proc.wait(), 10)

    def kill(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)


# --------------------------------------------------------------------------- servers


class Server(AppProcess):
    """A `serve` under test, in its own process group."""

    @property
    def http(self) -> str:
        return self.url

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


async def start_server(
    name: str, config: Path, env: dict[str, str], tmp: Path, *extra: str
) -> Server:
    port = free_port()
    argv = ["serve", "-c", str(config), "--listen", f"127.0.0.1:{port}", "--migrate", *extra]
    server = Server(
        name,
        argv,
        tmp / f"{name}.log",
        env=env,
        inherit_env=False,
        port=port,
        new_session=True,
        banner=False,
    )
    server.start()
    try:
        await server.await_healthy(60)
    except (RuntimeError, TimeoutError) as exc:
        server.stop()
        raise BenchError(f"{name} not healthy: {exc}\n{server.log_tail(40)}") from None
    return server


# --------------------------------------------------------------------------- database


async def insert_orders(dsn: str, count: int, webhook_url: str) -> list[str]:
    """`count` pending orders, as `create_order` would write them, via COPY."""
    import asyncpg

    now = dt.datetime.now(dt.UTC)
    expires = now + dt.timedelta(days=1)
    ids = [uuid.uuid4() for _ in range(count)]
    rows = [
        (
            oid,
            f"bench-ws-{i}",
            Decimal(1999),
            2,
            "pending",
            webhook_url,
            now,
            now,
            expires,
        )
        for i, oid in enumerate(ids)
    ]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(NOTIFY_SQL)
        await conn.copy_records_to_table(
            "orders",
            records=rows,
            columns=[
                "id",
                "merchant_order_id",
                "amount_units",
                "amount_scale",
                "status",
                "webhook_url",
                "created_at",
                "updated_at",
                "expires_at",
            ],
        )
    finally:
        await conn.close()
    return [str(oid) for oid in ids]


# --------------------------------------------------------------------------- measurements


@dataclass
class Latency:
    label: str
    sent: int = 0
    non200: Counter[str] = field(default_factory=Counter)
    lost: int = 0
    send_ms: list[float] = field(default_factory=list)  # send -> frame (upper bound)
    commit_ms: list[float] = field(default_factory=list)  # commit (NOTIFY) -> frame
    no_notify: int = 0  # frames whose commit notification never arrived
    commit_by_home: dict[str, list[float]] = field(default_factory=dict)  # by the socket's server
    http_ms: list[float] = field(default_factory=list)  # the cancel request itself
    probe_ms: list[float] = field(default_factory=list)  # a bare INSERT+commit, every 100 ms
    probe_rtt_ms: dict[str, list[float]] = field(default_factory=dict)  # event-loop ping RTTs
    achieved_rate: float = 0.0
    server_cpu: dict[str, float] = field(default_factory=dict)  # share of one core
    machine_cores: float = 0.0  # CPUs busy on the whole machine while publishing
    server_rq_wait: dict[str, float] = field(default_factory=dict)  # s waiting for a CPU per s
    top: list[str] = field(default_factory=list)  # the busiest processes while publishing
    quiet_before: float = 0.0  # CPUs busy in the second before the run (other load)
    webhooks: int = 0  # webhook deliveries the sink answered during the phase
    open_after: int = 0
    open_expected: int = 0
    unexpected_close: Counter[str] = field(default_factory=Counter)
    terminal_close: Counter[str] = field(default_factory=Counter)
    extra_frames: int = 0

    def p(self, values: list[float], q: float) -> float:
        return nearest_rank(sorted(values), q)


@dataclass
class Idle:
    label: str
    clients: int
    connected: int = 0
    failed: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    connect_seconds: float = 0.0
    rss_before: dict[str, int] = field(default_factory=dict)  # KiB
    rss_after: dict[str, int] = field(default_factory=dict)
    rss_after_load: dict[str, int] = field(default_factory=dict)
    connect_cpu: dict[str, float] = field(default_factory=dict)
    idle_cpu: dict[str, float] = field(default_factory=dict)  # cores, while all sockets idle
    stall_max_ms: dict[str, float] = field(default_factory=dict)  # longest probe RTT before load

    @property
    def per_conn_kib(self) -> float:
        delta = sum(self.rss_after.values()) - sum(self.rss_before.values())
        return delta / self.connected if self.connected else math.nan


NOTIFY_SQL = """
CREATE FUNCTION bench_commit_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('bench_commit', NEW.id::text);
    RETURN NEW;
END $$;
CREATE TRIGGER bench_commit_notify AFTER UPDATE OF status ON orders
    FOR EACH ROW WHEN (NEW.status IS DISTINCT FROM OLD.status)
    EXECUTE FUNCTION bench_commit_notify();
CREATE TABLE bench_commit_probe (at timestamptz NOT NULL DEFAULT now());
"""


async def commit_probe(dsn: str, stop: asyncio.Event, out: list[float]) -> None:
    """Time a one-row INSERT (a commit, with its WAL flush) every 100 ms until `stop`.

    It tells PostgreSQL's own stalls (checkpoints, a busy disk) from the server's.
    """
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        while not stop.is_set():
            t0 = time.monotonic()
            await conn.execute("INSERT INTO bench_commit_probe DEFAULT VALUES")
            out.append((time.monotonic() - t0) * 1000)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def commit_listener(dsn: str) -> Any:
    """{order id: monotonic time its status change was committed}, from LISTEN.

    The trigger (NOTIFY_SQL, installed in the benchmark's own database only) queues a
    notification inside the status-changing transaction; PostgreSQL delivers it to listeners
    when, and only when, that transaction commits. The delivery itself takes well under 1 ms
    on loopback, so this reads the commit a little late: commit->frame is a slight underestimate
    and send->frame the upper bound.
    """
    import asyncpg

    commits: dict[str, float] = {}
    conn = await asyncpg.connect(dsn)

    def on_notify(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
        commits.setdefault(payload, time.monotonic())

    await conn.add_listener("bench_commit", on_notify)
    try:
        yield commits
    finally:
        await conn.close()


def split(items: list[Any], parts: int) -> list[list[Any]]:
    return [items[i::parts] for i in range(parts)]


async def warm_up(
    servers: list[Server], orders: list[str], args: argparse.Namespace, tmp: Path
) -> None:
    """Load the code paths (handshake, snapshot, subscribe, cancel, publish) before measuring."""
    targets = [(servers[i % len(servers)].ws, oid) for i, oid in enumerate(orders)]
    worker = await Worker.start("warmup", targets, args, tmp)
    try:
        connected = await worker.expect("connected", 60)
        if connected["failed"]:
            raise BenchError(f"warm-up sockets failed: {connected['errors']}")
        pairs = [(servers[(i + 1) % len(servers)], oid) for i, oid in enumerate(orders[::2])]
        await send_cancels(pairs, rate=50)
    finally:
        await worker.quit()


async def loop_probe(
    server: Server, order_id: str, stop: asyncio.Event, out: list[tuple[float, float]]
) -> None:
    """Ping the server over one more socket every 50 ms: (time, round trip in ms).

    uvicorn answers a ping from the event loop's read callback, so the round trip is how long
    that loop takes to get to a ready socket: it shows stalls (garbage collection, long
    callbacks) that hold every socket of the process.
    """
    from websockets.asyncio.client import connect

    async with connect(
        ws_url(server.ws, order_id), compression=None, ping_interval=None, proxy=None
    ) as ws:
        await ws.recv()  # the snapshot
        while not stop.is_set():
            t0 = time.monotonic()
            pong = await ws.ping()
            await asyncio.wait_for(pong, 60)
            out.append((t0, (time.monotonic() - t0) * 1000))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.05)


class HttpPool:
    """A few keep-alive HTTP/1.1 connections to one server, for bodiless requests.

    Deliberately minimal: a general client (httpx) spends CPU per queued request, and in this
    process that CPU would delay the very timestamps being taken.
    """

    def __init__(self, port: int, size: int) -> None:
        self.port, self.size, self.opened = port, size, 0
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )

    async def _get(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.idle.empty() and self.opened < self.size:
            self.opened += 1
            try:
                return await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                self.opened -= 1
                raise
        return await self.idle.get()

    async def request(self, raw: bytes) -> tuple[float, float, int]:
        """(t_send, t_response, status); status -1 on a transport error or timeout."""
        conn = await self._get()
        reader, writer = conn
        t0 = time.monotonic()
        try:
            writer.write(raw)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length:
                await asyncio.wait_for(reader.readexactly(length), 30)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError, IndexError):
            writer.close()
            self.opened -= 1
            return t0, time.monotonic(), -1
        t1 = time.monotonic()
        self.idle.put_nowait(conn)
        return t0, t1, status

    def close(self) -> None:
        while not self.idle.empty():
            self.idle.get_nowait()[1].close()


async def send_cancels(
    pairs: list[tuple[Server, str]], rate: float
) -> tuple[list[tuple[str, float, float, int]], float]:
    """Cancel each (server, order) open-loop at `rate`/s; (order, t_send, t_resp, status)."""
    ts = int(time.time())
    raw = {}
    for server, oid in pairs:
        url = checkout_url(oid)
        raw[oid] = (
            f"POST /api/v1/user/orders/{oid}/cancel HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{server.port}\r\n"
            f"Ocrch-Signed-Url: {url}\r\n"
            f"Ocrch-Signature: {sign_url(SECRET, url, ts)}\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()
    pools = {s.name: HttpPool(s.port, 64) for s, _ in pairs}
    results: list[tuple[str, float, float, int]] = []

    async def one(server: Server, oid: str) -> None:
        try:
            t0, t1, status = await pools[server.name].request(raw[oid])
        except OSError:
            t0 = t1 = time.monotonic()
            status = -1
        results.append((oid, t0, t1, status))

    try:
        tasks = []
        start = time.monotonic() + 0.05
        for i, (server, oid) in enumerate(pairs):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(server, oid)))
        elapsed = time.monotonic() - start
        await asyncio.gather(*tasks)
    finally:
        for pool in pools.values():
            pool.close()
    return results, (len(pairs) - 1) / elapsed if len(pairs) > 1 and elapsed > 0 else 0.0


async def run_phase(
    label: str,
    servers: list[Server],
    orders: list[str],
    warm_orders: list[str],
    args: argparse.Namespace,
    tmp: Path,
    sink: Worker,
) -> tuple[Idle, Latency]:
    """Connect one socket per order, read RSS, then publish and time the frames."""
    await warm_up(servers, warm_orders[len(servers) :], args, tmp)
    stop_probes = asyncio.Event()
    probe_rtts: dict[str, list[tuple[float, float]]] = {s.name: [] for s in servers}
    probes = [
        asyncio.create_task(loop_probe(s, warm_orders[i], stop_probes, probe_rtts[s.name]))
        for i, s in enumerate(servers)
    ]
    try:
        return await measure_phase(label, servers, orders, args, tmp, sink, probe_rtts)
    finally:
        stop_probes.set()
        await asyncio.gather(*probes, return_exceptions=True)


async def measure_phase(
    label: str,
    servers: list[Server],
    orders: list[str],
    args: argparse.Namespace,
    tmp: Path,
    sink: Worker,
    probe_rtts: dict[str, list[tuple[float, float]]],
) -> tuple[Idle, Latency]:
    await asyncio.sleep(1.0)
    idle = Idle(label, len(orders))
    idle.rss_before = {s.name: proc_status_kb(s.pid) for s in servers}
    cpu0 = {s.name: proc_cpu_seconds(s.pid) for s in servers}

    # socket i lives on servers[i % n]; its cancel goes to the next server (the same one if n == 1)
    home = {oid: servers[i % len(servers)] for i, oid in enumerate(orders)}
    targets = [(home[oid].ws, oid) for oid in orders]
    workers: list[Worker] = []
    try:
        started = time.monotonic()
        for i, part in enumerate(split(targets, args.client_procs)):
            workers.append(await Worker.start(f"{label}-client{i}", part, args, tmp))
        connected = [await w.expect("connected", args.deadline) for w in workers]
        idle.connect_seconds = time.monotonic() - started
        failed: set[str] = set()
        for c in connected:
            idle.connected += c["ok"]
            failed.update(c["failed"])
            idle.errors.update(c["errors"])
        idle.failed = len(failed)
        idle.connect_cpu = {s.name: proc_cpu_seconds(s.pid) - cpu0[s.name] for s in servers}
        for s in servers:
            s.alive()
        say(
            f"  {label}: {idle.connected}/{len(orders)} sockets open in "
            f"{idle.connect_seconds:.1f} s; idle for {args.settle:.0f} s"
        )
        cpu_idle0 = {s.name: proc_cpu_seconds(s.pid) for s in servers}
        await asyncio.sleep(args.settle)
        idle.idle_cpu = {
            s.name: (proc_cpu_seconds(s.pid) - cpu_idle0[s.name]) / args.settle for s in servers
        }
        idle.rss_after = {s.name: proc_status_kb(s.pid) for s in servers}

        # ---- status changes
        lat = Latency(label)
        live = [oid for oid in orders if oid not in failed]
        count = min(int(args.rate * args.seconds), len(live))
        chosen = random.Random(4).sample(live, count)
        step = {s.name: servers[(i + 1) % len(servers)] for i, s in enumerate(servers)}
        pairs = [(step[home[oid].name], oid) for oid in chosen]
        say(f"  {label}: publishing {count} status changes at {args.rate:.0f}/s")
        lat.quiet_before = await asyncio.to_thread(wait_quiet, args.wait_quiet)
        await sink.send({"cmd": "report"})
        hooks0 = (await sink.expect("report", 10))["count"]
        cpu1 = {s.name: proc_cpu_seconds(s.pid) for s in servers}
        rq1 = {s.name: runqueue_wait_seconds(s.pid) for s in servers}
        procs0 = all_cpu()
        m0 = machine_cpu_seconds()
        t_start = time.monotonic()
        stop_probe = asyncio.Event()
        probe = asyncio.create_task(commit_probe(args.dsn, stop_probe, lat.probe_ms))
        async with commit_listener(args.dsn) as commits:
            results, lat.achieved_rate = await send_cancels(pairs, args.rate)
            await asyncio.sleep(0.5)
        stop_probe.set()
        await probe
        t_end = time.monotonic()
        wall = t_end - t_start
        for name, rtts in probe_rtts.items():
            idle.stall_max_ms[name] = max((rtt for t, rtt in rtts if t < t_start), default=math.nan)
            lat.probe_rtt_ms[name] = [rtt for t, rtt in rtts if t_start <= t <= t_end]
        lat.machine_cores = busy_cores(m0, machine_cpu_seconds())
        lat.top = top_cpu(procs0, wall)
        lat.server_cpu = {s.name: (proc_cpu_seconds(s.pid) - cpu1[s.name]) / wall for s in servers}
        lat.server_rq_wait = {
            s.name: (runqueue_wait_seconds(s.pid) - rq1[s.name]) / wall for s in servers
        }
        await asyncio.sleep(FRAME_GRACE_S if count else 0.5)
        await sink.send({"cmd": "report"})
        lat.webhooks = (await sink.expect("report", 10))["count"] - hooks0
        idle.rss_after_load = {s.name: proc_status_kb(s.pid) for s in servers}

        received: dict[str, float] = {}
        for w in workers:
            await w.send({"cmd": "report"})
            report = await w.expect("report", 60)
            received.update({oid: t for oid, (t, _status) in report["received"].items()})
            lat.open_after += report["open"]
            lat.unexpected_close.update(report["unexpected_close"])
            lat.terminal_close.update(report["terminal_close"])
            lat.extra_frames += report["extra_frames"]
        lat.sent = len(results)
        ok = set()
        for oid, t0, t1, status in results:
            if status != 200:
                lat.non200[str(status)] += 1
                continue
            ok.add(oid)
            lat.http_ms.append((t1 - t0) * 1000)
            if oid not in received:
                lat.lost += 1
                continue
            lat.send_ms.append((received[oid] - t0) * 1000)
            if oid in commits:
                lat.commit_ms.append((received[oid] - commits[oid]) * 1000)
                lat.commit_by_home.setdefault(home[oid].name, []).append(lat.commit_ms[-1])
            else:
                lat.no_notify += 1
        lat.open_expected = idle.connected - len(ok)
        for s in servers:
            s.alive()
        return idle, lat
    finally:
        # Thousands of close handshakes measure nothing here: end the clients, drop the sockets.
        await asyncio.gather(*(w.quit(graceful=False) for w in workers), return_exceptions=True)


# --------------------------------------------------------------------------- report


def fmt_ms(values: list[float], q: float) -> str:
    return f"{nearest_rank(sorted(values), q):7.1f}" if values else "    n/a"


def print_report(
    args: argparse.Namespace, phases: list[tuple[Idle, Latency]], fd_limit: int
) -> list[str]:
    """The table; returns the list of problems (failures and missed targets)."""
    problems: list[str] = []
    misses: list[str] = []
    print()
    print(
        f"WebSocket fan-out: {args.clients} clients, {args.rate:.0f} changes/s for "
        f"{args.seconds:.0f} s, client compression={args.compression}, "
        f"{args.client_procs} client processes, RLIMIT_NOFILE={fd_limit}"
    )
    print()
    print(
        f"{'setup':<28}{'open':>7}{'fail':>6}{'connect s':>10}{'conn/s':>8}"
        f"{'RSS before':>12}{'RSS idle':>10}{'after load':>11}{'KiB/conn':>10}"
        f"{'CPU ms/conn':>12}{'idle CPU':>9}{'max stall':>10}"
    )
    for idle, _ in phases:
        rate = idle.connected / idle.connect_seconds if idle.connect_seconds else 0
        before = sum(idle.rss_before.values()) / 1024
        after = sum(idle.rss_after.values()) / 1024
        after_load = sum(idle.rss_after_load.values()) / 1024
        print(
            f"{idle.label:<28}{idle.connected:>7}{idle.failed:>6}{idle.connect_seconds:>10.1f}"
            f"{rate:>8.0f}{before:>10.1f}MB{after:>8.1f}MB{after_load:>9.1f}MB"
            f"{idle.per_conn_kib:>10.1f}"
            f"{sum(idle.connect_cpu.values()) * 1000 / max(1, idle.connected):>12.2f}"
            f"{sum(idle.idle_cpu.values()):>9.2f}"
            f"{max(idle.stall_max_ms.values(), default=math.nan):>8.0f}ms"
        )
        if len(idle.rss_before) > 1:
            for name in idle.rss_before:
                print(
                    f"  {name:<26}{'':>31}{idle.rss_before[name] / 1024:>10.1f}MB"
                    f"{idle.rss_after[name] / 1024:>8.1f}MB"
                    f"{idle.rss_after_load[name] / 1024:>9.1f}MB"
                )
        if idle.failed:
            problems.append(f"{idle.label}: {idle.failed} sockets failed: {dict(idle.errors)}")
    print()
    print(
        f"{'latency, ms':<28}{'sent':>6}{'rate/s':>7}{'p50':>8}{'p90':>8}{'p99':>8}{'max':>8}"
        f"{'lost':>6}{'non200':>7}  CPU (cores)"
    )
    for _, lat in phases:
        cpu = " ".join(f"{name} {share:.2f}" for name, share in lat.server_cpu.items())
        cpu += f", machine {lat.machine_cores:.2f} of {os.cpu_count()}; waiting for a CPU: "
        cpu += " ".join(f"{name} {share * 100:.0f}%" for name, share in lat.server_rq_wait.items())
        print(
            f"{lat.label + ' send->frame':<28}{lat.sent:>6}{lat.achieved_rate:>7.0f}"
            f"{fmt_ms(lat.send_ms, 50):>8}{fmt_ms(lat.send_ms, 90):>8}{fmt_ms(lat.send_ms, 99):>8}"
            f"{fmt_ms(lat.send_ms, 100):>8}{lat.lost:>6}{sum(lat.non200.values()):>7}  {cpu}"
        )
        print(
            f"{'  commit->frame':<28}{'':>13}{fmt_ms(lat.commit_ms, 50):>8}"
            f"{fmt_ms(lat.commit_ms, 90):>8}{fmt_ms(lat.commit_ms, 99):>8}"
            f"{fmt_ms(lat.commit_ms, 100):>8}"
        )
        if len(lat.commit_by_home) > 1:
            for name, values in sorted(lat.commit_by_home.items()):
                print(
                    f"{'    socket on ' + name:<28}{'':>13}{fmt_ms(values, 50):>8}"
                    f"{fmt_ms(values, 90):>8}{fmt_ms(values, 99):>8}{fmt_ms(values, 100):>8}"
                )
        print(
            f"{'  cancel request (HTTP)':<28}{'':>13}{fmt_ms(lat.http_ms, 50):>8}"
            f"{fmt_ms(lat.http_ms, 90):>8}{fmt_ms(lat.http_ms, 99):>8}{fmt_ms(lat.http_ms, 100):>8}"
            f"{'':>13}  other load before: {lat.quiet_before:.2f}"
        )
        for name, values in sorted(lat.probe_rtt_ms.items()):
            print(
                f"{'  loop probe (ping) ' + name:<28}{'':>13}{fmt_ms(values, 50):>8}"
                f"{fmt_ms(values, 90):>8}{fmt_ms(values, 99):>8}{fmt_ms(values, 100):>8}"
            )
        print(
            f"{'  PostgreSQL commit probe':<28}{'':>13}{fmt_ms(lat.probe_ms, 50):>8}"
            f"{fmt_ms(lat.probe_ms, 90):>8}{fmt_ms(lat.probe_ms, 99):>8}"
            f"{fmt_ms(lat.probe_ms, 100):>8}"
        )
        print(f"{'':<28}webhooks delivered to the sink during the phase: {lat.webhooks}")
        print(f"{'':<28}busiest processes on the machine while publishing:")
        for line in lat.top:
            print(f"{'':<30}{line}")
        if lat.lost:
            problems.append(f"{lat.label}: {lat.lost} frames lost")
        if lat.no_notify:
            print(f"  note: LISTEN missed {lat.no_notify} commits (commit->frame omits them)")
        if lat.non200:
            problems.append(f"{lat.label}: cancel answers other than 200: {dict(lat.non200)}")
        if lat.open_after != lat.open_expected:
            problems.append(
                f"{lat.label}: {lat.open_after} sockets open at the end, expected "
                f"{lat.open_expected} (unexpected closes: {dict(lat.unexpected_close)})"
            )
        if lat.extra_frames:
            problems.append(f"{lat.label}: {lat.extra_frames} unexpected frames")
        if set(lat.terminal_close) - {"1000"}:
            problems.append(f"{lat.label}: close codes after the change: {lat.terminal_close}")

    print()
    print(f"{'target':<44}{'measured':>12}{'target':>10}  verdict")
    idle1 = phases[0][0]
    rows = [(f"RSS per idle connection ({idle1.label})", idle1.per_conn_kib, TARGET_RSS_KIB, "KiB")]
    for _, lat in phases:
        rows.append(
            (
                f"p99 commit->frame ({lat.label})",
                nearest_rank(sorted(lat.commit_ms), 99),
                TARGET_P99_MS,
                "ms",
            )
        )
    for name, value, target, unit in rows:
        good = value <= target
        print(
            f"{name:<44}{value:>8.1f} {unit:<3}{'<= ' + str(int(target)):>10}  "
            f"{'met' if good else 'MISSED'}"
        )
        if not good:
            misses.append(f"{name}: {value:.1f} {unit} > {target:.0f} {unit}")
    print()
    for problem in problems:
        print(f"FAILED: {problem}")
    for miss in misses:
        print(f"target missed: {miss}")
    return problems + ([f"targets missed ({len(misses)})"] if args.strict and misses else [])


# --------------------------------------------------------------------------- main


async def run(args: argparse.Namespace, tmp: Path, cleanup: list[Any]) -> list[str]:
    per_worker = math.ceil(args.clients / args.client_procs)
    need = max(args.clients + FD_MARGIN, per_worker + FD_MARGIN)
    fd_limit = raise_nofile(need, "benchmark")
    say(f"RLIMIT_NOFILE soft limit {fd_limit} (needed {need})")

    db_name = f"bench_ws_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    await create_database(args.pg_url, db_name)
    cleanup.append(("db", db_name))
    sa_url = f"{args.pg_url.replace('postgresql://', 'postgresql+asyncpg://')}/{db_name}"
    config = tmp / "config.toml"
    config.write_text(CONFIG_TOML.format(secret=SECRET, origin=ORIGIN))
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env["DATABASE_URL"] = sa_url
    migrate = subprocess.run(
        [sys.executable, "-m", "app.cli", "migrate", "-c", str(config)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if migrate.returncode != 0:
        raise BenchError(f"migrate failed: {migrate.stdout}{migrate.stderr}")
    sink = await Worker.spawn("webhook-sink", "--sink", tmp)
    try:
        return await run_with_sink(args, tmp, cleanup, sink, config, env, db_name, fd_limit)
    finally:
        await sink.quit()


async def run_with_sink(
    args: argparse.Namespace,
    tmp: Path,
    cleanup: list[Any],
    sink: Worker,
    config: Path,
    env: dict[str, str],
    db_name: str,
    fd_limit: int,
) -> list[str]:
    sink_port = (await sink.expect("ready", 30))["port"]
    args.dsn = f"{args.pg_url}/{db_name}"
    warm = 60
    phases_wanted = 1 if args.skip_redis else 2
    t0 = time.monotonic()
    all_orders = await insert_orders(
        f"{args.pg_url}/{db_name}",
        phases_wanted * (args.clients + warm),
        f"http://127.0.0.1:{sink_port}/webhooks/ocrch",
    )
    say(f"setup: database {db_name}, {len(all_orders)} orders in {time.monotonic() - t0:.1f} s")
    chunks = [
        all_orders[i * (args.clients + warm) : (i + 1) * (args.clients + warm)]
        for i in range(phases_wanted)
    ]

    phases: list[tuple[Idle, Latency]] = []
    say("phase 1: one serve process, in-memory channels")
    server = await start_server("serve", config, env, tmp)
    cleanup.append(server)
    phases.append(
        await run_phase("1 process", [server], chunks[0][warm:], chunks[0][:warm], args, tmp, sink)
    )
    server.stop()

    if not args.skip_redis:
        say("phase 2: two serve processes over Redis (B with --api-only)")
        renv = {**env, "REDIS_URL": args.redis_url}
        a = await start_server("A", config, renv, tmp)
        cleanup.append(a)
        b = await start_server("B", config, renv, tmp, "--api-only")
        cleanup.append(b)
        phases.append(
            await run_phase(
                "2 processes + Redis", [a, b], chunks[1][warm:], chunks[1][:warm], args, tmp, sink
            )
        )
        a.stop()
        b.stop()
    return print_report(args, phases, fd_limit)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sink", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1000 clients, 3 s of changes, 1 s settle"
    )
    parser.add_argument("--clients", type=int, default=None, help="sockets (default 10000)")
    parser.add_argument("--rate", type=float, default=100.0, help="status changes per second")
    parser.add_argument("--seconds", type=float, default=None, help="publishing time (default 20)")
    parser.add_argument(
        "--settle",
        type=float,
        default=None,
        help="idle seconds before the second RSS reading (default 5)",
    )
    parser.add_argument("--client-procs", type=int, default=2, help="client processes")
    parser.add_argument(
        "--concurrency", type=int, default=50, help="handshakes in flight per client process"
    )
    parser.add_argument(
        "--compression",
        choices=["deflate", "none"],
        default="deflate",
        help="what clients offer: deflate (permessage-deflate, as browsers) or none",
    )
    parser.add_argument("--skip-redis", action="store_true", help="only the one-process phase")
    parser.add_argument(
        "--pg-url",
        default="postgresql://postgres@127.0.0.1:5432",
        help="PostgreSQL server (trust auth); a database is created and dropped",
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument(
        "--deadline",
        type=float,
        default=None,
        help="abort after this many seconds (default 600, quick 240)",
    )
    parser.add_argument("--strict", action="store_true", help="missed targets fail the run")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each latency run, wait up to this long for a second in which the machine "
        "uses < 20%% of one CPU (other load skews latency); the load seen is always reported",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the server/client logs")
    args = parser.parse_args()

    # The benchmark's own processes must not pause while they take timestamps: a full collection
    # in a client holding 5,000 sockets takes ~0.3 s. They are short-lived; garbage can wait.
    gc.disable()
    if args.worker or args.sink:
        asyncio.run(worker_main() if args.worker else sink_main())
        return 0

    args.clients = args.clients or (1000 if args.quick else 10_000)
    args.seconds = args.seconds if args.seconds is not None else (3.0 if args.quick else 20.0)
    args.settle = args.settle if args.settle is not None else (1.0 if args.quick else 5.0)
    args.deadline = (args.deadline or (240.0 if args.quick else 600.0)) + 2 * args.wait_quiet
    if args.rate * args.seconds > args.clients:
        parser.error("--rate x --seconds must not exceed --clients (one change per socket)")

    tmp = Path(tempfile.mkdtemp(prefix="bench_ws_"))
    cleanup: list[Any] = []
    problems: list[str] = []
    started = time.monotonic()

    def on_sigterm(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        problems = asyncio.run(asyncio.wait_for(run(args, tmp, cleanup), args.deadline))
    except TimeoutError:
        problems = [f"run exceeded --deadline {args.deadline:.0f} s"]
        print(f"error: {problems[0]}", file=sys.stderr)
    except BenchError as exc:
        problems = [str(exc)]
        print(f"error: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        problems = ["interrupted"]
        print("interrupted", file=sys.stderr)
    finally:
        for worker in LIVE_WORKERS:
            worker.kill()
        for item in reversed(cleanup):
            if isinstance(item, Server):
                item.stop()
        for item in cleanup:
            if isinstance(item, tuple) and item[0] == "db":
                try:
                    asyncio.run(drop_database(args.pg_url, item[1]))
                except Exception as exc:  # noqa: BLE001 - report, keep cleaning
                    print(f"could not drop database {item[1]}: {exc}", file=sys.stderr)
        if problems or args.keep_logs:
            print(f"logs kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"total time {time.monotonic() - started:.0f} s")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
