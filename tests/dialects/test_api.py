"""Both dialects in-process over the real database: seed 000 / seed 001 requests, their answers'
shapes and status words, and every refusal in the dialect's own envelope."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from app.config import Settings, load_settings
from app.db import unit_of_work
from app.main import create_app
from app.models import CheckoutSession, WebhookEvent
from app.orders.service import cancel_order
from app.webhooks.service import resend_order_status
from tests.sessions.conftest import SHOP, Keys, bearer, cart_body, session_settings_dict

OC_SECRET = "whsec_Oc4Ku8Wn2Qp6Xs0Jv3Lm7Hc1Tb5Yd9FgQq"
OVGC_SECRET = "whsec_Ov4Ku8Wn2Qp6Xs0Jv3Lm7Hc1Tb5Yd9FgQq"
DIALECTS = {
    "opencheckout": {"webhook_url": f"{SHOP}/webhooks/opencheckout", "webhook_secret": OC_SECRET},
    "ovgc": {"webhook_url": f"{SHOP}/webhooks/ovgc", "webhook_secret": OVGC_SECRET},
}


@pytest.fixture
def session_settings(database_url: str) -> Settings:
    return load_settings(None, **session_settings_dict(database_url, dialects=DIALECTS))


@pytest.fixture
async def api(session_settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(app=create_app(session_settings)) as client:
        yield client


def ovgc_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "amount": 2500,
        "currency": "USD",
        "email": "customer@example.com",
        "product_title": "Premium Plan",
        "success_url": f"{SHOP}/success",
        "cancel_url": f"{SHOP}/cancel",
    }
    body.update(overrides)
    return body


def post(api: AsyncTestClient[Any], path: str, secret: str, body: Any, **headers: str) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return api.post(
        path,
        content=raw,
        headers=bearer(secret, **{"Content-Type": "application/json", **headers}),
    )


async def test_opencheckout_create_get_list_expire(
    api: AsyncTestClient[Any], api_keys: Keys
) -> None:
    made = await post(
        api, "/api/checkout/sessions", api_keys.test, cart_body(), **{"Idempotency-Key": "order-42"}
    )
    assert made.status_code == 200, made.text
    session = made.json()
    assert session["status"] == "open" and session["amount_total"] == 4398
    assert session["url"].endswith(f"/checkout/s/{session['id']}")
    assert session["metadata"] == {"order_id": "42"} and session["currency"] == "usd"
    assert session["created_at"].endswith("Z") and session["expires_at"].endswith("Z")
    again = await post(
        api, "/api/checkout/sessions", api_keys.test, cart_body(), **{"Idempotency-Key": "order-42"}
    )
    assert again.json()["id"] == session["id"]
    assert again.headers["idempotent-replayed"] == "true"

    got = await api.get(f"/api/checkout/sessions/{session['id']}", headers=bearer(api_keys.test))
    assert got.json() == session
    listed = await api.get("/api/checkout/sessions?limit=5", headers=bearer(api_keys.test))
    assert session["id"] in [s["id"] for s in listed.json()["data"]]

    expired = await api.post(
        f"/api/checkout/sessions/{session['id']}/expire", headers=bearer(api_keys.test)
    )
    assert (expired.status_code, expired.json()["status"]) == (200, "expired")
    assert expired.json()["url"] is None
    again_expired = await api.post(
        f"/api/checkout/sessions/{session['id']}/expire", headers=bearer(api_keys.test)
    )
    assert again_expired.status_code == 400
    assert again_expired.json()["error"]["type"] == "invalid_request_error"


async def test_opencheckout_errors(api: AsyncTestClient[Any], api_keys: Keys) -> None:
    path = "/api/checkout/sessions"
    no_key = await api.get(f"{path}/cs_test_x")
    assert no_key.status_code == 401
    assert no_key.json()["error"]["type"] == "authentication_error"
    bad_key = await post(api, path, "sk_test_" + "0" * 40, cart_body())
    assert (bad_key.status_code, bad_key.json()["error"]["type"]) == (401, "authentication_error")
    bad_body = await post(api, path, api_keys.test, b"{not json")
    assert bad_body.status_code == 400
    assert bad_body.json()["error"]["type"] == "invalid_request_error"
    missing = await post(api, path, api_keys.test, {"mode": "payment"})
    assert missing.json()["error"]["message"] == "missing required parameter: success_url"
    unknown = await api.get(f"{path}/cs_test_nope", headers=bearer(api_keys.test))
    assert (unknown.status_code, unknown.json()["error"]["type"]) == (404, "not_found")
    sub = await post(api, path, api_keys.test, cart_body(mode="subscription"))
    assert sub.status_code == 400
    message = sub.json()["error"]["message"]
    assert "pushed by the payer" in message and "new payment session" in message


async def test_ovgc_create_and_verify(api: AsyncTestClient[Any], api_keys: Keys) -> None:
    made = await post(api, "/api/checkout-sessions", api_keys.test, ovgc_body(metadata={"a": 1}))
    assert made.status_code == 201, made.text
    data = made.json()["data"]
    session = data["session"]
    assert set(session) == {"id", "amount", "currency", "status", "expires_at"}
    assert (session["amount"], session["currency"], session["status"]) == (2500, "USD", "pending")
    assert len(session["expires_at"]) == 19 and session["expires_at"][10] == " "
    assert data["checkout_url"].endswith(f"/checkout/s/{session['id']}")
    got = await api.get(f"/api/checkout-sessions/{session['id']}", headers=bearer(api_keys.test))
    verified = got.json()["data"]
    assert (verified["id"], verified["status"], verified["amount"]) == (
        session["id"],
        "pending",
        2500,
    )
    assert verified["email"] == "customer@example.com" and verified["metadata"] == {"a": "1"}
    default = await post(api, "/api/checkout-sessions", api_keys.test, ovgc_body(currency=None))
    assert default.status_code == 400  # null is not a currency; leaving it out is USD
    body = ovgc_body()
    del body["currency"]
    usd = await post(api, "/api/checkout-sessions", api_keys.test, body)
    assert usd.json()["data"]["session"]["currency"] == "USD"


async def test_ovgc_errors(api: AsyncTestClient[Any], api_keys: Keys) -> None:
    path = "/api/checkout-sessions"
    bad_key = await post(api, path, "ovgc_live_nope", ovgc_body())
    assert bad_key.status_code == 401 and bad_key.json()["error"]["code"] == "UNAUTHORIZED"
    body = ovgc_body()
    del body["email"]
    no_email = await post(api, path, api_keys.test, body)
    assert no_email.status_code == 400
    assert no_email.json() == {
        "error": {"code": "BAD_REQUEST", "message": "missing required parameter: email"}
    }
    not_json = await post(api, path, api_keys.test, b"[1]")
    assert not_json.json()["error"]["code"] == "BAD_REQUEST"
    unknown = await api.get(f"{path}/cs_test_nope", headers=bearer(api_keys.test))
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "NOT_FOUND"


async def test_dialect_sessions_report_in_their_own_format_only(
    api: AsyncTestClient[Any], api_keys: Keys, sdb: Any
) -> None:
    """An OVGC session's cancel writes one `payment.declined` row to `[dialects.ovgc]` (none for
    `[checkout_sessions]`); an operator's resend copies it; an expiry reports nothing in OVGC."""
    made = await post(api, "/api/checkout-sessions", api_keys.test, ovgc_body())
    session_id = made.json()["data"]["session"]["id"]
    async with unit_of_work(sdb) as db:
        checkout = await db.get(CheckoutSession, session_id)
        assert checkout is not None and checkout.dialect == "ovgc"
        order_id = checkout.order_id
        assert order_id is not None
        await cancel_order(db, order_id)
    async with unit_of_work(sdb) as db:
        await resend_order_status(db, order_id)
    oc = await post(api, "/api/checkout/sessions", api_keys.test, cart_body())
    await api.post(
        f"/api/checkout/sessions/{oc.json()['id']}/expire", headers=bearer(api_keys.test)
    )
    ended = await post(api, "/api/checkout-sessions", api_keys.test, ovgc_body())
    ovgc_id = ended.json()["data"]["session"]["id"]
    await api.post(f"/api/checkout/sessions/{ovgc_id}/expire", headers=bearer(api_keys.test))
    async with sdb() as db:
        rows = list(await db.scalars(sa.select(WebhookEvent).order_by(WebhookEvent.created_at)))
    assert [(r.format, r.event_type, r.target_url) for r in rows] == [
        ("ovgc", "payment.declined", DIALECTS["ovgc"]["webhook_url"]),
        ("ovgc", "payment.declined", DIALECTS["ovgc"]["webhook_url"]),
        ("opencheckout", "checkout.session.expired", DIALECTS["opencheckout"]["webhook_url"]),
    ]
    assert rows[0].payload == rows[1].payload
    assert rows[0].payload["data"]["status"] == "declined"
    assert rows[2].payload["status"] == "expired"
    assert rows[2].payload["metadata"] == {"order_id": "42"}
