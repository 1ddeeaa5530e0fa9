"""Webhook delivery to a real HTTP receiver on loopback, verified independently of our code."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web

from app.config import Settings, load_settings
from app.db import create_engine, create_sessionmaker, unit_of_work, utcnow
from app.http import Services
from app.ids import new_id
from app.models import Order, WebhookAttempt, WebhookEvent
from app.orders.models import OrderStatus
from app.orders.service import change_status
from app.webhooks.formats import request_body
from app.webhooks.sender import http_client, retry_delay, send_due, webhook_sender
from app.webhooks.service import resend_order_status
from app.webhooks.ssrf import is_public
from tests.conftest import K1, VECTOR_K1, free_port, settings_dict


def independent_verify(secret: str, header: str, body: bytes, now: int) -> bool:
    """What a merchant writes from the docs: stdlib only, unpadded base64, 300 s window."""
    ts, _, sig = header.partition(".")
    mac = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).digest()
    expected = base64.b64encode(mac).decode().rstrip("=")
    return hmac.compare_digest(expected, sig) and now - int(ts) <= 300


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records every request; `fail_first` answers 500."""

    port: int = field(default_factory=free_port)
    fail_first: int = 0
    slow_first: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(
            {"at": time.monotonic(), "body": body, "headers": dict(request.headers)}
        )
        if len(self.requests) <= self.slow_first:
            await asyncio.sleep(2)
        if len(self.requests) <= self.fail_first + self.slow_first:
            return web.Response(status=500, text="try later")
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start()
    yield server
    await server.stop()


def make_services(database_url: str, **webhooks: Any) -> Services:
    data = settings_dict(
        database_url,
        webhooks={
            "allow_private_targets": True,
            "first_retry_seconds": 0.2,
            "timeout_seconds": 1.0,
            **webhooks,
        },
    )
    settings = load_settings(None, **data)
    engine = create_engine(settings.database_url)
    return Services(settings, engine, create_sessionmaker(engine))


async def paid_order(services: Services, url: str, amount: int = 1999) -> uuid.UUID:
    async with unit_of_work(services.sessionmaker) as session:
        now = utcnow()
        order = Order(
            id=new_id(),
            merchant_order_id="ord_123",
            amount_units=amount,
            amount_scale=2,
            status="pending",
            webhook_url=url,
            created_at=now,
            updated_at=now,
            expires_at=now + dt.timedelta(hours=1),
        )
        session.add(order)
        await session.flush()
        await change_status(session, order.id, to=OrderStatus.PAID)
        return order.id


async def run_until(services: Services, done: Callable[[], bool], seconds: float = 15) -> None:
    async with http_client(services.settings) as client:
        deadline = time.monotonic() + seconds
        while not done() and time.monotonic() < deadline:
            if not await send_due(services, "test-sender", client):
                await asyncio.sleep(0.05)


async def events(services: Services) -> list[WebhookEvent]:
    async with services.sessionmaker() as session:
        return list((await session.scalars(sa.select(WebhookEvent))).all())


def test_vectors_w1_w2() -> None:
    w1 = {
        "event_type": "order_status_changed",
        "order_id": "0190f5c2-7b1e-7c3a-9d4e-2f6a8b0c1d2e",
        "merchant_order_id": "ord_123",
        "status": "paid",
        "amount": "19.99",
    }
    from app.security.signatures import sign_body

    body = request_body(w1, 1711900860)
    assert sign_body(VECTOR_K1, body, 1711900860) == (
        "1711900860.5VJhXo23uU5B4bAbVHF+wZr7AshYdndRpm7yGLOyCxM"
    )
    w2 = {
        "event_type": "unknown_transfer_received",
        "transfer_id": 42,
        "blockchain": "erc20:Ethereum",
    }
    body = request_body(w2, 1711900900)
    assert sign_body("s3cr3t-KEY-#2", body, 1711900900) == (
        "1711900900.WscTKnYI4AXc747WAwAEsXHm219hselvxQKt8r82Nqc"
    )


async def test_delivered_and_verifiable(database_url: str, receiver: Receiver) -> None:
    services = make_services(database_url)
    order_id = await paid_order(services, receiver.url)
    await run_until(services, lambda: len(receiver.requests) >= 1)
    [request] = receiver.requests
    body = json.loads(request["body"])
    ocrch = ["event_type", "order_id", "merchant_order_id", "status", "amount", "timestamp"]
    additive = ["amount_received", "amount_due", "payment_exceptions"]  # issue 16
    assert [k for k in body if k in ocrch] == ocrch and set(body) == {*ocrch, *additive}
    # Marked paid without a transfer (an operator's move): nothing received, nothing due.
    assert (body["amount_received"], body["amount_due"], body["payment_exceptions"]) == (
        "0.00",
        "0",
        [],
    )
    assert body["status"] == "paid" and body["amount"] == "19.99"
    assert body["order_id"] == str(order_id)
    assert b" " not in request["body"], "compact JSON"
    header = request["headers"]["Ocrch-Signature"]
    assert independent_verify(K1, header, request["body"], int(time.time()))
    assert int(header.split(".")[0]) == body["timestamp"]
    [event] = await events(services)
    assert request["headers"]["Stablecheckout-Event-Id"] == str(event.id)
    assert request["headers"]["Stablecheckout-Attempt"] == "1"
    assert event.status == "delivered" and event.attempts == 1
    async with services.sessionmaker() as session:
        [attempt] = (await session.scalars(sa.select(WebhookAttempt))).all()
    assert attempt.status_code == 204 and attempt.latency_ms is not None
    await services.engine.dispose()


