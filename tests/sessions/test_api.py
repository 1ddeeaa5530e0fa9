"""The Checkout Sessions API on both databases: create, retrieve, list, expire; API keys; the error
table of seed 000 (401 authentication_error, 400 invalid_request_error, 404 not_found); an
`Idempotency-Key` replayed or reused with another body; open redirects. Every refused request
leaves every table as it was."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from app.db import unit_of_work
from app.models import CheckoutSession, Order, WebhookEvent
from app.sessions import keys
from tests.sessions.conftest import (
    SHOP,
    Keys,
    bearer,
    cart_body,
    counts,
    create,
)


async def test_create_retrieve_and_the_order_behind(
    api: AsyncTestClient[Any], api_keys: Keys, sdb: Any
) -> None:
    before = int(time.time())
    response = await create(api, api_keys.test, cart_body())
    assert response.status_code == 201, response.text
    session = response.json()
    sid = session["id"]
    assert sid.startswith("cs_test_") and len(sid) == len("cs_test_") + 32
    assert session["object"] == "checkout.session"
    assert session["url"] == f"{api.base_url}/checkout/s/{sid}".replace("//checkout", "/checkout")
    assert session["status"] == "open" and session["payment_status"] == "unpaid"
    assert session["amount_total"] == 2 * 1999 + 400
    assert session["currency"] == "usd" and session["livemode"] is False
    assert before + 1800 - 2 <= session["expires_at"] <= int(time.time()) + 1800
    assert session["metadata"] == {"order_id": "42"}
    assert session["success_url"].endswith("session_id={CHECKOUT_SESSION_ID}")
    assert session["line_items"][0]["amount_total"] == 3998
    assert session["line_items"][1]["price_data"]["currency"] == "usd"

    fetched = await api.get(f"/api/v1/checkout/sessions/{sid}", headers=bearer(api_keys.test))
    assert fetched.status_code == 200 and fetched.json() == session

    async with sdb() as db:
        order = await db.get(Order, uuid.UUID(session["order_id"]))
        assert order is not None
        assert order.merchant_order_id == sid and str(order.amount) == "43.98"
        assert (
            order.status == "pending"
            and int(order.expires_at.timestamp()) == (session["expires_at"])
        )
        assert order.success_url == f"{SHOP}/orders/42/success?session_id={sid}"
        assert order.cancel_url == f"{SHOP}/cart"
        assert order.metadata_ is None  # the merchant's metadata is not shown to the page


async def test_plain_amount_as_in_the_ovgc_seed(api: AsyncTestClient[Any], api_keys: Keys) -> None:
    response = await create(
        api,
        api_keys.live,
        {
            "amount": 2500,
            "currency": "USD",
            "email": "customer@example.com",
            "product_title": "Premium Plan",
            "success_url": f"{SHOP}/success",
            "cancel_url": f"{SHOP}/cancel",
        },
    )
    assert response.status_code == 201, response.text
    session = response.json()
    assert session["id"].startswith("cs_live_") and session["livemode"] is True
    assert session["amount_total"] == 2500 and session["customer_email"] == "customer@example.com"
    assert session["line_items"][0]["price_data"]["product_data"]["name"] == "Premium Plan"
    assert session["mode"] == "payment"


async def test_custom_expiry(api: AsyncTestClient[Any], api_keys: Keys) -> None:
    at = int(time.time()) + 600
    response = await create(api, api_keys.test, cart_body(expires_at=at))
    assert response.status_code == 201 and response.json()["expires_at"] == at


def _auth_error(response: Any) -> str:
    assert response.status_code == 401, response.text
    error = response.json()["error"]
    assert error["type"] == "authentication_error"
    return str(error["message"])


async def test_bad_keys_change_nothing(api: AsyncTestClient[Any], api_keys: Keys, sdb: Any) -> None:
    created = (await create(api, api_keys.test, cart_body())).json()
    async with unit_of_work(sdb) as session:
        await keys.revoke_api_key(session, api_keys.test_id)
    before = await counts(sdb)
    url = "/api/v1/checkout/sessions"
    body = json.dumps(cart_body()).encode()
    json_type = {"Content-Type": "application/json"}
    assert "did not provide" in _auth_error(await api.post(url, content=body, headers=json_type))
    for header in (
        "Basic c2tfdGVzdF94Og==",
        "Bearer",
        "Bearer pk_test_abc",
        "Bearer sk_test_" + "x" * 40,
        "Bearer " + api_keys.live[:-1] + ("0" if api_keys.live[-1] != "0" else "1"),
    ):
        message = _auth_error(
            await api.post(url, content=body, headers={"Authorization": header, **json_type})
        )
        assert api_keys.live not in message  # a key is never echoed whole
    revoked = _auth_error(await create(api, api_keys.test, cart_body()))
    assert "revoked" in revoked
    _auth_error(await api.get(f"{url}/{created['id']}", headers=bearer(api_keys.test)))
    _auth_error(await api.get(url))
    _auth_error(await api.post(f"{url}/{created['id']}/expire"))
    assert await counts(sdb) == before


async def test_a_key_sees_only_its_mode(api: AsyncTestClient[Any], api_keys: Keys) -> None:
    test_session = (await create(api, api_keys.test, cart_body())).json()
    live_session = (await create(api, api_keys.live, cart_body())).json()
    url = "/api/v1/checkout/sessions"
    hidden = await api.get(f"{url}/{test_session['id']}", headers=bearer(api_keys.live))
    assert hidden.status_code == 404 and hidden.json()["error"]["type"] == "not_found"
    hidden = await api.get(f"{url}/{live_session['id']}", headers=bearer(api_keys.test))
    assert hidden.status_code == 404
    expire = await api.post(f"{url}/{live_session['id']}/expire", headers=bearer(api_keys.test))
    assert expire.status_code == 404
    listed = (await api.get(url, headers=bearer(api_keys.test))).json()
    assert [s["id"] for s in listed["data"]] == [test_session["id"]]


BAD_BODIES: list[tuple[str, Any, str | None, str]] = [
    ("not json", b"{mode: payment", None, "not valid JSON"),
    ("an array", b"[]", None, "JSON object"),
    ("no success_url", cart_body(success_url=None), "success_url", "success_url"),
    ("a float amount", cart_body(amount=19.99, line_items=None), "amount", "integer"),
    (
        "a float unit_amount",
        cart_body(
            line_items=[
                {
                    "price_data": {
                        "currency": "usd",
                        "product_data": {"name": "x"},
                        "unit_amount": 19.99,
                    }
                }
            ]
        ),
        "line_items[0][price_data][unit_amount]",
        "integer",
    ),
    ("an unknown parameter", cart_body(payment_method_types=["card"]), "payment_method_types", ""),
    (
        "euros",
        cart_body(
            line_items=[
                {
                    "price_data": {
                        "currency": "eur",
                        "product_data": {"name": "x"},
                        "unit_amount": 100,
                    },
                    "quantity": 1,
                }
            ]
        ),
        "line_items[0][price_data][currency]",
        "only usd",
    ),
    ("euros as amount", {"amount": 100, "currency": "eur", "success_url": SHOP}, "currency", "usd"),
    ("subscription", cart_body(mode="subscription"), "mode", "payment or donation"),
    ("amount and line_items", cart_body(amount=100), "amount", "not both"),
    ("nothing to pay", cart_body(line_items=None), "line_items", "line_items or amount"),
    ("a zero total", cart_body(line_items=None, amount=0), "line_items", "greater than 0"),
    ("no line item", cart_body(line_items=[]), "line_items", "empty"),
    (
        "quantity 0",
        cart_body(line_items=[{**cart_body()["line_items"][0], "quantity": 0}]),
        "line_items[0][quantity]",
        "",
    ),
    ("expiring too soon", cart_body(expires_at=int(time.time()) + 5), "expires_at", "between"),
    ("expiring too late", cart_body(expires_at=int(time.time()) + 9 * 86400), "expires_at", ""),
    ("a bad email", cart_body(customer_email="not an email"), "customer_email", "email"),
    (
        "too much metadata",
        cart_body(metadata={f"k{i}": "v" for i in range(51)}),
        "metadata",
        "",
    ),
    ("a nested metadata value", cart_body(metadata={"a": {"b": 1}}), "metadata[a]", ""),
    ("min on a payment", cart_body(amount_min=100), "amount_min", "donation"),
    ("a NUL character", cart_body(client_reference_id="a\x00b"), "client_reference_id", "NUL"),
]


@pytest.mark.parametrize(
    ("case", "body", "param", "text"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES]
)
async def test_bad_bodies_are_400_and_change_nothing(
    api: AsyncTestClient[Any],
    api_keys: Keys,
    sdb: Any,
    case: str,
    body: Any,
    param: str | None,
    text: str,
) -> None:
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if v is not None}
    before = await counts(sdb)
    response = await create(api, api_keys.test, body, **{"Idempotency-Key": f"bad-{case}"})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error.get("param") == param
    assert text.lower() in error["message"].lower()
    assert await counts(sdb) == before


async def test_json_content_type_required(
    api: AsyncTestClient[Any], api_keys: Keys, sdb: Any
) -> None:
    before = await counts(sdb)
    response = await api.post(
        "/api/v1/checkout/sessions",
        content=b"mode=payment",
        headers=bearer(api_keys.test, **{"Content-Type": "application/x-www-form-urlencoded"}),
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert await counts(sdb) == before


OPEN_REDIRECTS = [
    ("another host", "https://evil.example/phish", "not in"),
    ("plain http", "http://shop.example/orders/1", "https://"),
    ("javascript", "javascript:alert(document.cookie)", "https://"),
    ("a look-alike host", "https://shop.example.evil.example/", "not in"),
    ("a suffix trick", "https://evilshop.example/", "not in"),
    ("a backslash", "https://evil.example\\@shop.example/", "backslash"),
    ("user info", "https://shop.example@evil.example/", "user name"),
    ("credentials", "https://user:pw@shop.example/", "user name"),
    ("protocol-relative", "//evil.example/x", "https://"),
    ("a data URL", "data:text/html,<script>alert(1)</script>", "https://"),
    ("a tab", "https://shop.example/\tx", "control"),
    ("a bad port", "https://shop.example:99999/", "valid URL"),
    ("loopback not listed", "http://127.0.0.1:8000/ok", "not in"),
]


@pytest.mark.parametrize(
    ("case", "url", "text"), OPEN_REDIRECTS, ids=[c[0] for c in OPEN_REDIRECTS]
)
async def test_open_redirects_are_refused(
    api: AsyncTestClient[Any], api_keys: Keys, sdb: Any, case: str, url: str, text: str
) -> None:
    before = await counts(sdb)
    response = await create(api, api_keys.test, cart_body(success_url=url))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == "success_url"
    assert text in error["message"]
    response = await create(api, api_keys.test, cart_body(cancel_url=url))
    assert response.status_code == 400 and response.json()["error"]["param"] == "cancel_url"
    assert await counts(sdb) == before


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example/ok?session_id={CHECKOUT_SESSION_ID}",
        "https://checkout.shop.example/return",
        "https://SHOP.example./ok",
    ],
)
async def test_allowed_redirects(api: AsyncTestClient[Any], api_keys: Keys, url: str) -> None:
    response = await create(api, api_keys.test, cart_body(success_url=url))
    assert response.status_code == 201, response.text


async def test_idempotency_key(api: AsyncTestClient[Any], api_keys: Keys, sdb: Any) -> None:
    body = cart_body()
    first = await create(api, api_keys.test, body, **{"Idempotency-Key": "order-42"})
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    again = await create(api, api_keys.test, body, **{"Idempotency-Key": "order-42"})
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    after_first = await counts(sdb)
    assert after_first["checkout_sessions"] == 1 and after_first["orders"] == 1

    changed = await create(
        api,
        api_keys.test,
        cart_body(metadata={"order_id": "43"}),
        **{"Idempotency-Key": "order-42"},
    )
    assert changed.status_code == 409, changed.text
    error = changed.json()["error"]
    assert error["type"] == "invalid_request_error" and "different request body" in error["message"]
    assert error["param"] == "Idempotency-Key"
    assert await counts(sdb) == after_first

    # Scoped to the key's mode: the same key with a live key is another request.
    live = await create(api, api_keys.live, body, **{"Idempotency-Key": "order-42"})
    assert live.status_code == 201 and live.json()["id"] != first.json()["id"]
    # A refused body records nothing: fixing it and retrying with the same key works.
    bad = await create(api, api_keys.test, cart_body(mode="nope"), **{"Idempotency-Key": "k2"})
    assert bad.status_code == 400
    good = await create(api, api_keys.test, body, **{"Idempotency-Key": "k2"})
    assert good.status_code == 201


async def test_list_with_cursor_pagination(api: AsyncTestClient[Any], api_keys: Keys) -> None:
    made = [(await create(api, api_keys.test, cart_body())).json()["id"] for _ in range(5)]
    await create(api, api_keys.live, cart_body())
    url = "/api/v1/checkout/sessions"
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["starting_after"] = cursor
        page = (await api.get(url, params=params, headers=bearer(api_keys.test))).json()
        assert page["object"] == "list" and len(page["data"]) <= 2
        seen += [s["id"] for s in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["data"][-1]["id"]
    assert seen == list(reversed(made))  # newest first, each once
    default = (await api.get(url, headers=bearer(api_keys.test))).json()
    assert len(default["data"]) == 5 and default["has_more"] is False

    for limit in (0, 101, "ten"):
        response = await api.get(url, params={"limit": limit}, headers=bearer(api_keys.test))
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error" and error["param"] == "limit"
    unknown = await api.get(
        url, params={"starting_after": "cs_test_nope"}, headers=bearer(api_keys.test)
    )
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "not_found"


async def test_expire(api: AsyncTestClient[Any], api_keys: Keys, sdb: Any) -> None:
    session = (await create(api, api_keys.test, cart_body())).json()
    url = f"/api/v1/checkout/sessions/{session['id']}"
    expired = await api.post(f"{url}/expire", headers=bearer(api_keys.test))
    assert expired.status_code == 200, expired.text
    body = expired.json()
    assert body["status"] == "expired" and body["url"] is None
    assert body["payment_status"] == "unpaid"
    async with sdb() as db:
        order = await db.get(Order, uuid.UUID(session["order_id"]))
        assert order is not None and order.status == "expired"
        events = list(await db.scalars(sa.select(WebhookEvent)))
    assert [e.event_type for e in events] == ["checkout.session.expired"]
    assert events[0].payload["data"]["object"]["status"] == "expired"
    assert events[0].target_url == f"{SHOP}/webhooks/sessions"

    before = await counts(sdb)
    again = await api.post(f"{url}/expire", headers=bearer(api_keys.test))
    assert again.status_code == 400 and again.json()["error"]["param"] == "id"
    assert "only an open session" in again.json()["error"]["message"]
    assert await counts(sdb) == before
    missing = await api.post(
        "/api/v1/checkout/sessions/cs_test_missing/expire", headers=bearer(api_keys.test)
    )
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found"
    assert (await api.get(url, headers=bearer(api_keys.test))).json()["status"] == "expired"


async def test_unknown_session_is_404(api: AsyncTestClient[Any], api_keys: Keys) -> None:
    for sid in ("cs_test_missing", "x" * 300):
        response = await api.get(f"/api/v1/checkout/sessions/{sid}", headers=bearer(api_keys.test))
        assert response.status_code == 404
        assert response.json()["error"]["type"] == "not_found"
    nul = await api.get("/api/v1/checkout/sessions/%00", headers=bearer(api_keys.test))
    assert nul.status_code == 400 and "NUL" in nul.json()["error"]["message"]


async def test_no_row_for_a_session_without_webhook_url(
    database_url: str, api_keys: Keys, sdb: Any
) -> None:
    from app.config import load_settings
    from app.main import create_app
    from tests.sessions.conftest import session_settings_dict

    settings = load_settings(
        None, **session_settings_dict(database_url, checkout_sessions={"webhook_url": None})
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        session = (await create(client, api_keys.test, cart_body())).json()
        response = await client.post(
            f"/api/v1/checkout/sessions/{session['id']}/expire", headers=bearer(api_keys.test)
        )
        assert response.json()["status"] == "expired"
    async with sdb() as db:
        assert await db.scalar(sa.select(sa.func.count()).select_from(WebhookEvent)) == 0
        row = await db.get(CheckoutSession, session["id"])
        assert row is not None and row.webhook_url is None


async def test_wrong_method_is_a_json_error(api: AsyncTestClient[Any], api_keys: Keys) -> None:
    response = await api.put("/api/v1/checkout/sessions", headers=bearer(api_keys.test))
    assert response.status_code == 405
    assert response.json()["error"]["type"] == "invalid_request_error"
