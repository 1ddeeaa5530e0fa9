"""The Python SDK against a real `stablecheckout serve`: create an order, open the checkout link,
pay on anvil, and receive the webhook verified by the SDK; the same loop for a Checkout Session
and for every dialect's webhook (OpenCheckout, OVGC, seed 002, Epusdt, Epay); and the server's
refusals arriving as `ApiError` with its status and exact text."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, parse_qsl, unquote, urljoin, urlsplit

import httpx
import pytest

from stablecheckout_client import (
    EPUSDT_ACK,
    ApiError,
    AsyncClient,
    AsyncSessionsClient,
    AsyncUserClient,
    Client,
    OpenCheckoutEvent,
    OrderStatusChanged,
    OvgcEvent,
    PaymentException,
    Seed002Event,
    SessionEvent,
    SessionsClient,
    WebhookVerificationError,
    WebhookVerifier,
    epay_sign,
    epusdt_sign,
    verify_epay_notify,
    verify_epusdt_notify,
    verify_opencheckout_webhook,
    verify_seed002_callback,
    verify_session_webhook,
)
from tests.sdk.conftest import (
    EPAY_KEY,
    EPAY_PID,
    EPUSDT_TOKEN,
    OPENCHECKOUT_SECRET,
    OVGC_SECRET,
    SEED002_WALLET,
    SESSION_SECRET,
    SHOP_HOST,
)
from tests.stack import Stack
from tests.watchers.conftest import WALLET

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(240)]


async def test_order_loop_async(stack: Stack) -> None:
    base = stack.server.url
    reference = f"sdk-py-{uuid.uuid4().hex[:8]}"
    async with AsyncClient(base, stack.merchant_secret) as client:
        order = await client.create_order(
            reference, "12.34", stack.hooks.url(), idempotency_key=reference, expires_in=900
        )
        again = await client.create_order(
            reference, "12.34", stack.hooks.url(), idempotency_key=reference, expires_in=900
        )
        assert (order.status, order.amount, again.order_id) == ("pending", "12.34", order.order_id)

        # The shopper's link: the hosted page, signed; a page would call the User API with it.
        link = client.checkout_link(order.order_id)
        signed_url, _, sig = link.partition("&sig=")
        assert signed_url == f"{base}/checkout/?order_id={order.order_id}"
        async with AsyncUserClient(base, signed_url, signature=unquote(sig)) as page:
            [pair] = await page.chains()
            detail = await page.create_payment(order.order_id, pair.blockchain, pair.stablecoin)
            assert detail.amount == "12.34" and detail.wallet_address == WALLET
            assert detail.amount_base_units is not None
            await stack.pay(detail.wallet_address, detail.amount_base_units)
            hook = await stack.hooks.wait_for(
                lambda b: b.get("order_id") == order.order_id and b.get("status") == "paid"
            )
            assert (await page.status(order.order_id)).status == "paid"
            with pytest.raises(ApiError) as refused:
                await page.cancel(order.order_id)
            assert (refused.value.status_code, refused.value.text) == (409, "order is not pending")

        headers, body = hook
        verifier = WebhookVerifier.for_secrets(merchant_secret=stack.merchant_secret)
        event = verifier.verify(headers, body)
        assert isinstance(event, OrderStatusChanged)
        assert (event.merchant_order_id, event.status, event.amount) == (reference, "paid", "12.34")
        assert event.event_id == headers["stablecheckout-event-id"]
        assert client.verify_webhook(headers, body) == event
        with pytest.raises(WebhookVerificationError):
            verifier.verify(headers, body.replace(b"12.34", b"99.99"))
        with pytest.raises(WebhookVerificationError):
            WebhookVerifier.for_secrets(merchant_secret="x" * 40).verify(headers, body)
        assert (await client.get_order(order.order_id)).status == "paid"


async def test_a_partly_paid_order_as_the_sdk_reads_it(stack: Stack) -> None:
    """1 % short: the server's `payment_exception` (partial) verifies as a `PaymentException`, the
    order reads what it received and still owes, and once the rest is paid the signed
    `order_status_changed` carries the receipt fields."""
    reference = f"sdk-py-part-{uuid.uuid4().hex[:8]}"
    async with AsyncClient(stack.server.url, stack.merchant_secret) as client:
        order = await client.create_order(reference, "10.00", stack.hooks.url(), expires_in=900)
        signed_url, _, sig = client.checkout_link(order.order_id).partition("&sig=")
        async with AsyncUserClient(stack.server.url, signed_url, signature=unquote(sig)) as page:
            detail = await page.create_payment(order.order_id, "eth", "USDT")
            assert detail.amount_base_units is not None
            short = int(detail.amount_base_units) * 99 // 100
            tx_hash = await stack.pay(detail.wallet_address, short)
            headers, body = await stack.hooks.wait_for(
                lambda b: (
                    b.get("event_type") == "payment_exception"
                    and b.get("order_id") == order.order_id
                )
            )
            event = client.verify_webhook(headers, body)
            assert isinstance(event, PaymentException)
            assert (event.kind, event.tx_hash, event.merchant_order_id) == (
                "partial",
                tx_hash,
                reference,
            )
            assert event.amount_decimal * 10**6 == short
            assert event.event_id == headers["stablecheckout-event-id"]
            partly = await client.get_order(order.order_id)
            assert (partly.status, partly.payment_exceptions) == ("pending", ["partial"])
            assert partly.amount_received is not None and partly.amount_due is not None
            received, due = Decimal(partly.amount_received), Decimal(partly.amount_due)
            assert received * 10**6 == short and received + due == Decimal("10.00")
            rest = (await page.status(order.order_id)).raw["payment"]["amount_base_units"]
            await stack.pay(detail.wallet_address, int(rest))
            headers, body = await stack.hooks.wait_for(
                lambda b: b.get("order_id") == order.order_id and b.get("status") == "paid"
            )
        paid = client.verify_webhook(headers, body)
        assert isinstance(paid, OrderStatusChanged)
        assert (paid.amount_received, paid.amount_due, paid.payment_exceptions) == (
            "10.00",
            "0",
            ["partial"],
        )


async def test_sync_client_and_server_errors(stack: Stack) -> None:
    """The blocking client, run in a thread so the module's event loop keeps serving anvil."""

    def scenario() -> None:
        base = stack.server.url
        with Client(base, stack.merchant_secret) as client:
            order = client.create_order(
                f"sdk-sync-{uuid.uuid4().hex[:6]}", "3.5", stack.hooks.url()
            )
            assert client.get_order(order.order_id).amount == "3.5"
            with pytest.raises(ApiError) as missing:
                client.get_order(str(uuid.uuid4()))
            assert (missing.value.status_code, missing.value.text) == (404, "order not found")
            with pytest.raises(ApiError) as invalid:
                client.create_order("x", "-1", stack.hooks.url())
            assert invalid.value.status_code == 400 and "amount" in invalid.value.text
            # A backend (holding the secret) re-signs each User API call itself.
            page = client.user(f"{base}/checkout/?order_id={order.order_id}")
            assert page.cancel(order.order_id).status == "cancelled"
        wrong = Client(base, "not-the-merchant-secret-" + "x" * 20)
        with wrong, pytest.raises(ApiError) as forged:
            wrong.get_order(order.order_id)
        assert (forged.value.status_code, forged.value.text) == (
            401,
            "signature verification failed",
        )

    await asyncio.to_thread(scenario)


