"""Background jobs that run beside the API (`serve`) or alone (`watch`).

Each job is a loop of short units of work; a lease makes one process do each job while the
others stand by, and conditional updates keep even overlapping runs correct.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from app.db import unit_of_work
from app.http import Services
from app.leases import try_acquire
from app.orders.service import expire_due_orders
from app.payments.service import release_lapsed_reservations
from app.sessions.service import expire_due_sessions

log = logging.getLogger("app.jobs")

Job = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


def expiry_sweeper(services: Services) -> Job:
    """Expires due orders (and order-less checkout sessions) and frees lapsed reservations,
    under the `expiry-sweeper` lease."""
    holder = holder_id()
    interval = services.settings.orders.expiry_sweep_interval_seconds

    async def sweep_once() -> None:
        async with unit_of_work(services.sessionmaker, services.publisher) as session:
            if not await try_acquire(session, "expiry-sweeper", holder, interval * 10 + 5):
                return
            expired = await expire_due_orders(session)
            released = await release_lapsed_reservations(session)
            sessions = await expire_due_sessions(session)  # donations that never got an order
        if expired or released or sessions:
            log.info(
                "orders.expired count=%d released=%d sessions=%d", len(expired), released, sessions
            )

    async def run(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await sweep_once()
            except Exception:
                log.exception("orders.expiry_sweep_failed")
            await _sleep_or_stop(stop, interval)

    return run


class JobRunner:
    """Starts jobs as tasks and stops them together."""

    def __init__(self, jobs: list[Job]) -> None:
        self._jobs = jobs
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(job(self._stop)) for job in self._jobs]

    async def stop(self) -> None:
        self._stop.set()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)
        for task in self._tasks:
            task.cancel()
