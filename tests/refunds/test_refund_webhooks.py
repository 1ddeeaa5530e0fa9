"""`refund.sent` for a Checkout Session order: an event object at the session's webhook URL,
delivered by the real sender to a real receiver and signed with `Stablecheckout-Signature`
(the session key, not the merchant secret); a dialect's session is told nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from typing import Any

import sqlalchemy as sa

from app.config import load_settings
from app.db import create_engine, create_sessionmaker, unit_of_work, utcnow
from app.http import Services
from app.models import WebhookEvent
from app.refunds import service as refunds
from app.refunds.models import SentEvidence
from app.sessions import keys
from app.sessions.models import CheckoutSession, KeyMode
from tests.conftest import settings_dict
from tests.refunds.conftest import seed_refund
from tests.webhooks.test_sender import Receiver, run_until

HOOK_SECRET = "whsec_Rf4Nq7Lx1Zk5Ws9Hd2Mr6Tp0Vc4Yg8Jb"
TX = "0x" + "9a" * 32


async def _session_order(services: Services, url: str, dialect: str | None) -> int:
    seeded = await seed_refund(services.sessionmaker, integration="checkout_session")
    async with unit_of_work(services.sessionmaker) as session:
        key, _ = await keys.create_api_key(session, KeyMode.TEST)
        now = utcnow()
        session.add(
            CheckoutSession(
                id=f"cs_test_{seeded.item_id}_{dialect or 'ours'}",
                mode="payment",
                status="complete",
                payment_status="paid",
                livemode=False,
                api_key_id=key.id,
                order_id=seeded.order_id,
                amount_total=1000,
                currency="usd",
                line_items=[],
                success_url="https://shop.example.com/thanks",
                webhook_url=url,
                dialect=dialect,
                created_at=now,
                expires_at=now + dt.timedelta(hours=1),
            )
        )
    async with unit_of_work(services.sessionmaker) as session:
        await refunds.mark_sent(
            session,
            seeded.item_id,
            tx_hash=TX,
            log_index=None,
            evidence=SentEvidence.OPERATOR,
            to_address=None,
            expected_claim=None,
        )
    return seeded.item_id


async def test_session_order_gets_a_signed_refund_event(database_url: str) -> None:
    receiver = Receiver()
    await receiver.start()
    data = settings_dict(
        database_url,
        webhooks={"allow_private_targets": True, "first_retry_seconds": 0.2},
        checkout_sessions={"webhook_url": receiver.url, "webhook_secret": HOOK_SECRET},
    )
    settings = load_settings(None, **data)
    engine = create_engine(database_url)
    services = Services(settings, engine, create_sessionmaker(engine))
    try:
        ours = await _session_order(services, receiver.url, None)
        await _session_order(services, receiver.url, "ovgc")
        async with services.sessionmaker() as session:
            rows = list(
                await session.scalars(
                    sa.select(WebhookEvent).where(WebhookEvent.event_type == "refund.sent")
                )
            )
        assert [(r.format, r.payload["data"]["object"]["refund_id"]) for r in rows] == [
            ("checkout_session", ours)
        ], "the dialect's session has no refund event"
        await run_until(services, lambda: len(receiver.requests) >= 1)
    finally:
        await receiver.stop()
        await engine.dispose()
    (request,) = receiver.requests
    header: Any = request["headers"]["Stablecheckout-Signature"]
    stamp, mac = (part.split("=", 1)[1] for part in header.split(","))
    expected = hmac.new(
        HOOK_SECRET.encode(), f"{stamp}.".encode() + request["body"], hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(expected, mac) and abs(time.time() - int(stamp)) < 300
    event = json.loads(request["body"])
    assert (event["type"], event["object"], event["livemode"]) == ("refund.sent", "event", False)
    refund = event["data"]["object"]
    assert refund["object"] == "refund" and refund["checkout_session"] == f"cs_test_{ours}_ours"
    assert (refund["tx_hash"], refund["evidence"], refund["amount"]) == (TX, "operator", "1.500000")
