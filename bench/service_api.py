"""Benchmark: Service API order creation against a bare Litestar endpoint (issue 3).

    uv run python bench/service_api.py            # full run: 10 s warmup + 20 s measure, ~75 s
    uv run python bench/service_api.py --quick    # smoke run for CI: 1 s warmup + 3 s measure

Side by side, in one run:
  ours  one `stablecheckout serve -c CONFIG --listen 127.0.0.1:PORT --migrate` process (jobs on,
        i.e. without --api-only) on a fresh PostgreSQL database, receiving signed
        `POST /api/v1/service/orders` requests (`Ocrch-Signature` = sign_body(secret, body, ts));
  bare  bench/bare_app.py (`POST /echo` -> 201 small JSON) under uvicorn with the same settings.

Load comes from `wrk` in its own process (apt-get install -y wrk): 50 connections, closed loop,
cycling through 2000 distinct pre-signed bodies (a signature stays valid 300 s, so each wrk run
is signed just before it starts). A Lua `response` hook counts every answer that is not 201.
After the saturating run, a run at 10 connections (--low-connections) gives the latency target of
issue 20, and a short run with 1 connection the unloaded latency. The asyncpg floor (bare Litestar
+ one asyncpg INSERT) runs by default (--no-db-floor leaves it out).

Reported: req/s, p50/p90/p99/max latency, non-201 count, CPU used by the server, PostgreSQL and
wrk, the idle RSS of `serve` after startup and a few requests, and its RSS after the load; then
ours/bare throughput (target >= 30 %), our p99 at 10 connections (target <= 25 ms), server CPU
per request (target <= 0.30 ms), idle RSS (target <= 120 MB),
and a check that the orders in the database match the 201 answers counted.

The exit status is 0 when the run completed and every answer was 201 and the order count adds
up; missed performance targets fail the run only with --strict (timings depend on the machine).
PostgreSQL must be reachable at --pg-host/--pg-port as --pg-user (trust auth); the database is
created fresh and dropped at the end, also on failure or Ctrl-C. The whole run is bounded by
--deadline seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import re
import resource
import shutil
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

from app.security.signatures import sign_body  # noqa: E402
from devkit.harness import (  # noqa: E402
    AppProcess,
    create_database,
    drop_database,
    free_port,
    machine_busy_seconds,
    postgres_cpu_seconds,
    proc_cpu_seconds,
    proc_status_kb,
    runqueue_wait_seconds,
    wait_quiet,
)

SERVICE_PATH = "/api/v1/service/orders"
_ERROR_LINE = re.compile(r"\bERROR\b|\"level\": *\"error\"")
BARE_PATH = "/echo"
FLOOR_PATH = "/echo-db"
MERCHANT_SECRET = "bench-merchant-Hk4Qz8Lw2Xr6Nv0Jt5Mc9Pb-" + "x" * 16
N_BODIES = 2000

TARGET_RATIO = 0.30
TARGET_P99_MS = 25.0
"""At `--low-connections` (10): the issue-20 latency target."""
TARGET_CPU_MS = 0.30
"""Server CPU per order at 50 connections (issue 20)."""
TARGET_RSS_MB = 120.0

CONFIG_TOML = """\
[server]
listen = "127.0.0.1:{port}"

[admin]
secret = "bench-admin-Rw7Tk3Zq9Lm1"

[merchant]
name = "Benchmark Shop"
secret = "{secret}"
allowed_origins = ["http://127.0.0.1:{port}"]

[[wallets]]
blockchain = "eth"
address = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
enabled_coins = ["USDT", "USDC"]

[[wallets]]
blockchain = "tron"
address = "TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7"
enabled_coins = ["USDT"]
"""

# wrk script. Each wrk thread has its own Lua state: `init` builds that thread's requests,
# `response` counts non-201 answers in thread globals, `done` sums them through `setup`'s handles.
LUA_TEMPLATE = """\
local path = {path}
local items = {{
{items}
}}
local reqs = {{}}
local idx = 0
bad = 0
first_bad = ""

function init(args)
  for i, item in ipairs(items) do
    reqs[i] = wrk.format("POST", path,
      {{["Content-Type"] = "application/json", ["Ocrch-Signature"] = item[2]}}, item[1])
  end
  idx = math.random(#reqs) - 1
end

function request()
  idx = idx % #reqs + 1
  return reqs[idx]
end

function response(status, headers, body)
  if status ~= 201 then
    bad = bad + 1
    if first_bad == "" then first_bad = status .. " " .. string.sub(body, 1, 200) end
  end
end

local threads = {{}}
function setup(thread)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local bad_total, first = 0, ""
  for _, t in ipairs(threads) do
    bad_total = bad_total + t:get("bad")
    if first == "" then first = t:get("first_bad") end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {{"requests":%d,"duration_us":%d,"bytes":%d,"non201":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,"first_bad":%q}}\\n',
    summary.requests, summary.duration, summary.bytes, bad_total,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, first))
