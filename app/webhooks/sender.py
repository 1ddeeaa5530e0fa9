"""Delivering the outbox: claim, send with no transaction open, record every attempt.

    claim    one short transaction: due rows get `lease_holder`, `lease_until` and their attempt
             number (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so concurrent senders take disjoint
             rows; the lease also covers SQLite and a sender that dies mid-delivery);
    send     a fresh `timestamp` and `Ocrch-Signature` per attempt, compact JSON, any 2xx counts;
    record   one transaction per batch: a `webhook_attempts` row per attempt, and the event is
             delivered, rescheduled with exponential backoff and jitter, or failed after
             `[webhooks].max_age_seconds`. Only the lease holder may change the event.

A crash between claim and record loses nothing: the lease runs out and the row is sent again
(at-least-once; receivers deduplicate on the `Stablecheckout-Event-Id` header).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import sqlalchemy as sa

from app.config import Settings
from app.db import unit_of_work, utcnow
from app.http import Services
from app.jobs import Job, holder_id
from app.observability import WEBHOOK_ATTEMPTS
from app.webhooks import formats, signal
from app.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookEvent
from app.webhooks.ssrf import BlockedTarget, PinnedResolver, check_literal

log = logging.getLogger("app.webhooks")

USER_AGENT = "stablecheckout-webhooks/1"
MAX_ERROR_TEXT = 500
MAX_ERROR_BYTES = 4 * MAX_ERROR_TEXT
"""Bytes read from a failed delivery's response: enough for 500 characters of UTF-8, no more."""


@dataclass(frozen=True, slots=True)
class Claimed:
    id: uuid.UUID
    attempt: int
    target_url: str
    payload: dict[str, Any]
    created_at: dt.datetime
    event_type: str = ""
    format: str = formats.OCRCH


@dataclass(frozen=True, slots=True)
class Outcome:
    claimed: Claimed
    started_at: dt.datetime
    latency_ms: int | None
    status_code: int | None
    error: str | None
    accepted: bool | None = None
    """A `formats.PROTOCOLS` format's own verdict on the reply (None: any 2xx is delivered)."""

    @property
    def delivered(self) -> bool:
        if self.accepted is not None:
            return self.accepted
        return self.status_code is not None and 200 <= self.status_code < 300


def retry_delay(attempt: int, settings: Settings, rng: random.Random | None = None) -> float:
    """Seconds before attempt `attempt + 1`: doubling from the first delay up to the cap, with
    "equal jitter" (half fixed, half random) so a burst of failures does not retry in lockstep."""
    first = settings.webhooks.first_retry_seconds
    cap = settings.webhooks.max_retry_interval_seconds
    delay = min(cap, first * 2 ** max(0, attempt - 1))
    return float(delay / 2 + (rng or random).uniform(0, delay / 2))


def signed_body(settings: Settings, item: Claimed, timestamp: int) -> tuple[bytes, dict[str, str]]:
    """The request body and signature headers, as the row's format renders them."""
    return formats.FORMATS[item.format](settings, item.payload, timestamp)


