"""Where the watcher's Python time goes: CPU per step of ingest and confirm, in µs per transfer.

    uv run python bench/watcher_profile.py [--transfers 10000]

Runs the throughput part of bench/watcher.py (100,000 open deposits on a fresh PostgreSQL
database, batches of 500 ingested and then confirmed, each in its own transaction) with each
step and each event subscriber wrapped in a `time.process_time()` reading. A coroutine's reading
counts only this process's CPU while it ran, not its waits on PostgreSQL, so the rows add up to
the "Python" figure of bench/watcher.py (less the transactions' begin and commit). Nested steps
are counted in their callers too (`lifecycle.apply` holds its subscribers). cProfile's per-call
overhead distorts figures this small; one reading per call does not.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import watcher as bench  # noqa: E402

from app import events  # noqa: E402
from devkit.harness import throwaway_database  # noqa: E402

STEPS = (
    ("app.transfers.matching", "attribute"),
    ("app.transfers.service", "_announce"),
    ("app.transfers.settle", "_lock_orders"),
    ("app.transfers.settle", "_deposits_of"),
    ("app.transfers.settle", "_books"),
    ("app.orders.receipts", "record"),
    ("app.transfers.settle", "write_matched"),
    ("app.orders.lifecycle", "apply"),
    ("app.transfers.settle", "write_settled"),
    ("app.transfers.settle", "add_items"),
)
"""Module-level coroutine functions, looked up by their callers at call time."""

cpu: dict[str, float] = defaultdict(float)


def timed(label: str, func: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return await func(*args, **kwargs)
        finally:
            cpu[label] += time.process_time() - started

    return wrapper


def instrument() -> None:
    events._load_subscriptions()
    for i, (event_type, handler) in enumerate(list(events._handlers)):
        label = f"  {event_type.__name__} -> {handler.__module__}.{handler.__name__}"
        events._handlers[i] = (event_type, timed(label, handler))
    for module_name, name in STEPS:
        module = importlib.import_module(module_name)
        label = f"{module_name.rsplit('.', 1)[-1]}.{name}"
        setattr(module, name, timed(label, getattr(module, name)))
    bench.ingest = timed("ingest (whole call)", bench.ingest)
    bench.confirm = timed("confirm (whole call)", bench.confirm)


async def run(args: argparse.Namespace) -> None:
    instrument()
    async with throwaway_database(args.pg, "bench_watcher_profile") as url:
        throughput = await bench.measure_throughput(url, args.deposits, args.transfers, 500)
    bench.report_throughput(throughput)
    print(f"\nPython CPU per transfer, by step ({args.transfers:,} transfers; nested rows count")
    print("in their callers too; subscribers are indented)")
    for label, seconds in sorted(cpu.items(), key=lambda item: -item[1]):
        print(f"  {seconds / args.transfers * 1e6:8.1f} µs  {label}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=10_000)
    parser.add_argument("--deposits", type=int, default=100_000)
    parser.add_argument("--pg", default="postgresql+asyncpg://postgres@127.0.0.1:5432")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
