"""The Python SDK against a real `stablecheckout serve`: create an order, open the checkout link,
pay on anvil, and receive the webhook verified by the SDK; the same loop for a Checkout Session;
and the server's refusals arriving as `ApiError` with its status and exact text."""

from __future__ import annotations

import asyncio
import json
import uuid
from urllib.parse import unquote

import pytest

from devkit.chain.anvil import transfer_tokens
from stablecheckout_client import (
    ApiError,
    AsyncClient,
    AsyncSessionsClient,
    AsyncUserClient,
    Client,
    OrderStatusChanged,
    SessionEvent,
    SessionsClient,
    WebhookVerificationError,
    WebhookVerifier,
    verify_session_webhook,
)
from tests.sdk.conftest import SHOP_HOST, Stack
from tests.watchers.conftest import PAYER, WALLET

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(240)]


async def pay(stack: Stack, base_units: str, wallet: str = WALLET) -> None:
    await transfer_tokens(stack.w3, stack.token, wallet, int(base_units), sender=PAYER)
    await stack.mine(2)


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
            await pay(stack, detail.amount_base_units, detail.wallet_address)
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
        await pay(stack, detail.amount_base_units, detail.wallet_address)
        headers, body = await stack.hooks.wait_for(
            lambda b: (
                b.get("type") == "checkout.session.completed"
                and b["data"]["object"]["id"] == session.id
            )
        )
        event = verify_session_webhook(
            stack.session_secret, headers["stablecheckout-signature"], body
        )
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