async def test_checkout_session_loop(stack: Stack) -> None:
    base = stack.server.url
    cart = {
        "line_items": [
            {
                "price_data": {
                    "currency": "usd",
                    "product_data": {"name": "T-shirt"},
                    "unit_amount": 1999,
                },
                "quantity": 2,
            }
        ],
        "success_url": f"https://{SHOP_HOST}/ok?session_id={{CHECKOUT_SESSION_ID}}",
        "metadata": {"order_id": "42"},
    }
    async with AsyncSessionsClient(base, stack.api_key) as sessions:
        session = await sessions.create(cart, idempotency_key=f"cart-{uuid.uuid4().hex}")
        assert (session.status, session.amount_total, session.livemode) == ("open", 3998, False)
        assert session.url is not None and session.order_id is not None
        listed = await sessions.list(limit=5)
        assert session.id in [s.id for s in listed.data]

        # The shopper pays the session's order (what the hosted page behind session.url does).
        async with AsyncClient(base, stack.merchant_secret) as client:
            page = client.user(f"{base}/checkout/?order_id={session.order_id}")
            detail = await page.create_payment(session.order_id, "eth", "USDT")
        assert detail.amount == "39.98" and detail.amount_base_units is not None
        await stack.pay(detail.wallet_address, detail.amount_base_units)
        headers, body = await stack.hooks.wait_for(
            lambda b: (
                b.get("type") == "checkout.session.completed"
                and b["data"]["object"]["id"] == session.id
            )
        )
        event = verify_session_webhook(SESSION_SECRET, headers["stablecheckout-signature"], body)
        assert isinstance(event, SessionEvent) and event.session.status == "complete"
        assert event.session.metadata == {"order_id": "42"} and event.id == json.loads(body)["id"]
        with pytest.raises(WebhookVerificationError):
            verify_session_webhook(stack.merchant_secret, headers["stablecheckout-signature"], body)
        assert (await sessions.retrieve(session.id)).payment_status == "paid"

        other = await sessions.create(cart)
        assert (await sessions.expire(other.id)).status == "expired"
        with pytest.raises(ApiError) as not_open:
            await sessions.expire(other.id)
        assert not_open.value.status_code == 400
        assert not_open.value.error_type == "invalid_request_error"
        with pytest.raises(ApiError) as bad_param:
            await sessions.create({**cart, "mode": "subscription"})
        assert (bad_param.value.status_code, bad_param.value.param) == (400, "mode")

    with SessionsClient(base, "sk_test_" + "0" * 40) as unknown, pytest.raises(ApiError) as denied:
        unknown.retrieve(session.id)
    assert (denied.value.status_code, denied.value.error_type) == (401, "authentication_error")