end
"""


class BenchError(Exception):
    pass


class DeadlineExceeded(BenchError):
    pass


# --------------------------------------------------------------------------- helpers


def lua_str(text: str) -> str:
    return json.dumps(text)  # a JSON string of ASCII text is a valid Lua string literal


def make_body(run_id: str, i: int) -> bytes:
    """A create-order body as the Ocrch SDK writes it (its field order, nulls written out)."""
    return json.dumps(
        {
            "amount": f"{10 + i % 90}.{i % 100:02d}",
            "expecting_wallet_address": None,
            "order_id": f"bench-{run_id}-{i}",
            "blockchain": None,
            "stablecoin": None,
            "webhook_url": "https://shop.example.com/webhooks/ocrch",
        },
        separators=(",", ":"),
    ).encode()


def write_lua(path: Path, url_path: str, run_id: str) -> None:
    ts = int(time.time())
    items = []
    for i in range(N_BODIES):
        body = make_body(run_id, i)
        sig = sign_body(MERCHANT_SECRET, body, ts)
        items.append(f"  {{{lua_str(body.decode())}, {lua_str(sig)}}},")
    path.write_text(LUA_TEMPLATE.format(path=lua_str(url_path), items="\n".join(items)))


def pin(cpus: set[int] | None) -> Any:
    """A preexec_fn that pins the child (and the threads it starts) to `cpus`."""
    if not cpus:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def parse_cpus(text: str) -> set[int] | None:
    return {int(x) for x in text.split(",")} if text else None


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def http_request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def signed_post(port: int, path: str, body: bytes) -> tuple[int, bytes]:
    headers = {
        "Content-Type": "application/json",
        "Ocrch-Signature": sign_body(MERCHANT_SECRET, body, int(time.time())),
    }
    return http_request(port, "POST", path, body, headers)


def pg_server(args: argparse.Namespace) -> str:
    return f"postgresql+asyncpg://{args.pg_user}@{args.pg_host}:{args.pg_port}"


def wait_up(server: AppProcess, probe: str, timeout: float) -> None:
    try:
        server.wait_healthy(timeout, path=probe, ready=UP)
    except (RuntimeError, TimeoutError) as exc:
        raise BenchError(f"{exc}\n{server.log_tail(30)}") from None


def psql(args: argparse.Namespace, sql: str, db: str | None = None) -> str:
    cmd = [
        "psql",
        "-h",
        args.pg_host,
        "-p",
        str(args.pg_port),
        "-U",
        args.pg_user,
        "-d",
        db or args.pg_admin_db,
        "-v",
        "ON_ERROR_STOP=1",
        "-At",
        "-c",
        sql,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise BenchError(f"psql failed ({sql!r}): {done.stderr.strip()}")
    return done.stdout.strip()


# --------------------------------------------------------------------------- servers


def bench_server(
    name: str,
    command: list[str],
    port: int,
    log_path: Path,
    env: dict[str, str],
    cpus: set[int] | None,
    cwd: Path = ROOT,
) -> AppProcess:
    """A server under test in its own process group (stopped with its children), pinned to
    `cpus` when given; `wait_healthy(path=PROBE, ready=UP)` waits until PROBE answers < 500."""
    return AppProcess(
        name,
        [],
        log_path,
        env=env,
        inherit_env=False,
        port=port,
        command=command,
        cwd=cwd,
        new_session=True,
        preexec_fn=pin(cpus),
        banner=False,
    )


UP = range(100, 500)


# --------------------------------------------------------------------------- load


@dataclass
class LoadResult:
    label: str
    connections: int
    seconds: float
    requests: int = 0
    non201: int = 0
    socket_errors: int = 0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    mean_ms: float = 0.0
    server_cpu: float = 0.0
    pg_cpu: float = 0.0
    wrk_cpu: float = 0.0
    server_rq_wait: float = 0.0
    other_cpu: float = 0.0
    first_bad: str = ""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def ok(self) -> int:
        return self.requests - self.non201


def run_wrk(
    args: argparse.Namespace,
    lua: Path,
    port: int,
    url_path: str,
    seconds: float,
    connections: int,
    server_pid: int,
    label: str,
) -> LoadResult:
    threads = max(1, min(args.threads, connections))
    cmd = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{seconds:g}s",
        "--timeout",
        "10s",
        "-s",
        str(lua),
        f"http://127.0.0.1:{port}{url_path}",
    ]
    cpu0, pg0, ch0 = proc_cpu_seconds(server_pid), postgres_cpu_seconds(), children_cpu_seconds()
    rq0, busy0 = runqueue_wait_seconds(server_pid), machine_busy_seconds()
    done = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=False,
        preexec_fn=pin(args.client_cpus),
    )
    cpu1, pg1, ch1 = proc_cpu_seconds(server_pid), postgres_cpu_seconds(), children_cpu_seconds()
    rq1, busy1 = runqueue_wait_seconds(server_pid), machine_busy_seconds()
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise BenchError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    data: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
    elapsed = data["duration_us"] / 1e6
    return LoadResult(
        label=label,
        connections=connections,
        seconds=elapsed,
        requests=data["requests"],
        non201=data["non201"],
        socket_errors=data["connect"] + data["read"] + data["write"] + data["timeout"],
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        mean_ms=data["mean_us"] / 1000,
        server_cpu=(cpu1 - cpu0) / elapsed,
        pg_cpu=max(0.0, pg1 - pg0) / elapsed,
        wrk_cpu=(ch1 - ch0) / elapsed,
        server_rq_wait=(rq1 - rq0) / elapsed,
        other_cpu=max(0.0, (busy1 - busy0) - (cpu1 - cpu0) - (pg1 - pg0) - (ch1 - ch0)) / elapsed,
        first_bad=data["first_bad"],
    )


@dataclass
class TargetReport:
    name: str
    warmup: LoadResult | None = None
    main: LoadResult | None = None
    low: LoadResult | None = None
    single: LoadResult | None = None
    rss_idle_kb: int = 0
    rss_after_kb: int = 0
    hwm_kb: int = 0
    priming_ok: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def runs(self) -> list[LoadResult]:
        return [r for r in (self.warmup, self.main, self.low, self.single) if r is not None]


def load_target(
    args: argparse.Namespace, server: AppProcess, url_path: str, workdir: Path, report: TargetReport
) -> None:
    lua = workdir / f"{report.name}.lua"
    run_id = uuid.uuid4().hex[:8]
    phases = [("warmup", args.warmup, args.connections), ("main", args.duration, args.connections)]
    if args.low_duration > 0:
        phases.append(("low", args.low_duration, args.low_connections))
    if args.single_duration > 0:
        phases.append(("single", args.single_duration, 1))
    for phase, seconds, conns in phases:
        if seconds <= 0:
            continue
        write_lua(lua, url_path, f"{run_id}{phase[:2]}")  # signed now: fresh for this run
        print(f"  {report.name}: {phase} {seconds:g} s, {conns} connection(s) ...", flush=True)
        spy = None
        if args.profile and report.name == "ours" and phase == "main":
            spy = start_profiler(args, server.pid, seconds)
        try:
            result = run_wrk(args, lua, server.port, url_path, seconds, conns, server.pid, phase)
        finally:
            if spy is not None:
                finish_profiler(args, spy)
        setattr(report, phase, result)
        if server.process is not None and not server.alive():
            raise BenchError(f"{server.name} died during {phase}:\n" + server.log_tail(30))


# --------------------------------------------------------------------------- profile


def start_profiler(args: argparse.Namespace, pid: int, seconds: float) -> subprocess.Popen[bytes]:
    """py-spy on the serve process for the main run (collapsed stacks, idle samples included)."""
    exe = shutil.which("py-spy")
    if exe is None:
        raise BenchError("--profile needs py-spy: uv run --with py-spy python bench/service_api.py")
    cmd = [
        exe,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, int(seconds) - 1)),
        "--rate",
        "250",
        "--idle",
        "--nonblocking",
        "--format",
        "raw",
        "--output",
        str(args.profile),
    ]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finish_profiler(args: argparse.Namespace, spy: subprocess.Popen[bytes]) -> None:
    try:
        _, err = spy.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        spy.kill()
        _, err = spy.communicate()
    if spy.returncode != 0 or not args.profile.exists():
        print(f"  py-spy failed ({spy.returncode}): {err.decode(errors='replace')[-500:]}")


_IDLE_FRAMES = ("Runner.run (", "run_forever (", "select (", "BaseEventLoop._run_once (")
_BUCKETS = (  # first match wins, checked from the innermost frame outwards
    ("event loop waiting for I/O", _IDLE_FRAMES),
    ("asyncpg", ("asyncpg/",)),
    ("sqlalchemy", ("sqlalchemy/",)),
    ("pydantic", ("pydantic",)),
    ("litestar", ("litestar/",)),
    ("uvicorn / httptools", ("uvicorn/", "httptools")),
    ("app", ("app/",)),
)


# Request phases, first match wins (checked against the whole stack). Names are SQLAlchemy's,
# asyncpg's and Litestar's internals, so this is a heuristic that may need updating with them.
_PHASES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("background jobs (expiry sweeper, webhook sender)", ("expiry_sweeper", "app/webhooks/sender")),
    ("pool pre-ping: BEGIN; ';'; ROLLBACK", ("_async_ping",)),
    ("opening PG connections (pool overflow)", ("connect (asyncpg", "dbapi_connection.create")),
    ("returning connections to the pool", ("_finalize_fairy", "_ConnectionFairy._checkin")),
    ("BEGIN", ("_start_transaction",)),
    ("INSERT through the ORM flush", ("Session.flush",)),
    ("COMMIT", ("Transaction.commit", "SessionTransaction.commit", "do_commit")),
    ("session and pool checkout, other SQLAlchemy", ("sqlalchemy/",)),
    ("signature check and body parsing", ("signed_request",)),
    ("Litestar DI: anyio task group, generator cleanup", ("anyio/", "DependencyCleanupGroup")),
    ("order object and response body (app/)", ("(app/orders", "(app/http", "(app/db")),
    ("Litestar routing, kwargs, response", ("litestar/",)),
    ("uvicorn / httptools", ("uvicorn/", "httptools")),
)


def summarize_profile(path: Path, top: int = 20) -> None:
    stacks: list[tuple[list[str], int]] = []
    for line in path.read_text(errors="replace").splitlines():
        joined, _, num = line.rpartition(" ")
        if joined and num.isdigit():
            stacks.append((joined.split(";"), int(num)))
    other_threads = sum(c for f, c in stacks if f[0].startswith("Thread._bootstrap"))
    # The event-loop thread only (the logging QueueListener thread just sleeps).
    stacks = [(f, c) for f, c in stacks if not f[0].startswith("Thread._bootstrap")]
    total = sum(c for _, c in stacks)
    if not total:
        print("  (empty profile)")
        return
    # uvloop waits for I/O in C, which py-spy shows as time in the frame that started the loop.
    idle = sum(c for f, c in stacks if f[-1].startswith(_IDLE_FRAMES))
    self_t: dict[str, int] = {}
    incl: dict[str, int] = {}
    layer: dict[str, int] = {}
    phase: dict[str, int] = {}
    for frames, count in stacks:
        if frames[-1].startswith(_IDLE_FRAMES):
            key = "event loop waiting for I/O"
        else:
            key = next(
                (n for n, keys in _PHASES if any(k in x for x in frames for k in keys)), "other"
            )
        phase[key] = phase.get(key, 0) + count
        self_t[frames[-1]] = self_t.get(frames[-1], 0) + count
        for frame in set(frames):
            incl[frame] = incl.get(frame, 0) + count
        name = "other (stdlib, uvloop, ...)"
        for frame in reversed(frames):
            hit = next((b for b, keys in _BUCKETS[1:] if any(k in frame for k in keys)), None)
            if frame is frames[-1] and frame.startswith(_IDLE_FRAMES):
                hit = _BUCKETS[0][0]
            if hit:
                name = hit
                break
        layer[name] = layer.get(name, 0) + count
    print(
        f"\nprofile of serve's event-loop thread during the main run: {total} samples "
        f"({other_threads} more in idle helper threads left out), {idle * 100 / total:.1f} % "
        f"waiting in the event loop; raw stacks in {path}"
    )
    print("  by request phase (heuristic, from the whole stack):")
    for name, count in sorted(phase.items(), key=lambda kv: -kv[1]):
        print(f"    {count * 100 / total:5.1f} %  {name}")
    print("  by innermost layer:")
    for name, count in sorted(layer.items(), key=lambda kv: -kv[1]):
        print(f"    {count * 100 / total:5.1f} %  {name}")
    print("  top inclusive frames of our own code (app/; share of all samples):")
    ours = [(f, c) for f, c in incl.items() if "(app/" in f and "app/cli.py" not in f]
    for frame, count in sorted(ours, key=lambda kv: -kv[1])[:top]:
        print(f"    {count * 100 / total:5.1f} %  {frame}")
    print("  top self frames:")
    for frame, count in sorted(self_t.items(), key=lambda kv: -kv[1])[:top]:
        print(f"    {count * 100 / total:5.1f} %  {frame}")


# --------------------------------------------------------------------------- report


def fmt_row(name: str, r: LoadResult) -> str:
    return (
        f"{name:<26} {r.connections:>4} {r.rps:>9.0f} {r.p50_ms:>8.2f} {r.p90_ms:>8.2f} "
        f"{r.p99_ms:>8.2f} {r.max_ms:>8.1f} {r.requests:>8} {r.non201:>7} "
        f"{r.socket_errors:>6} {r.server_cpu * 100:>6.0f}% {r.server_rq_wait * 100:>5.0f}% "
        f"{r.pg_cpu * 100:>6.0f}% {r.wrk_cpu * 100:>5.0f}% {r.other_cpu * 100:>5.0f}%"
    )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def print_report(
    args: argparse.Namespace,
    ours: TargetReport,
    bare: TargetReport,
    floor: TargetReport | None,
    db_orders: int | None,
    expected_orders: int,
) -> dict[str, Any]:
    header = (
        f"{'target':<26} {'conn':>4} {'req/s':>9} {'p50 ms':>8} {'p90 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>8} {'requests':>8} {'non-201':>7} {'sockerr':>6} "
        f"{'server':>7} {'rqwait':>6} {'pg':>7} {'wrk':>6} {'other':>6}"
    )
    print()
    print(
        f"Service API order creation vs bare Litestar  (wrk -t{args.threads}, "
        f"{args.connections} connections, {args.warmup:g} s warmup + {args.duration:g} s; "
        f"{os.cpu_count()} CPUs)"
    )
    print("=" * len(header))
    print(header)
    print("-" * len(header))
    targets = [(ours, "ours: stablecheckout"), (bare, "bare: litestar /echo")]
    if floor is not None:
        targets.insert(1, (floor, "floor: litestar+asyncpg"))
    for report, label in targets:
        assert report.main is not None
        print(fmt_row(label, report.main))
    for report, label in targets:
        if report.low is not None:
            print(fmt_row(label, report.low))
    for report, label in targets:
        if report.single is not None:
            print(fmt_row(label.split(":")[0] + " (1 connection)", report.single))
    print("-" * len(header))
    print(
        "server/pg/wrk/other = CPU used during the run, % of one core (pg: all postgres "
        "processes; other: everything else on the machine, >10 % means the figures are "
        "disturbed);\nrqwait = the server's event-loop thread was runnable but waiting for a CPU"
    )
    noisy = [r for rep, _ in targets for r in rep.runs() if r.other_cpu > 0.10]
    if noisy:
        worst = max(r.other_cpu for r in noisy)
        print(
            f"WARNING: other processes used up to {worst * 100:.0f} % of a core during "
            f"{len(noisy)} run(s): the machine was not quiet, rerun for clean figures"
        )
    print(f"load average (1/5/15 min) at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()

    assert ours.main is not None and bare.main is not None
    ratio = ours.main.rps / bare.main.rps if bare.main.rps else 0.0
    low_p99 = ours.low.p99_ms if ours.low is not None else ours.main.p99_ms
    low_conns = ours.low.connections if ours.low is not None else ours.main.connections
    rss_mb = ours.rss_idle_kb / 1024
    all_runs = [r for rep, _ in targets for r in rep.runs()]
    all_201 = all(r.non201 == 0 and r.socket_errors == 0 for r in all_runs)
    # wrk stops counting at its deadline while up to `connections` requests are still in flight;
    # those may still commit, so the database can hold a few more orders than the 201s counted.
    slack = sum(r.connections for r in ours.runs())
    db_ok = db_orders is not None and expected_orders <= db_orders <= expected_orders + slack
    cpu_ms = ours.main.server_cpu * 1000 / ours.main.rps if ours.main.rps else 0.0
    bare_cpu_ms = bare.main.server_cpu * 1000 / bare.main.rps if bare.main.rps else 0.0
    pg_ms = ours.main.pg_cpu * 1000 / ours.main.rps if ours.main.rps else 0.0

    rows = [
        (
            "throughput ours/bare",
            f"{ratio * 100:.1f} %  ({ours.main.rps:.0f} / {bare.main.rps:.0f} req/s)",
            f">= {TARGET_RATIO * 100:.0f} %",
            verdict(ratio >= TARGET_RATIO),
        ),
        (
            f"p99 ours, {low_conns} conns",
            f"{low_p99:.2f} ms  (at {ours.main.connections} connections {ours.main.p99_ms:.2f} ms)",
            f"<= {TARGET_P99_MS:g} ms",
            verdict(low_p99 <= TARGET_P99_MS),
        ),
        (
            "server CPU / request",
            f"{ours.main.server_cpu * 1000 / ours.main.rps if ours.main.rps else 0.0:.3f} ms",
            f"<= {TARGET_CPU_MS:g} ms",
            verdict(
                bool(ours.main.rps) and ours.main.server_cpu * 1000 / ours.main.rps <= TARGET_CPU_MS
            ),
        ),
        (
            "idle RSS of serve",
            f"{rss_mb:.1f} MB  (after load {ours.rss_after_kb / 1024:.1f},"
            f" peak {ours.hwm_kb / 1024:.1f}; bare app {bare.rss_idle_kb / 1024:.1f})",
            f"<= {TARGET_RSS_MB:g} MB",
            verdict(rss_mb <= TARGET_RSS_MB),
        ),
        ("all answers 201", "yes" if all_201 else "NO", "all", "OK" if all_201 else "FAIL"),
        (
            "orders in DB vs 201s",
            f"{db_orders} in DB, {expected_orders} counted (+ up to {slack} in flight)",
            "match",
            "OK" if db_ok else "FAIL",
        ),
    ]
    for name, value, target, mark in rows:
        print(f"  {name:<22} {value:<58} target {target:<10} {mark}")
    print(
        f"  {'server CPU / request':<22} ours {cpu_ms:.3f} ms (+ PostgreSQL {pg_ms:.3f} ms), "
        f"bare {bare_cpu_ms:.3f} ms"
    )
    pg_stat = ours.extra.get("pg_stat")
    if pg_stat and db_orders:
        per = {k: v / db_orders for k, v in pg_stat.items()}
        print(
            f"  {'PostgreSQL per order':<22} {per['commits']:.2f} commits, "
            f"{per['rollbacks']:.2f} rollbacks, {per['inserted']:.2f} rows inserted, "
            f"{per['updated']:.2f} updated, {per['fetched']:.2f} fetched "
            "(pg_stat_database over the whole run)"
        )
    errors, disconnects = ours.extra.get("log_errors", 0), ours.extra.get("log_disconnects", 0)
    print(
        f"  {'serve log':<22} {errors} lines at ERROR level; {disconnects} '500: client "
        "disconnected prematurely' (requests wrk abandons when it stops)"
    )
    floor_result: dict[str, Any] | None = None
    if floor is not None and floor.main is not None:
        floor_cpu_ms = floor.main.server_cpu * 1000 / floor.main.rps if floor.main.rps else 0.0
        print(
            f"  {'ours/asyncpg floor':<22} {ours.main.rps / floor.main.rps * 100:.1f} % "
            f"({floor.main.rps:.0f} req/s, server CPU {floor_cpu_ms:.3f} ms/request, "
            f"{floor.extra.get('rows')} rows stored)"
        )
        floor_result = {
            "main": vars(floor.main) | {"rps": floor.main.rps},
            "low": vars(floor.low) | {"rps": floor.low.rps} if floor.low else None,
            "single": vars(floor.single) | {"rps": floor.single.rps} if floor.single else None,
            "cpu_ms_per_request": floor_cpu_ms,
            "rows": floor.extra.get("rows"),
        }
    if not all_201:
        for r in all_runs:
            if r.first_bad:
                print(f"  first non-201 answer ({r.label}): {r.first_bad}")

    return {
        "connections": args.connections,
        "warmup_s": args.warmup,
        "duration_s": args.duration,
        "cpus": os.cpu_count(),
        "ours": {
            k: vars(v) | {"rps": v.rps}
            for k, v in (("main", ours.main), ("low", ours.low), ("single", ours.single))
            if v is not None
        },
        "bare": {
            k: vars(v) | {"rps": v.rps}
            for k, v in (("main", bare.main), ("low", bare.low), ("single", bare.single))
            if v is not None
        },
        "ratio": ratio,
        "asyncpg_floor": floor_result,
        "rss_idle_mb": rss_mb,
        "rss_after_mb": ours.rss_after_kb / 1024,
        "rss_peak_mb": ours.hwm_kb / 1024,
        "bare_rss_idle_mb": bare.rss_idle_kb / 1024,
        "server_cpu_ms_per_request": cpu_ms,
        "pg_cpu_ms_per_request": pg_ms,
        "bare_cpu_ms_per_request": bare_cpu_ms,
        "db_orders": db_orders,
        "pg_stat": pg_stat,
        "serve_log_errors": errors,
        "serve_log_disconnects": disconnects,
        "counted_201": expected_orders,
        "all_201": all_201,
        "db_ok": db_ok,
        "load_average": os.getloadavg(),
        "targets_met": ratio >= TARGET_RATIO
        and low_p99 <= TARGET_P99_MS
        and cpu_ms <= TARGET_CPU_MS
        and rss_mb <= TARGET_RSS_MB,
    }


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Service API order-creation benchmark.")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 1 s warmup, 3 s measure, 1 s single-connection run",
    )
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="wrk threads (1 keeps wrk on one core of a 2-core machine)",
    )
    parser.add_argument(
        "--low-connections", type=int, default=10, help="connections of the latency run"
    )
    parser.add_argument(
        "--low-duration",
        type=float,
        default=10.0,
        help="length of the run at --low-connections (0 skips it)",
    )
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument(
        "--single-duration",
        type=float,
        default=5.0,
        help="length of the 1-connection run (0 skips it)",
    )
    parser.add_argument(
        "--server-cpus",
        default="",
        help="pin the server under test to these CPUs, e.g. '0' (default: none)",
    )
    parser.add_argument(
        "--client-cpus", default="", help="pin wrk to these CPUs, e.g. '1' (default: none)"
    )
    parser.add_argument("--pg-host", default="127.0.0.1")
    parser.add_argument("--pg-port", type=int, default=5432)
    parser.add_argument("--pg-user", default="postgres")
    parser.add_argument(
        "--pg-admin-db",
        default="postgres",
        help="existing database to connect to for CREATE/DROP DATABASE",
    )
    parser.add_argument(
        "--deadline",
        type=float,
        default=115.0,
        help="abort (and clean up) after this many seconds (plus --wait-quiet)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="first wait up to this long until other processes leave the CPUs",
    )
    parser.add_argument(
        "--db-floor",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also load a third server: bare Litestar + one asyncpg INSERT (on by default)",
    )
    parser.add_argument(
        "--app-dir",
        type=Path,
        default=ROOT,
        help="source tree whose `app` package `serve` runs (default: this checkout), e.g. an "
        "export of a commit: git archive HEAD | tar -x -C /tmp/sc",
    )
    parser.add_argument("--json", type=Path, help="also write the results here as JSON")
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when a performance target is missed"
    )
    parser.add_argument(
        "--db-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="ALTER DATABASE ... SET for the bench database, e.g. "
        "synchronous_commit=off (diagnosis only; repeatable)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="py-spy the serve process during the main run, write collapsed "
        "stacks here and print a summary (skews the numbers; needs "
        "`uv run --with py-spy`)",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the temp dir with logs")
    args = parser.parse_args(argv)
    if args.quick:
        args.warmup, args.duration, args.single_duration = 1.0, 3.0, 1.0
        args.low_duration = min(args.low_duration, 2.0)
    args.server_cpus, args.client_cpus = parse_cpus(args.server_cpus), parse_cpus(args.client_cpus)
    args.app_dir = args.app_dir.resolve()
    return args


def _on_alarm(_signum: int, _frame: Any) -> None:
    raise DeadlineExceeded("deadline reached")


def _on_term(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def serve_command(app_dir: Path) -> list[str]:
    """The `stablecheckout` console script, or `python -m app.cli` for another source tree."""
    script = Path(sys.executable).parent / "stablecheckout"
    if app_dir == ROOT and script.exists():
        return [str(script)]
    return [sys.executable, "-m", "app.cli"]


def run_floor(
    args: argparse.Namespace,
    workdir: Path,
    servers: list[AppProcess],
    name: str,
    url_path: str,
    extra_env: dict[str, str],
) -> TargetReport:
    """Serve bench/bare_app.py with `serve`'s uvicorn settings and load `url_path`."""
    port = free_port()
    server = bench_server(
        f"bare litestar ({name})",
        [sys.executable, str(ROOT / "bench" / "bare_app.py"), "--listen", f"127.0.0.1:{port}"],
        port,
        workdir / f"{name}.log",
        dict(os.environ) | extra_env,
        args.server_cpus,
    )
    servers.append(server)
    print(f"starting {server.name} on port {port} ...", flush=True)
    server.start()
    wait_up(server, BARE_PATH, timeout=20)  # GET /echo -> 405 proves it is up
    report = TargetReport(name)
    for i in range(20):
        status, body = signed_post(port, url_path, make_body("prime", i))
        if status != 201:
            raise BenchError(f"{name} priming request got {status}: {body[:300]!r}")
        report.priming_ok += 1
    time.sleep(1.0)
    report.rss_idle_kb = proc_status_kb(server.pid, "VmRSS")
    load_target(args, server, url_path, workdir, report)
    server.stop(8)
    return report