async def claim(services: Services, holder: str, limit: int) -> list[Claimed]:
    settings = services.settings
    now = utcnow()
    lease = dt.timedelta(seconds=settings.webhooks.timeout_seconds + 30)
    async with unit_of_work(services.sessionmaker) as session:
        due = (
            sa.select(WebhookEvent.id)
            .where(
                WebhookEvent.status == DeliveryStatus.PENDING,
                WebhookEvent.next_attempt_at <= now,
                sa.or_(WebhookEvent.lease_until.is_(None), WebhookEvent.lease_until < now),
            )
            .order_by(WebhookEvent.next_attempt_at)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        ids = list(await session.scalars(due))
        if not ids:
            return []
        rows = await session.execute(
            sa.update(WebhookEvent)
            .where(
                WebhookEvent.id.in_(ids),
                sa.or_(WebhookEvent.lease_until.is_(None), WebhookEvent.lease_until < now),
            )
            .values(
                lease_holder=holder,
                lease_until=now + lease,
                attempts=WebhookEvent.attempts + 1,
                last_attempt_at=now,
            )
            .returning(
                WebhookEvent.id,
                WebhookEvent.attempts,
                WebhookEvent.target_url,
                WebhookEvent.payload,
                WebhookEvent.created_at,
                WebhookEvent.event_type,
                WebhookEvent.format,
            )
            .execution_options(synchronize_session=False)
        )
        return [Claimed(*row) for row in rows]


def http_client(settings: Settings) -> aiohttp.ClientSession:
    """The sender's HTTP client. aiohttp, because per request it costs a fraction of the CPU of
    the alternatives measured (docs/benchmarks.md), and the sender is CPU-bound.

    Its resolver checks every address it hands the connector (`app.webhooks.ssrf`), so the
    client connects only to checked addresses. Responses are not decompressed: the sender keeps
    at most `MAX_ERROR_BYTES` of a body, and a compressed one could expand without bound."""
    resolver = PinnedResolver(allow_private=settings.webhooks.allow_private_targets)
    connector = aiohttp.TCPConnector(limit=settings.webhooks.concurrency, resolver=resolver)
    return aiohttp.ClientSession(
        connector=connector,
        raise_for_status=False,
        auto_decompress=False,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
    )


async def error_text(response: aiohttp.ClientResponse) -> str:
    """The first `MAX_ERROR_TEXT` characters of a failed delivery's response, reading at most
    `MAX_ERROR_BYTES`: a receiver may answer with an endless body. The rest is never read: the
    connection is closed rather than drained."""
    head = bytearray()
    while len(head) < MAX_ERROR_BYTES:
        chunk = await response.content.read(MAX_ERROR_BYTES - len(head))
        if not chunk:
            break
        head += chunk
    if not response.content.at_eof():
        response.close()
    return bytes(head).decode("utf-8", errors="replace")[:MAX_ERROR_TEXT]


async def deliver(client: aiohttp.ClientSession, settings: Settings, item: Claimed) -> Outcome:
    started = utcnow()
    clock = time.perf_counter()
    try:
        check_literal(item.target_url, allow_private=settings.webhooks.allow_private_targets)
        protocol = formats.PROTOCOLS.get(item.format)
        if protocol is not None:
            return await _deliver_protocol(client, settings, item, protocol, started, clock)
        body, signature = signed_body(settings, item, int(time.time()))
        async with client.post(
            item.target_url,
            data=body,
            headers={
                "Content-Type": "application/json",
                **signature,
                "Stablecheckout-Event-Id": str(item.id),
                "Stablecheckout-Attempt": str(item.attempt),
            },
            timeout=aiohttp.ClientTimeout(total=settings.webhooks.timeout_seconds),
            allow_redirects=False,
        ) as response:
            ok = 200 <= response.status < 300
            error = None if ok else await error_text(response)
        latency = int((time.perf_counter() - clock) * 1000)
        return Outcome(item, started, latency, response.status, error)
    except BlockedTarget as exc:
        return Outcome(item, started, None, None, f"blocked: {exc}")
    except formats.CannotSign as exc:
        return Outcome(item, started, None, None, str(exc))
    except (aiohttp.ClientError, TimeoutError) as exc:
        latency = int((time.perf_counter() - clock) * 1000)
        name = "Timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
        return Outcome(item, started, latency, None, f"{name}: {exc}"[:MAX_ERROR_TEXT])


async def _deliver_protocol(
    client: aiohttp.ClientSession,
    settings: Settings,
    item: Claimed,
    protocol: formats.Protocol,
    started: dt.datetime,
    clock: float,
) -> Outcome:
    """One attempt in a dialect's own shape; its reply body decides (e.g. Epusdt's `ok`)."""
    method, url, body, headers = protocol.request(settings, item.target_url, item.payload)
    async with client.request(
        method,
        url,
        data=body,
        headers={
            **headers,
            "Stablecheckout-Event-Id": str(item.id),
            "Stablecheckout-Attempt": str(item.attempt),
        },
        timeout=aiohttp.ClientTimeout(total=settings.webhooks.timeout_seconds),
        allow_redirects=False,
    ) as response:
        head = (await error_text(response)).encode()
        accepted = protocol.acked(response.status, head)
    latency = int((time.perf_counter() - clock) * 1000)
    error = None if accepted else f"not acknowledged: {head.decode()[:200]!r}"
    return Outcome(item, started, latency, response.status, error, accepted)


async def record(services: Services, holder: str, outcomes: Sequence[Outcome]) -> None:
    settings = services.settings
    max_age = dt.timedelta(seconds=settings.webhooks.max_age_seconds)
    now = utcnow()
    attempts = [
        {
            "event_id": o.claimed.id,
            "attempt": o.claimed.attempt,
            "started_at": o.started_at,
            "latency_ms": o.latency_ms,
            "status_code": o.status_code,
            "error": o.error,
        }
        for o in outcomes
    ]
    updates = []
    for outcome in outcomes:
        item = outcome.claimed
        status, delivered_at, next_at = DeliveryStatus.PENDING, None, now
        if outcome.delivered:
            status, delivered_at = DeliveryStatus.DELIVERED, now
        else:
            next_at = now + dt.timedelta(seconds=retry_delay(item.attempt, settings))
            if next_at - item.created_at > max_age:
                status = DeliveryStatus.FAILED
        updates.append(
            {
                "b_id": item.id,
                "b_attempt": item.attempt,
                "b_status": status,
                "b_delivered_at": delivered_at,
                "b_next": next_at,
                "b_code": outcome.status_code,
                "b_error": outcome.error,
            }
        )
    async with unit_of_work(services.sessionmaker) as session:
        # Two statements per round, whatever its size: the sender is CPU-bound.
        await session.execute(sa.insert(WebhookAttempt), attempts)
        connection = await session.connection()
        await connection.execute(_SETTLE.where(WebhookEvent.lease_holder == holder), updates)
    for outcome in outcomes:
        WEBHOOK_ATTEMPTS.labels("delivered" if outcome.delivered else "failed").inc()
        level = logging.INFO if outcome.delivered else logging.WARNING
        log.log(
            level,
            "webhooks.attempt event_id=%s attempt=%d status=%s latency_ms=%s error=%s",
            outcome.claimed.id,
            outcome.claimed.attempt,
            outcome.status_code,
            outcome.latency_ms,
            outcome.error,
        )


_SETTLE = (
    sa.update(WebhookEvent)
    .where(
        WebhookEvent.id == sa.bindparam("b_id"), WebhookEvent.attempts == sa.bindparam("b_attempt")
    )
    .values(
        status=sa.bindparam("b_status"),
        delivered_at=sa.bindparam("b_delivered_at"),
        next_attempt_at=sa.bindparam("b_next"),
        last_status_code=sa.bindparam("b_code"),
        last_error=sa.bindparam("b_error"),
        lease_holder=None,
        lease_until=None,
    )
)
"""Only the lease holder settles its attempt (the holder condition is added per call)."""


async def send_due(services: Services, holder: str, client: aiohttp.ClientSession) -> int:
    """One round: claim what is due, deliver it concurrently, record the outcomes."""
    claimed = await claim(services, holder, services.settings.webhooks.concurrency)
    if not claimed:
        return 0
    outcomes = await asyncio.gather(*(deliver(client, services.settings, c) for c in claimed))
    await record(services, holder, outcomes)
    return len(claimed)


def webhook_sender(services: Services) -> Job:
    """The sender loop: woken in-process after a commit that wrote the outbox, else polling."""
    holder = holder_id()
    interval = services.settings.webhooks.poll_interval_seconds

    async def run(stop: asyncio.Event) -> None:
        wake = asyncio.Event()
        signal.subscribe(wake.set)
        try:
            async with http_client(services.settings) as client:
                while not stop.is_set():
                    wake.clear()
                    try:
                        if await send_due(services, holder, client):
                            continue
                    except Exception:
                        log.exception("webhooks.round_failed")
                    waiter = asyncio.ensure_future(wake.wait())
                    stopper = asyncio.ensure_future(stop.wait())
                    await asyncio.wait(
                        {waiter, stopper}, timeout=interval, return_when=asyncio.FIRST_COMPLETED
                    )
                    for task in (waiter, stopper):
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
        finally:
            signal.unsubscribe(wake.set)

    return run