# -- every dialect's webhook, received and verified by the SDK


def dialect_verifier(stack: Stack) -> WebhookVerifier:
    """One endpoint for every HMAC format the stack sends, as a merchant would set it up."""
    return WebhookVerifier.for_secrets(
        merchant_secret=stack.merchant_secret,
        session_webhook_secret=SESSION_SECRET,
        opencheckout_secret=OPENCHECKOUT_SECRET,
        ovgc_secret=OVGC_SECRET,
    )


async def pay_through_page(stack: Stack, link: str) -> tuple[AsyncUserClient, str, str]:
    """What the shopper's browser does with a payment link: follow it to the signed hosted page,
    create the payment there and pay it. The page client, the order id and the tx hash."""
    async with httpx.AsyncClient(timeout=30) as http:
        location = link
        for _ in range(3):
            if "/checkout/?order_id=" in location:
                break
            answer = await http.get(location)
            assert answer.status_code in (302, 303), answer.text
            location = urljoin(location, answer.headers["location"])
    signed_url, _, sig = location.partition("&sig=")
    order_id = parse_qs(urlsplit(signed_url).query)["order_id"][0]
    page = AsyncUserClient(stack.server.url, signed_url, signature=unquote(sig))
    detail = await page.create_payment(order_id, "eth", "USDT")
    assert detail.amount_base_units is not None
    return page, order_id, await stack.pay(detail.wallet_address, detail.amount_base_units)


def altered(body: bytes) -> bytes:
    return body.replace(b'"id":"', b'"id":"x', 1)