def run(args: argparse.Namespace, workdir: Path, servers: list[AppProcess], db_name: str) -> int:
    if args.wait_quiet > 0:
        print(f"waiting up to {args.wait_quiet:g} s for a quiet machine ...", flush=True)
        wait_quiet(args.wait_quiet)
    print(
        "load average (1/5/15 min) at the start: " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    asyncio.run(create_database(pg_server(args), db_name, admin_db=args.pg_admin_db))
    for setting in args.db_setting:
        name, sep, value = setting.partition("=")
        if not sep or not name.replace("_", "").replace(".", "").isalnum():
            raise BenchError(f"--db-setting wants NAME=VALUE, got {setting!r}")
        psql(args, f"ALTER DATABASE \"{db_name}\" SET {name} = '{value.replace(chr(39), '')}'")

    # ----- ours: `stablecheckout serve` on PostgreSQL, jobs on (no --api-only)
    port = free_port()
    config = workdir / "bench-config.toml"
    config.write_text(CONFIG_TOML.format(port=port, secret=MERCHANT_SECRET))
    env = {k: v for k, v in os.environ.items() if not k.startswith("STABLECHECKOUT_")}
    env["DATABASE_URL"] = (
        f"postgresql+asyncpg://{args.pg_user}@{args.pg_host}:{args.pg_port}/{db_name}"
    )
    env.pop("REDIS_URL", None)
    if args.app_dir != ROOT:
        env["PYTHONPATH"] = str(args.app_dir)
    ours_srv = bench_server(
        "stablecheckout serve",
        [
            *serve_command(args.app_dir),
            "serve",
            "-c",
            str(config),
            "--listen",
            f"127.0.0.1:{port}",
            "--migrate",
        ],
        port,
        workdir / "serve.log",
        env,
        args.server_cpus,
        args.app_dir,
    )
    servers.append(ours_srv)
    print(
        f"starting stablecheckout {' '.join(ours_srv.command[-6:])} on database {db_name} ...",
        flush=True,
    )
    t0 = time.monotonic()
    ours_srv.start()
    wait_up(ours_srv, "/health", timeout=45)
    ours = TargetReport("ours")
    print(f"  ready after {time.monotonic() - t0:.1f} s (pid {ours_srv.pid})", flush=True)

    # A few requests first, then the idle RSS (the import-and-first-request footprint).
    for i in range(20):
        status, body = signed_post(port, SERVICE_PATH, make_body("prime", i))
        if status != 201:
            raise BenchError(f"priming request got {status}: {body[:300]!r}")
        ours.priming_ok += 1
    time.sleep(1.0)
    ours.rss_idle_kb = proc_status_kb(ours_srv.pid, "VmRSS")
    print(
        f"  idle RSS after startup + {ours.priming_ok} orders: {ours.rss_idle_kb / 1024:.1f} MB",
        flush=True,
    )

    load_target(args, ours_srv, SERVICE_PATH, workdir, ours)
    time.sleep(0.5)  # let in-flight requests finish before reading RSS and counting orders
    ours.rss_after_kb = proc_status_kb(ours_srv.pid, "VmRSS")
    ours.hwm_kb = proc_status_kb(ours_srv.pid, "VmHWM")
    ours_srv.stop(8)
    db_orders = int(psql(args, "SELECT count(*) FROM orders", db=db_name))
    # Backends flush their counters when they exit, which they did with the server.
    time.sleep(0.5)
    stats = psql(
        args,
        "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_fetched "
        "FROM pg_stat_database WHERE datname = current_database()",
        db=db_name,
    )
    ours.extra["pg_stat"] = dict(
        zip(
            ("commits", "rollbacks", "inserted", "updated", "fetched"),
            map(int, stats.split("|")),
            strict=True,
        )
    )
    expected = ours.priming_ok + sum(r.ok for r in ours.runs())
    log_text = ours_srv.log_path.read_text(errors="replace")
    ours.extra["log_errors"] = sum(1 for ln in log_text.splitlines() if _ERROR_LINE.search(ln))
    ours.extra["log_disconnects"] = log_text.count("500: client disconnected prematurely")

    # ----- optional floor with a database: Litestar + one asyncpg INSERT, no SQLAlchemy
    floor = None
    if args.db_floor:
        dsn = f"postgresql://{args.pg_user}@{args.pg_host}:{args.pg_port}/{db_name}"
        floor = run_floor(args, workdir, servers, "floor", FLOOR_PATH, {"BENCH_PG_DSN": dsn})
        floor.extra["rows"] = int(psql(args, "SELECT count(*) FROM bench_floor", db=db_name))

    # ----- bare: the same uvicorn settings, no database
    bare = run_floor(args, workdir, servers, "bare", BARE_PATH, {})

    results = print_report(args, ours, bare, floor, db_orders, expected)
    if args.profile and args.profile.exists():
        summarize_profile(args.profile)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if not (results["all_201"] and results["db_ok"]):
        print(f"\nFAILED: see the server log {ours_srv.log_path}\n" + ours_srv.log_tail(15))
        return 1
    if args.strict and not results["targets_met"]:
        print("\nperformance targets missed (--strict)")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench: wrk not found; install it with `apt-get install -y wrk`", file=sys.stderr)
        return 2
    if shutil.which("psql") is None:
        print("bench: psql not found (postgresql-client)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGTERM, _on_term)
    per_target = args.warmup + args.duration + args.low_duration + args.single_duration
    extra = 2 * args.low_duration + ((per_target + 10) if args.db_floor else 0)
    signal.alarm(max(1, int(args.deadline + args.wait_quiet + extra)))
    workdir = Path(tempfile.mkdtemp(prefix="stablecheckout-bench-"))
    db_name = f"bench_{uuid.uuid4().hex[:12]}"
    servers: list[AppProcess] = []
    code = 1
    try:
        code = run(args, workdir, servers, db_name)
    except (BenchError, KeyboardInterrupt) as exc:
        print(f"\nbench: aborted: {type(exc).__name__}: {exc}", file=sys.stderr)
        for server in servers:
            if server.process is not None:
                print(f"--- {server.name} log tail ---\n{server.log_tail(15)}", file=sys.stderr)
        code = 1
    finally:
        signal.alarm(0)
        # `uv run` forwards the signal it got, so a second one may come: finish cleaning up.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for server in servers:
            with contextlib.suppress(Exception):
                server.stop(8)
        try:
            asyncio.run(drop_database(pg_server(args), db_name, admin_db=args.pg_admin_db))
        except Exception as exc:  # noqa: BLE001 - report, keep cleaning up
            print(f"bench: could not drop database {db_name}: {exc}", file=sys.stderr)
        if args.keep_logs:
            print(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