async def test_failures_then_success_backs_off_and_delivers_once(database_url: str) -> None:
    receiver = Receiver(fail_first=2, slow_first=1)
    await receiver.start()
    services = make_services(database_url)
    await paid_order(services, receiver.url)
    await run_until(services, lambda: len(receiver.requests) >= 4)
    await asyncio.sleep(0.5)
    await run_until(services, lambda: False, seconds=0.5)
    await receiver.stop()
    assert len(receiver.requests) == 4, "delivered once, after three failures"
    gaps = [
        b["at"] - a["at"]
        for a, b in zip(receiver.requests[1:], receiver.requests[2:], strict=False)
    ]
    assert gaps[0] <= gaps[1] + 0.05, gaps
    assert {r["headers"]["Stablecheckout-Attempt"] for r in receiver.requests} == {
        "1",
        "2",
        "3",
        "4",
    }
    bodies = [json.loads(r["body"]) for r in receiver.requests]
    assert len({b["order_id"] for b in bodies}) == 1
    [event] = await events(services)
    assert event.status == "delivered" and event.attempts == 4
    async with services.sessionmaker() as session:
        attempts = (
            await session.scalars(sa.select(WebhookAttempt).order_by(WebhookAttempt.attempt))
        ).all()
    assert [a.status_code for a in attempts] == [None, 500, 500, 204]
    assert "Timeout" in (attempts[0].error or "")
    await services.engine.dispose()


async def test_receiver_down_across_a_sender_restart(database_url: str) -> None:
    services = make_services(database_url)
    receiver = Receiver()
    await paid_order(services, receiver.url)
    stop = asyncio.Event()
    task = asyncio.create_task(webhook_sender(services)(stop))
    await asyncio.sleep(1.0)
    stop.set()
    await task
    [event] = await events(services)
    assert event.status == "pending" and event.attempts >= 1 and event.last_error
    await receiver.start()
    await services.engine.dispose()
    services = make_services(database_url)
    stop = asyncio.Event()
    task = asyncio.create_task(webhook_sender(services)(stop))
    deadline = time.monotonic() + 15
    while not receiver.requests and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    stop.set()
    await task
    await receiver.stop()
    assert len(receiver.requests) == 1
    [event] = await events(services)
    assert event.status == "delivered"
    await services.engine.dispose()


async def test_two_senders_never_make_the_same_attempt(
    postgresql_database_url: str, receiver: Receiver
) -> None:
    from tests.conftest import empty_database

    await empty_database(postgresql_database_url)
    services = [make_services(postgresql_database_url, concurrency=10) for _ in range(2)]
    for i in range(100):
        await paid_order(services[0], receiver.url, amount=100 + i)
    stops = [asyncio.Event(), asyncio.Event()]
    tasks = [
        asyncio.create_task(webhook_sender(s)(stop))
        for s, stop in zip(services, stops, strict=True)
    ]
    deadline = time.monotonic() + 30
    while len(receiver.requests) < 100 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    for stop in stops:
        stop.set()
    await asyncio.gather(*tasks)
    seen = [
        (r["headers"]["Stablecheckout-Event-Id"], r["headers"]["Stablecheckout-Attempt"])
        for r in receiver.requests
    ]
    assert len(seen) == 100 and len(set(seen)) == 100
    rows = await events(services[0])
    assert {e.status for e in rows} == {"delivered"} and {e.attempts for e in rows} == {1}
    for s in services:
        await s.engine.dispose()


async def test_paid_then_admin_resend_is_two_events(database_url: str, receiver: Receiver) -> None:
    services = make_services(database_url)
    order_id = await paid_order(services, receiver.url)
    async with unit_of_work(services.sessionmaker) as session:
        await resend_order_status(session, order_id)
    await run_until(services, lambda: len(receiver.requests) >= 2)
    ids = {r["headers"]["Stablecheckout-Event-Id"] for r in receiver.requests}
    assert len(ids) == 2
    assert [json.loads(r["body"])["status"] for r in receiver.requests] == ["paid", "paid"]
    assert {e.status for e in await events(services)} == {"delivered"}
    await services.engine.dispose()


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/hook",
        "http://localhost:{port}/hook",
        "http://[::1]:{port}/hook",
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://192.168.1.1/",
    ],
)
async def test_ssrf_targets_refused(database_url: str, receiver: Receiver, target: str) -> None:
    services = make_services(database_url, allow_private_targets=False)
    await paid_order(services, target.format(port=receiver.port))
    await run_until(services, lambda: False, seconds=0.3)
    assert receiver.requests == []
    [event] = await events(services)
    assert event.status == "pending" and (event.last_error or "").startswith("blocked:")
    await services.engine.dispose()


async def test_gives_up_after_max_age(database_url: str) -> None:
    services = make_services(database_url, max_age_seconds=1)
    await paid_order(services, f"http://127.0.0.1:{free_port()}/closed")
    await run_until(services, lambda: False, seconds=2.5)
    [event] = await events(services)
    assert event.status == "failed" and event.attempts >= 2 and event.last_error
    await services.engine.dispose()


def test_retry_delays_grow_to_the_cap() -> None:
    settings: Settings = load_settings(None, **settings_dict("sqlite+aiosqlite:///x.db"))
    import random

    rng = random.Random(7)
    delays = [retry_delay(n, settings, rng) for n in range(1, 16)]
    assert 1.0 <= delays[0] <= 2.0
    assert all(d <= 3600 for d in delays) and delays[-1] >= 1800
    assert sum(delays) > 3 * 3600


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("::1", False),
        ("fe80::1", False),
        ("::ffff:127.0.0.1", False),
        ("0.0.0.0", False),
        ("100.64.0.1", False),
    ],
)
def test_is_public(address: str, public: bool) -> None:
    assert is_public(address) is public