async def test_opencheckout_event_loop(stack: Stack) -> None:
    reference = f"oc-{uuid.uuid4().hex[:8]}"
    item = {"currency": "usd", "product_data": {"name": "Mug"}, "unit_amount": 1450}
    async with httpx.AsyncClient(timeout=30) as http:
        created = await http.post(
            f"{stack.server.url}/api/checkout/sessions",
            headers={"Authorization": f"Bearer {stack.api_key}", "Idempotency-Key": reference},
            json={
                "mode": "payment",
                "line_items": [{"price_data": item, "quantity": 2}],
                "success_url": f"https://{SHOP_HOST}/ok?session_id={{CHECKOUT_SESSION_ID}}",
                "metadata": {"order_id": reference},
            },
        )
    session = created.json()
    assert created.status_code == 200, session
    await pay_through_page(stack, session["url"])
    headers, body = await stack.hooks.wait_for(
        lambda b: b.get("session_id") == session["id"] and b.get("status") == "completed"
    )
    event = dialect_verifier(stack).verify(headers, body)
    assert isinstance(event, OpenCheckoutEvent)
    assert (event.type, event.status, event.metadata["order_id"]) == (
        "checkout.session.completed",
        "completed",
        reference,
    )
    assert (event.session.id, event.session.amount_total, event.session.status) == (
        session["id"],
        2900,
        "completed",
    )
    assert event.event_id == headers["stablecheckout-event-id"]
    signature = headers["opencheckout-signature"]
    direct = verify_opencheckout_webhook(OPENCHECKOUT_SECRET, signature, body)
    assert direct == dataclasses.replace(event, event_id=None)
    with pytest.raises(WebhookVerificationError, match="mismatch"):
        verify_opencheckout_webhook(stack.merchant_secret, signature, body)
    with pytest.raises(WebhookVerificationError, match="mismatch"):
        dialect_verifier(stack).verify(headers, altered(body))


async def test_ovgc_event_loop(stack: Stack) -> None:
    path = f"{stack.server.url}/api/checkout-sessions"
    order = {
        "amount": 2300,
        "email": "buyer@example.com",
        "product_title": "Premium Plan",
        "success_url": f"https://{SHOP_HOST}/ok",
        "cancel_url": f"https://{SHOP_HOST}/no",
    }
    auth = {"Authorization": f"Bearer {stack.api_key}"}
    async with httpx.AsyncClient(timeout=30) as http:
        paid = (await http.post(path, headers=auth, json=order)).json()["data"]
        declined = (await http.post(path, headers=auth, json=order)).json()["data"]
    await pay_through_page(stack, paid["checkout_url"])
    headers, body = await stack.hooks.wait_for(
        lambda b: b.get("data", {}).get("id") == paid["session"]["id"]
    )
    event = dialect_verifier(stack).verify(headers, body)
    assert isinstance(event, OvgcEvent) and event.type == "payment.succeeded"
    assert (event.data.amount, event.data.status, event.data.email) == (
        2300,
        "completed",
        "buyer@example.com",
    )
    stale = {**headers, "x-webhook-timestamp": str(int(headers["x-webhook-timestamp"]) - 1)}
    with pytest.raises(WebhookVerificationError, match="mismatch"):
        dialect_verifier(stack).verify(stale, body)
    with pytest.raises(WebhookVerificationError, match="mismatch"):
        dialect_verifier(stack).verify(headers, altered(body))

    # The shopper cancels on the page: payment.declined.
    async with httpx.AsyncClient() as http:
        landing = await http.get(declined["checkout_url"])
    signed_url, _, sig = landing.headers["location"].partition("&sig=")
    order_id = parse_qs(urlsplit(signed_url).query)["order_id"][0]
    async with AsyncUserClient(stack.server.url, signed_url, signature=unquote(sig)) as page:
        await page.cancel(order_id)
    headers, body = await stack.hooks.wait_for(
        lambda b: b.get("data", {}).get("id") == declined["session"]["id"]
    )
    event = dialect_verifier(stack).verify(headers, body)
    assert isinstance(event, OvgcEvent)
    assert (event.type, event.data.status) == ("payment.declined", "declined")


