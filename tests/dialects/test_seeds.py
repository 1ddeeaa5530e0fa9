"""Each seed's own integration code, transcribed request for request and field for field, against
a real `serve` with a real payment on anvil through the hosted page's API: seed 000 (OpenCheckout),
seed 001 (OVGC) and seed 002's callback verifier. Only the base URL and the key change."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest

from stablecheckout_client import AsyncClient, AsyncUserClient
from tests.dialects.conftest import OPENCHECKOUT_SECRET, OVGC_SECRET
from tests.stack import Stack
from tests.watchers.conftest import OTHER_WALLET, WALLET

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(240)]


async def pay_through_page(stack: Stack, page_url: str) -> tuple[AsyncUserClient, str]:
    """What the hosted page does: follow the session's url (303 to the signed page), create the
    payment, and the payer sends the exact amount on chain. Returns the page client and order."""
    async with httpx.AsyncClient() as http:
        landing = await http.get(page_url)
    assert landing.status_code == 303, landing.text
    location = landing.headers["location"]
    signed_url, _, sig = location.partition("&sig=")
    order_id = parse_qs(urlsplit(location).query)["order_id"][0]
    page = AsyncUserClient(stack.server.url, signed_url, signature=unquote(sig))
    detail = await page.create_payment(order_id, "eth", "USDT")
    assert detail.amount_base_units is not None and detail.wallet_address == WALLET
    await stack.pay(WALLET, detail.amount_base_units)
    return page, order_id


async def follow_page(page_url: str) -> tuple[AsyncUserClient, str]:
    async with httpx.AsyncClient() as http:
        location = (await http.get(page_url)).headers["location"]
    signed_url, _, sig = location.partition("&sig=")
    base = f"{urlsplit(location).scheme}://{urlsplit(location).netloc}"
    order_id = parse_qs(urlsplit(location).query)["order_id"][0]
    return AsyncUserClient(base, signed_url, signature=unquote(sig)), order_id


# -- seed 000: OpenCheckout


def verify_opencheckout(header: str, body: bytes, secret: str) -> bool:
    """The documented scheme: `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), parts["v1"])


async def test_seed_000_opencheckout(seed_stack: Stack) -> None:
    base, key = seed_stack.server.url, seed_stack.api_key
    order_id = f"oc-{uuid.uuid4().hex[:8]}"
    cart = [{"name": "T-shirt", "description": "Soft cotton", "price_cents": 1999, "quantity": 2}]
    async with httpx.AsyncClient() as http:
        # 1. Backend: create a session (seed 000, as written).
        response = await http.post(
            f"{base}/api/checkout/sessions",
            headers={
                "Authorization": f"Bearer {key}",
                "Content-Type": "application/json",
                "Idempotency-Key": order_id,
            },
            content=json.dumps(
                {
                    "mode": "payment",
                    "line_items": [
                        {
                            "price_data": {
                                "currency": "usd",
                                "product_data": {
                                    "name": item["name"],
                                    "description": item["description"],
                                },
                                "unit_amount": item["price_cents"],
                            },
                            "quantity": item["quantity"],
                        }
                        for item in cart
                    ],
                    "success_url": (
                        f"https://yourstore.com/orders/{order_id}/success"
                        "?session_id={CHECKOUT_SESSION_ID}"
                    ),
                    "cancel_url": "https://yourstore.com/cart",
                    "metadata": {"order_id": order_id},
                }
            ),
        )
        session = response.json()
        assert response.status_code == 200, session
        assert (session["status"], session["amount_total"]) == ("open", 3998)

        # 2. Redirect the customer to session.url; they pay on the hosted page.
        page, order = await pay_through_page(seed_stack, session["url"])
        headers, body = await seed_stack.hooks.wait_for(
            lambda b: b.get("session", {}).get("id") == session["id"] and b["status"] == "completed"
        )
        # 3. Back at success_url, with the session id filled in.
        status = await page.status(order)
        assert status.status == "paid"
        success_url = status.success_url
        assert success_url == (
            f"https://yourstore.com/orders/{order_id}/success?session_id={session['id']}"
        )
        session_id = parse_qs(urlsplit(success_url).query)["session_id"][0]
        response = await http.get(
            f"{base}/api/checkout/sessions/{session_id}",
            headers={"Authorization": f"Bearer {key}"},
        )
        assert response.json()["status"] == "completed"
        assert (response.json()["amount_received"], response.json()["amount_due"]) == (3998, 0)

    # 4. The webhook, as the seed's handler reads it.
    signature = headers["opencheckout-signature"]
    assert verify_opencheckout(signature, body, OPENCHECKOUT_SECRET)
    assert not verify_opencheckout(signature, body, seed_stack.merchant_secret)
    assert not verify_opencheckout(
        signature, body.replace(b"completed", b"expired"), OPENCHECKOUT_SECRET
    )
    event = json.loads(body)
    assert event["status"] == "completed" and event["metadata"]["order_id"] == order_id
    assert event["type"] == "checkout.session.completed" and event["id"].startswith("evt_")
    assert (event["session"]["amount_received"], event["session"]["payment_exceptions"]) == (
        3998,
        [],
    )


async def test_opencheckout_refusals(seed_stack: Stack) -> None:
    base, key = seed_stack.server.url, seed_stack.api_key
    path = f"{base}/api/checkout/sessions"
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    body = {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": "usd",
                    "product_data": {"name": "x"},
                    "unit_amount": 100,
                },
                "quantity": 1,
            }
        ],
        "success_url": "https://yourstore.com/ok",
    }
    async with httpx.AsyncClient() as http:
        bad_key = await http.post(
            path, headers={**auth, "Authorization": "Bearer sk_test_nope"}, json=body
        )
        assert bad_key.status_code == 401
        assert bad_key.json()["error"]["type"] == "authentication_error"
        bad_body = await http.post(path, headers=auth, content=b'{"mode": "payment"')
        assert bad_body.status_code == 400
        assert bad_body.json()["error"]["type"] == "invalid_request_error"
        unknown = await http.get(f"{path}/cs_test_{'0' * 32}", headers=auth)
        assert (unknown.status_code, unknown.json()["error"]["type"]) == (404, "not_found")
        made = (await http.post(path, headers=auth, json=body)).json()
        ended = await http.post(f"{path}/{made['id']}/expire", headers=auth)
        assert ended.json()["status"] == "expired"
        again = await http.post(f"{path}/{made['id']}/expire", headers=auth)
        assert again.status_code == 400
        assert again.json()["error"]["type"] == "invalid_request_error"
        gone = await http.get(f"{path}/{made['id']}", headers=auth)
        assert (gone.json()["status"], gone.json()["url"]) == ("expired", None)


# -- seed 001: OVGC


def verify_webhook(payload: str, signature: str, secret: str, req_headers: dict[str, str]) -> bool:
    """Seed 001's verifier, transcribed line for line."""
    timestamp = req_headers["x-webhook-timestamp"]
    expected = hmac.new(
        secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256
    ).hexdigest()
    return f"sha256={expected}" == signature


async def test_seed_001_ovgc(seed_stack: Stack) -> None:
    base, key = seed_stack.server.url, seed_stack.api_key
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{base}/api/checkout-sessions",
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            content=json.dumps(
                {
                    "amount": 2500,
                    "currency": "USD",
                    "email": "customer@example.com",
                    "product_title": "Premium Plan",
                    "success_url": "https://yoursite.com/success",
                    "cancel_url": "https://yoursite.com/cancel",
                }
            ),
        )
        assert response.status_code == 201, response.text
        data = response.json()["data"]
        session = data["session"]
        assert (session["amount"], session["currency"], session["status"]) == (
            2500,
            "USD",
            "pending",
        )

        page, order = await pay_through_page(seed_stack, data["checkout_url"])
        headers, body = await seed_stack.hooks.wait_for(
            lambda b: b.get("data", {}).get("id") == session["id"]
        )
        status = await page.status(order)
        assert (status.status, status.success_url) == ("paid", "https://yoursite.com/success")
        verified = await http.get(
            f"{base}/api/checkout-sessions/{session['id']}",
            headers={"Authorization": f"Bearer {key}"},
        )
        assert verified.json()["data"]["status"] == "completed"
        assert verified.json()["data"]["email"] == "customer@example.com"
        # Issue 16's facts in OVGC's terms (minor units), additively.
        got = verified.json()["data"]
        assert (got["amount_received"], got["amount_due"], got["payment_exceptions"]) == (
            2500,
            0,
            [],
        )

    payload = body.decode()
    assert verify_webhook(payload, headers["x-webhook-signature"], OVGC_SECRET, headers)
    assert not verify_webhook(
        payload, headers["x-webhook-signature"], seed_stack.merchant_secret, headers
    )
    event = json.loads(payload)
    assert event["type"] == "payment.succeeded"
    assert (event["data"]["amount"], event["data"]["status"]) == (2500, "completed")
    assert (event["data"]["amount_received"], event["data"]["amount_due"]) == (2500, 0)


async def test_ovgc_declined_expired_and_refusals(seed_stack: Stack) -> None:
    base, key = seed_stack.server.url, seed_stack.api_key
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    body: dict[str, Any] = {
        "amount": 700,
        "email": "shopper@example.com",
        "success_url": "https://yoursite.com/success",
        "cancel_url": "https://yoursite.com/cancel",
    }
    path = f"{base}/api/checkout-sessions"
    async with httpx.AsyncClient() as http:
        data = (await http.post(path, headers=auth, json=body)).json()["data"]
        page, order = await follow_page(data["checkout_url"])
        cancelled = await page.cancel(order)
        assert cancelled.cancel_url == "https://yoursite.com/cancel"
        headers, raw = await seed_stack.hooks.wait_for(
            lambda b: b.get("data", {}).get("id") == data["session"]["id"]
        )
        assert json.loads(raw)["type"] == "payment.declined"
        assert verify_webhook(raw.decode(), headers["x-webhook-signature"], OVGC_SECRET, headers)
        got = await http.get(f"{path}/{data['session']['id']}", headers=auth)
        assert got.json()["data"]["status"] == "declined"

        # An expired session (ended through the engine's expire, as after 30 minutes).
        other = (await http.post(path, headers=auth, json=body)).json()["data"]["session"]
        await http.post(f"{base}/api/checkout/sessions/{other['id']}/expire", headers=auth)
        expired = await http.get(f"{path}/{other['id']}", headers=auth)
        assert expired.json()["data"]["status"] == "expired"

        bad_key = await http.post(
            path, headers={**auth, "Authorization": "Bearer ovgc_live_x"}, json=body
        )
        assert bad_key.json()["error"]["code"] == "UNAUTHORIZED" and bad_key.status_code == 401
        bad_body = await http.post(path, headers=auth, json={**body, "amount": "7.00"})
        assert bad_body.status_code == 400 and bad_body.json()["error"]["code"] == "BAD_REQUEST"
        unknown = await http.get(f"{path}/cs_test_{'0' * 32}", headers=auth)
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "NOT_FOUND"


# -- seed 002: the callback


async def test_seed_002_callback(seed_stack: Stack) -> None:
    base = seed_stack.server.url
    reference = f"s2-{uuid.uuid4().hex[:8]}"
    async with AsyncClient(base, seed_stack.merchant_secret) as client:
        order = await client.create_order(reference, "20.00", seed_stack.hooks.url("/callback"))
        signed_url, _, sig = client.checkout_link(order.order_id).partition("&sig=")
        async with AsyncUserClient(base, signed_url, signature=unquote(sig)) as page:
            detail = await page.create_payment(order.order_id, "eth", "USDT")
            assert detail.amount_base_units is not None
            assert detail.wallet_address == OTHER_WALLET
            await seed_stack.pay(detail.wallet_address, detail.amount_base_units)
    headers, body = await seed_stack.hooks.wait_for(
        lambda b: b.get("payload", {}).get("sessionId") == order.order_id
    )
    # Seed 002: "You must ensure all whitespace is removed from the payload before hashing".
    algorithm, _, signature = headers["authorization"].partition(" Signature=")
    payload = "".join(body.decode().split())
    digest = hmac.new(seed_stack.merchant_secret.encode(), payload.encode(), hashlib.sha256)
    assert algorithm == "HMAC-SHA256" and digest.hexdigest() == signature
    event = json.loads(body)
    assert event["type"] == "payment-authorized"
    assert event["payload"]["amount"] == 2000
    assert event["payload"]["sessionId"] == order.order_id and event["payload"]["paymentId"]
