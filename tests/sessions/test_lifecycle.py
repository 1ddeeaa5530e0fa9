"""A session follows its order, on both databases: paid → complete, expired → expired, cancelled →
canceled, a terminal status never changes, a late payment is reported; the sweepers; the session
link (signed hosted page, own origin allowed), its signature refresh, and a donation's amount."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from app.config import load_settings
from app.db import unit_of_work, utcnow
from app.main import create_app
from app.models import CheckoutSession, Order, WebhookEvent
from app.orders.models import OrderStatus
from app.orders.service import cancel_order, change_status, expire_due_orders
from app.security.signatures import sign_url
from app.sessions.service import expire_due_sessions
from app.webhooks.service import resend_order_status
from tests.conftest import K1
from tests.sessions.conftest import (
    SHOP,
    Keys,
    bearer,
    cart_body,
    counts,
    create,
    session_settings_dict,
)


async def _events(sdb: Any) -> list[WebhookEvent]:
    async with sdb() as db:
        return list(await db.scalars(sa.select(WebhookEvent).order_by(WebhookEvent.created_at)))


async def _session(api: AsyncTestClient[Any], key: str, sid: str) -> dict[str, Any]:
    response = await api.get(f"/api/v1/checkout/sessions/{sid}", headers=bearer(key))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_paid_order_completes_its_session(
    api: AsyncTestClient[Any], api_keys: Keys, sdb: Any
) -> None:
    created = (await create(api, api_keys.test, cart_body())).json()
    order_id = uuid.UUID(created["order_id"])
    async with unit_of_work(sdb) as db:
        assert await change_status(db, order_id, to=OrderStatus.PAID) is not None
    session = await _session(api, api_keys.test, created["id"])
    assert session["status"] == "complete" and session["payment_status"] == "paid"
    assert session["url"] is None and session["completed_at"] is not None
    events = await _events(sdb)
    assert [e.event_type for e in events] == ["checkout.session.completed"]
    payload = events[0].payload
    assert payload["type"] == "checkout.session.completed" and payload["livemode"] is False
    assert payload["id"] == f"evt_{events[0].id.hex}"
    assert payload["data"]["object"]["id"] == created["id"]
    assert payload["data"]["object"]["status"] == "complete"
    assert payload["data"]["object"]["metadata"] == {"order_id": "42"}
    assert events[0].order_id == order_id  # operators find it under the order

    # Terminal: the order cannot move again, and neither can the session.
    async with unit_of_work(sdb) as db:
        assert await change_status(db, order_id, to=OrderStatus.EXPIRED) is None
    assert (await _session(api, api_keys.test, created["id"]))["status"] == "complete"
    assert len(await _events(sdb)) == 1


async def test_cancelled_order_cancels_its_session(
    api: AsyncTestClient[Any], api_keys: Keys, sdb: Any
) -> None:
    created = (await create(api, api_keys.test, cart_body())).json()
    async with unit_of_work(sdb) as db:
        await cancel_order(db, uuid.UUID(created["order_id"]))
    session = await _session(api, api_keys.test, created["id"])
    assert session["status"] == "canceled" and session["payment_status"] == "unpaid"
    assert [e.event_type for e in await _events(sdb)] == ["checkout.session.canceled"]


async def test_late_payment_keeps_expired_but_is_reported(
    api: AsyncTestClient[Any], api_keys: Keys, sdb: Any
) -> None:
    """A payment sent in time that confirms after expiry (or an operator's mark-paid): the session
    stays expired (terminal), payment_status becomes paid, async_payment_succeeded is sent."""
    created = (await create(api, api_keys.test, cart_body())).json()
    order_id = uuid.UUID(created["order_id"])
    async with unit_of_work(sdb) as db:
        await db.execute(sa.update(Order).where(Order.id == order_id).values(expires_at=utcnow()))
    async with unit_of_work(sdb) as db:
        assert [o.id for o in await expire_due_orders(db)] == [order_id]
    assert (await _session(api, api_keys.test, created["id"]))["status"] == "expired"
    async with unit_of_work(sdb) as db:
        paid = await change_status(
            db, order_id, to=OrderStatus.PAID, allowed_from=(OrderStatus.EXPIRED,)
        )
        assert paid is not None
    session = await _session(api, api_keys.test, created["id"])
    assert session["status"] == "expired" and session["payment_status"] == "paid"
    types = [e.event_type for e in await _events(sdb)]
    assert types == ["checkout.session.expired", "checkout.session.async_payment_succeeded"]
    # No Ocrch `order_status_changed` for a session order: its merchant integrated sessions.
    assert all(t.startswith("checkout.session.") for t in types)


async def test_resend_of_a_session_order_sends_the_session_event(
    api: AsyncTestClient[Any], api_keys: Keys, sdb: Any
) -> None:
    created = (await create(api, api_keys.test, cart_body())).json()
    order_id = uuid.UUID(created["order_id"])
    async with unit_of_work(sdb) as db:
        try:
            await resend_order_status(db, order_id)
            raise AssertionError("an open session has nothing to resend")
        except Exception as exc:  # noqa: BLE001 - the Conflict below
            assert "still open" in str(exc)
    async with unit_of_work(sdb) as db:
        await cancel_order(db, order_id)
    async with unit_of_work(sdb) as db:
        again = await resend_order_status(db, order_id)
    events = await _events(sdb)
    assert [e.event_type for e in events] == ["checkout.session.canceled"] * 2
    assert events[1].id == again.id and events[1].payload == events[0].payload


async def test_sweepers_expire_sessions(
    api: AsyncTestClient[Any], api_keys: Keys, sdb: Any
) -> None:
    payment = (await create(api, api_keys.test, cart_body())).json()
    donation = (
        await create(api, api_keys.test, {"mode": "donation", "success_url": f"{SHOP}/thanks"})
    ).json()
    assert donation["order_id"] is None and donation["amount_total"] is None
    async with unit_of_work(sdb) as db:
        past = utcnow() - dt.timedelta(seconds=1)
        await db.execute(sa.update(CheckoutSession).values(expires_at=past))
        await db.execute(sa.update(Order).values(expires_at=past))
    async with unit_of_work(sdb) as db:
        assert len(await expire_due_orders(db)) == 1
        assert await expire_due_sessions(db) == 1
    async with unit_of_work(sdb) as db:
        assert await expire_due_sessions(db) == 0  # once
    for sid in (payment["id"], donation["id"]):
        assert (await _session(api, api_keys.test, sid))["status"] == "expired"
    types = sorted(e.event_type for e in await _events(sdb))
    assert types == ["checkout.session.expired"] * 2
    # An expired session's link still answers: the hosted page shows the expired order; a
    # donation that never started says so.
    follow = await api.get(f"/checkout/s/{payment['id']}", follow_redirects=False)
    assert follow.status_code == 303
    closed = await api.get(f"/checkout/s/{donation['id']}")
    assert closed.status_code == 410 and "expired" in closed.text
    before = await counts(sdb)
    refused = await api.post(f"/checkout/s/{donation['id']}", data={"amount": "10"})
    assert refused.status_code == 410
    assert await counts(sdb) == before


def _split(location: str) -> tuple[str, str]:
    signed, _, sig = location.rpartition("&sig=")
    return signed, unquote(sig)


async def test_session_link_signs_the_hosted_page(
    api: AsyncTestClient[Any], api_keys: Keys
) -> None:
    created = (await create(api, api_keys.test, cart_body())).json()
    follow = await api.get(urlsplit(created["url"]).path, follow_redirects=False)
    assert follow.status_code == 303 and follow.headers["cache-control"] == "no-store"
    signed, signature = _split(follow.headers["location"])
    parts = urlsplit(signed)
    assert parts.path == "/checkout/"
    assert parse_qs(parts.query) == {"order_id": [created["order_id"]], "session": [created["id"]]}
    assert (
        f"{parts.scheme}://{parts.netloc}"
        not in load_settings(None, **session_settings_dict("sqlite://")).merchant.allowed_origins
    )

    # The page's User API calls pass: our own origin is allowed for our own hosted page.
    headers = {"Ocrch-Signed-Url": signed, "Ocrch-Signature": signature}
    status = await api.get(f"/api/v1/user/orders/{created['order_id']}/status", headers=headers)
    assert status.status_code == 200, status.text
    order = status.json()
    assert order["amount"] == "43.98"
    assert order["success_url"] == f"{SHOP}/orders/42/success?session_id={created['id']}"
    # … but only the hosted page's path, not any URL on our origin.
    other = signed.replace("/checkout/?", "/elsewhere/?")
    forged = {"Ocrch-Signed-Url": other, "Ocrch-Signature": sign_url(K1, other, int(time.time()))}
    refused = await api.get(f"/api/v1/user/orders/{created['order_id']}/status", headers=forged)
    assert refused.status_code == 403 and refused.text == "origin not allowed"

    refresh = await api.get(
        f"/checkout/s/{created['id']}/signature", params={"order_id": created["order_id"]}
    )
    assert refresh.status_code == 200 and refresh.json()["signed_url"] == signed
    for sid, oid in ((created["id"], str(uuid.uuid4())), ("cs_test_nope", created["order_id"])):
        wrong = await api.get(f"/checkout/s/{sid}/signature", params={"order_id": oid})
        assert wrong.status_code == 404 and wrong.json()["error"]["type"] == "not_found"
    missing = await api.get("/checkout/s/cs_test_doesnotexist")
    assert missing.status_code == 404 and "not valid" in missing.text


async def test_public_url_is_the_session_base(database_url: str, api_keys: Keys, sdb: Any) -> None:
    public = "https://pay.example.org"
    settings = load_settings(
        None, **session_settings_dict(database_url, server={"public_url": public + "/"})
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        created = (await create(client, api_keys.test, cart_body())).json()
        assert created["url"] == f"{public}/checkout/s/{created['id']}"
        follow = await client.get(f"/checkout/s/{created['id']}", follow_redirects=False)
        signed, signature = _split(follow.headers["location"])
        assert signed.startswith(f"{public}/checkout/?order_id=")
        status = await client.get(
            f"/api/v1/user/orders/{created['order_id']}/status",
            headers={"Ocrch-Signed-Url": signed, "Ocrch-Signature": signature},
        )
        assert status.status_code == 200, status.text


async def test_donation_amount_form(api: AsyncTestClient[Any], api_keys: Keys, sdb: Any) -> None:
    created = (
        await create(
            api,
            api_keys.test,
            {
                "mode": "donation",
                "line_items": [
                    {
                        "price_data": {
                            "currency": "usd",
                            "product_data": {"name": "Support the project"},
                            "unit_amount": 1500,
                        },
                        "quantity": 1,
                    }
                ],
                "amount_min": 500,
                "amount_max": 10000,
                "success_url": f"{SHOP}/thanks?s={{CHECKOUT_SESSION_ID}}",
                "cancel_url": f"{SHOP}/",
            },
        )
    ).json()
    assert created["mode"] == "donation" and created["amount_total"] is None
    assert created["amount_min"] == 500 and created["amount_max"] == 10000
    path = f"/checkout/s/{created['id']}"
    form = await api.get(path)
    assert form.status_code == 200 and 'value="15.00"' in form.text
    assert "Support the project" in form.text and "5.00 and 100.00" in form.text

    before = await counts(sdb)
    for amount, text in (
        ("4.99", "between"),
        ("100.01", "between"),
        ("abc", "such as"),
        ("1.234", "two decimals"),
    ):
        refused = await api.post(path, data={"amount": amount})
        assert refused.status_code == 400 and text in refused.text, (amount, refused.text)
    assert await counts(sdb) == before

    chosen = await api.post(path, data={"amount": "$12.50"}, follow_redirects=False)
    assert chosen.status_code == 303, chosen.text
    signed, _ = _split(chosen.headers["location"])
    session = await _session(api, api_keys.test, created["id"])
    assert session["amount_total"] == 1250 and session["order_id"] in signed
    async with sdb() as db:
        order = await db.get(Order, uuid.UUID(session["order_id"]))
        assert order is not None and str(order.amount) == "12.50"
        assert order.success_url == f"{SHOP}/thanks?s={created['id']}"
    again = await api.post(path, data={"amount": "99"}, follow_redirects=False)
    assert again.status_code == 303  # the first choice stands; no second order
    assert (await _session(api, api_keys.test, created["id"]))["amount_total"] == 1250
    assert (await counts(sdb))["orders"] == before["orders"] + 1
    follow = await api.get(path, follow_redirects=False)
    assert follow.status_code == 303 and session["order_id"] in follow.headers["location"]


async def test_a_wildcard_listen_address_needs_public_url(
    database_url: str, api_keys: Keys, sdb: Any
) -> None:
    """No session link that no shopper could open: without [server].public_url, a server listening
    on 0.0.0.0 refuses to create sessions, and says what to set."""
    settings = load_settings(
        None, **session_settings_dict(database_url, server={"listen": "0.0.0.0:8080"})
    )
    before = await counts(sdb)
    async with AsyncTestClient(app=create_app(settings)) as client:
        response = await create(client, api_keys.test, cart_body())
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["type"] == "api_error" and "[server].public_url" in error["message"]
    assert await counts(sdb) == before