async def test_seed002_callback_loop(stack: Stack) -> None:
    """The second server sends seed 002's callback for Ocrch orders, keyed with the merchant
    secret: `Client.verify_webhook` takes it as it takes Ocrch's own."""
    base = stack.servers["seed002"].url
    reference = f"s2-{uuid.uuid4().hex[:8]}"
    async with AsyncClient(base, stack.merchant_secret) as client:
        order = await client.create_order(reference, "20.00", stack.hooks.url("/seed002"))
        page = client.user(f"{base}/checkout/?order_id={order.order_id}")
        detail = await page.create_payment(order.order_id, "eth", "USDT")
        assert detail.wallet_address == SEED002_WALLET and detail.amount_base_units is not None
        await stack.pay(detail.wallet_address, detail.amount_base_units)
        headers, body = await stack.hooks.wait_for(
            lambda b: b.get("payload", {}).get("sessionId") == order.order_id
        )
        event = client.verify_webhook(headers, body)
    assert isinstance(event, Seed002Event) and event.paid
    assert (event.amount, event.merchant_order_id, event.payment_id) == (
        2000,
        reference,
        order.order_id.replace("-", ""),
    )
    assert event.event_id == headers["stablecheckout-event-id"]
    assert dialect_verifier(stack).verify(headers, body) == event
    with pytest.raises(WebhookVerificationError, match="mismatch"):
        verify_seed002_callback(stack.merchant_secret, headers["authorization"], body + b" ")


async def test_epusdt_notify_loop(stack: Stack) -> None:
    request: dict[str, Any] = {
        "order_id": f"E{uuid.uuid4().hex[:12]}",
        "amount": 72,
        "trade_type": "usdt.erc20",
        "name": "VIP 月卡",
        "notify_url": stack.hooks.url("/epusdt/notify"),
        "redirect_url": f"https://{SHOP_HOST}/thanks",
    }
    request["signature"] = epusdt_sign(request, EPUSDT_TOKEN)
    async with httpx.AsyncClient(timeout=30) as http:
        created = (
            await http.post(f"{stack.server.url}/api/v1/order/create-transaction", json=request)
        ).json()
    assert created["status_code"] == 200, created
    data = created["data"]
    _, _, tx = await pay_through_page(stack, data["payment_url"])
    headers, body = await stack.hooks.wait_for(lambda b: b.get("trade_id") == data["trade_id"])
    notice = verify_epusdt_notify(EPUSDT_TOKEN, body, event_id=headers["stablecheckout-event-id"])
    assert notice.paid and (notice.order_id, notice.amount, notice.actual_amount) == (
        request["order_id"],
        "72",
        data["actual_amount"],
    )
    assert notice.token == data["token"] == WALLET
    assert notice.block_transaction_id.lower() == tx.lower()
    assert EPUSDT_ACK == "ok"  # what the endpoint answered, so it is not sent again
    with pytest.raises(WebhookVerificationError, match="mismatch"):
        verify_epusdt_notify(EPAY_KEY, body)


async def test_epay_notify_loop(stack: Stack) -> None:
    params = {
        "pid": EPAY_PID,
        "type": "alipay",
        "out_trade_no": f"P{uuid.uuid4().hex[:12]}",
        "notify_url": stack.hooks.url("/epay/notify"),
        "return_url": f"https://{SHOP_HOST}/back",
        "name": "Test Item",
        "money": "36.00",
    }
    form = {**params, "sign": epay_sign(params, EPAY_KEY), "sign_type": "MD5"}
    async with httpx.AsyncClient(timeout=30) as http:
        created = (await http.post(f"{stack.server.url}/mapi.php", data=form)).json()
    assert created["code"] == 1, created
    await pay_through_page(stack, created["payurl"])
    [notify] = await stack.hooks.wait_for_path("/epay/notify", 1)
    assert notify.method == "GET"
    notice = verify_epay_notify(EPAY_KEY, notify.path, pid=EPAY_PID)
    assert notice.paid and (notice.trade_no, notice.out_trade_no, notice.money, notice.type) == (
        created["trade_no"],
        params["out_trade_no"],
        "36.00",
        "alipay",
    )
    assert verify_epay_notify(EPAY_KEY, parse_qsl(urlsplit(notify.path).query)) == notice
    with pytest.raises(WebhookVerificationError, match="mismatch"):
        verify_epay_notify(EPAY_KEY, notify.path.replace("36.00", "3.60"))
