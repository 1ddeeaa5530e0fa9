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
import json
import logging
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import sqlalchemy as sa

from app.config import Settings
from app.db import unit_of_work, utcnow
from app.http import Services
from app.jobs import Job, holder_id
from app.observability import WEBHOOK_ATTEMPTS
from app.security.signatures import sign_body
from app.sessions import signing as session_signing
from app.webhooks import signal
from app.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookEvent
from app.webhooks.ssrf import BlockedTarget, check_target

log = logging.getLogger("app.webhooks")

USER_AGENT = "stablecheckout-webhooks/1"
MAX_ERROR_TEXT = 500


@dataclass(frozen=True, slots=True)
class Claimed:
    id: uuid.UUID
    attempt: int
    target_url: str
    payload: dict[str, Any]
    created_at: dt.datetime
    event_type: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    claimed: Claimed
    started_at: dt.datetime
    latency_ms: int | None
    status_code: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def retry_delay(attempt: int, settings: Settings, rng: random.Random | None = None) -> float:
    """Seconds before attempt `attempt + 1`: doubling from the first delay up to the cap, with
    "equal jitter" (half fixed, half random) so a burst of failures does not retry in lockstep."""
    first = settings.webhooks.first_retry_seconds
    cap = settings.webhooks.max_retry_interval_seconds
    delay = min(cap, first * 2 ** max(0, attempt - 1))
    return float(delay / 2 + (rng or random).uniform(0, delay / 2))


def request_body(payload: dict[str, Any], timestamp: int) -> bytes:
    """Compact JSON, fields in Ocrch's order, `timestamp` last (api.md §5)."""
    return json.dumps(
        {**payload, "timestamp": timestamp}, separators=(",", ":"), ensure_ascii=False
    ).encode()


def signed_body(settings: Settings, item: Claimed, timestamp: int) -> tuple[bytes, dict[str, str]]:
    """Ocrch events: `timestamp` in the body, `Ocrch-Signature`. Checkout-session events: the body
    as stored (it has its own `created`), `Stablecheckout-Signature: t=…,v1=…` (app.sessions)."""
    if session_signing.is_session_event(item.event_type):
        body = json.dumps(item.payload, separators=(",", ":"), ensure_ascii=False).encode()
        key = session_signing.webhook_key(settings)
        return body, {session_signing.HEADER: session_signing.sign(key, body, timestamp)}
    body = request_body(item.payload, timestamp)
    return body, {"Ocrch-Signature": sign_body(settings.merchant.secret, body, timestamp)}


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
            )
            .execution_options(synchronize_session=False)
        )
        return [Claimed(*row) for row in rows]


async def deliver(client: httpx.AsyncClient, settings: Settings, item: Claimed) -> Outcome:
    started = utcnow()
    clock = time.perf_counter()
    try:
        await check_target(item.target_url, allow_private=settings.webhooks.allow_private_targets)
        body, signature = signed_body(settings, item, int(time.time()))
        response = await client.post(
            item.target_url,
            content=body,
            headers={
                "Content-Type": "application/json",
                **signature,
                "Stablecheckout-Event-Id": str(item.id),
                "Stablecheckout-Attempt": str(item.attempt),
                "User-Agent": USER_AGENT,
            },
            timeout=settings.webhooks.timeout_seconds,
        )
        latency = int((time.perf_counter() - clock) * 1000)
        error = None if 200 <= response.status_code < 300 else response.text[:MAX_ERROR_TEXT]
        return Outcome(item, started, latency, response.status_code, error)
    except BlockedTarget as exc:
        return Outcome(item, started, None, None, f"blocked: {exc}")
    except httpx.HTTPError as exc:
        latency = int((time.perf_counter() - clock) * 1000)
        return Outcome(
            item, started, latency, None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_TEXT]
        )


async def record(services: Services, holder: str, outcomes: Sequence[Outcome]) -> None:
    settings = services.settings
    max_age = dt.timedelta(seconds=settings.webhooks.max_age_seconds)
    now = utcnow()
    async with unit_of_work(services.sessionmaker) as session:
        for outcome in outcomes:
            item = outcome.claimed
            session.add(
                WebhookAttempt(
                    event_id=item.id,
                    attempt=item.attempt,
                    started_at=outcome.started_at,
                    latency_ms=outcome.latency_ms,
                    status_code=outcome.status_code,
                    error=outcome.error,
                )
            )
            values: dict[str, Any] = {
                "lease_holder": None,
                "lease_until": None,
                "last_status_code": outcome.status_code,
                "last_error": outcome.error,
            }
            if outcome.delivered:
                values.update(status=DeliveryStatus.DELIVERED, delivered_at=now)
            else:
                retry_at = now + dt.timedelta(seconds=retry_delay(item.attempt, settings))
                if retry_at - item.created_at > max_age:
                    values.update(status=DeliveryStatus.FAILED)
                else:
                    values.update(next_attempt_at=retry_at)
            await session.execute(
                sa.update(WebhookEvent)
                .where(
                    WebhookEvent.id == item.id,
                    WebhookEvent.lease_holder == holder,
                    WebhookEvent.attempts == item.attempt,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
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


async def send_due(services: Services, holder: str, client: httpx.AsyncClient) -> int:
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
        limits = httpx.Limits(max_connections=services.settings.webhooks.concurrency)
        try:
            async with httpx.AsyncClient(limits=limits, follow_redirects=False) as client:
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
