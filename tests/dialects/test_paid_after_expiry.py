"""A dialect session whose payment was sent in time but confirmed after the session ended: the
merchant's OpenCheckout handler hears `status: "completed"` (the money arrived) under the
`checkout.session.async_payment_succeeded` type, and `GET` keeps the session `expired` (terminal).
Real `serve`, real payment on anvil, the merchant expiring the session between send and depth."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from devkit.chain.anvil import transfer_tokens
from tests.dialects.conftest import SeedStack
from tests.dialects.test_seeds import follow_page, verify_opencheckout
from tests.watchers.conftest import PAYER, WALLET

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(240)]


async def test_opencheckout_payment_confirmed_after_expiry(seed_stack: SeedStack) -> None:
    base, key = seed_stack.server.url, seed_stack.api_key
    auth = {"Authorization": f"Bearer {key}"}
    reference = f"late-{uuid.uuid4().hex[:8]}"
    line = {
        "price_data": {"currency": "usd", "product_data": {"name": "Poster"}, "unit_amount": 700},
        "quantity": 1,
    }
    async with httpx.AsyncClient(base_url=base) as http:
        made = await http.post(
            "/api/checkout/sessions",
            headers=auth,
            json={
                "mode": "payment",
                "line_items": [line],
                "success_url": "https://yourstore.com/done?session_id={CHECKOUT_SESSION_ID}",
                "metadata": {"order_id": reference},
            },
        )
        session = made.json()
        assert made.status_code == 200, session
        page, order_id = await follow_page(session["url"])
        detail = await page.create_payment(order_id, "eth", "USDT")
        assert detail.amount_base_units is not None and detail.wallet_address == WALLET
        # Sent (in a block) while the session is open, one confirmation of the two required.
        await transfer_tokens(
            seed_stack.w3, seed_stack.token, WALLET, int(detail.amount_base_units), sender=PAYER
        )
        expired = await http.post(f"/api/checkout/sessions/{session['id']}/expire", headers=auth)
        assert expired.status_code == 200 and expired.json()["status"] == "expired", expired.text
        await seed_stack.mine(2)

        headers, body = await seed_stack.hooks.wait_for(
            lambda b: (
                b.get("session_id") == session["id"]
                and b.get("type") == "checkout.session.async_payment_succeeded"
            )
        )
        after = (await http.get(f"/api/checkout/sessions/{session['id']}", headers=auth)).json()
    assert verify_opencheckout(
        headers["opencheckout-signature"], body, seed_stack.opencheckout_secret
    )
    event = json.loads(body)
    # Seed 000's handler fulfils on `event.status === "completed"` with `event.metadata.order_id`.
    assert event["status"] == "completed" and event["metadata"]["order_id"] == reference
    assert event["session"]["payment_status"] == "paid"
    assert after["status"] == "expired" and after["payment_status"] == "paid"
    assert (await page.status(order_id)).status == "paid"
