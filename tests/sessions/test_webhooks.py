"""Session webhooks through the real outbox sender to a real HTTP receiver on loopback, checked with
an independent verifier (stdlib hmac, as docs/checkout-sessions.md tells merchants to write it)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from app.config import Settings, load_settings
from app.db import create_engine, create_sessionmaker
from app.http import Services
from app.main import create_app
from app.webhooks.sender import http_client, send_due
from tests.sessions.conftest import Keys, bearer, cart_body, create, session_settings_dict
from tests.webhooks.test_sender import Receiver

SECRET = "whsec_Wh2Kr6Nz0Lq4Xs8Jp1Mv5Tc9Hb3Yd7Fe"


def verify(header: str, body: bytes, secret: str, now: int, tolerance: int = 300) -> bool:
    """What a receiver writes: parse `t=…,v1=…`, HMAC-SHA256 over `t.body`, compare, check age."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        key, _, value = part.partition("=")
        fields.setdefault(key.strip(), []).append(value.strip())
    timestamp = int(fields["t"][0])
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    matches = any(hmac.compare_digest(expected, sig) for sig in fields.get("v1", []))
    return matches and abs(now - timestamp) <= tolerance


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver(fail_first=1)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def hook_settings(database_url: str, receiver: Receiver) -> Settings:
    return load_settings(
        None,
        **session_settings_dict(
            database_url,
            checkout_sessions={"webhook_url": receiver.url, "webhook_secret": SECRET},
            webhooks={"allow_private_targets": True, "first_retry_seconds": 0.1},
        ),
    )


async def test_session_event_delivered_signed_and_retried(
    hook_settings: Settings, receiver: Receiver, api_keys: Keys
) -> None:
    async with AsyncTestClient(app=create_app(hook_settings)) as api:
        created = (await create(api, api_keys.live, cart_body())).json()
        expired = await api.post(
            f"/api/v1/checkout/sessions/{created['id']}/expire", headers=bearer(api_keys.live)
        )
        assert expired.status_code == 200
    engine = create_engine(hook_settings.database_url)
    services = Services(hook_settings, engine, create_sessionmaker(engine))
    try:
        async with http_client(services.settings) as client:
            deadline = time.monotonic() + 10
            while len(receiver.requests) < 2 and time.monotonic() < deadline:
                await send_due(services, "test", client)
                await asyncio.sleep(0.1)
    finally:
        await engine.dispose()
    assert len(receiver.requests) == 2, receiver.requests  # a 500, then delivered
    first, second = receiver.requests
    for request in (first, second):
        headers = {k.lower(): v for k, v in request["headers"].items()}
        assert "ocrch-signature" not in headers
        header = headers["stablecheckout-signature"]
        assert header.startswith("t=") and ",v1=" in header
        assert verify(header, request["body"], SECRET, int(time.time()))
        assert not verify(header, request["body"], "another secret", int(time.time()))
        assert not verify(header, request["body"] + b" ", SECRET, int(time.time()))
        assert not verify(header, request["body"], SECRET, int(time.time()) + 301)  # replayed late
        assert headers["stablecheckout-event-id"]
    assert first["body"] == second["body"]  # the event is fixed; only the signature is fresh
    event: dict[str, Any] = json.loads(second["body"])
    assert event["type"] == "checkout.session.expired" and event["object"] == "event"
    assert event["livemode"] is True and event["id"].startswith("evt_")
    session = event["data"]["object"]
    assert session["id"] == created["id"] and session["status"] == "expired"
    assert session["metadata"] == {"order_id": "42"} and session["amount_total"] == 4398
