"""`stablecheckout dev` runs both front doors: the demo shop buys through a Checkout Session with
the test API key the dev server makes at start, pays with the test wallet, returns through
`success_url` (the shop retrieves the session), and receives a verified session webhook."""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.conftest import running_dev


def _pay_with_test_wallet(client: httpx.Client, location: str) -> str:
    query = parse_qs(urlsplit(location).query)
    order_id = query["order_id"][0]
    auth = {"Ocrch-Signed-Url": location.split("&sig=")[0], "Ocrch-Signature": query["sig"][0]}
    detail = client.post(
        f"/api/v1/user/orders/{order_id}/payment",
        headers=auth,
        json={"blockchain": "eth", "stablecoin": "USDT"},
    ).json()
    call = (
        "0xa9059cbb"
        + detail["wallet_address"][2:].lower().rjust(64, "0")
        + format(int(detail["amount_base_units"]), "x").rjust(64, "0")
    )
    sent = client.post(
        "/demo/rpc",
        json={
            "method": "eth_sendTransaction",
            "params": [{"to": detail["token_contract"], "data": call}],
        },
    ).json()
    assert sent.get("result", "").startswith("0x"), sent
    status = ""
    deadline = time.monotonic() + 30
    while status != "paid" and time.monotonic() < deadline:
        status = client.get(f"/api/v1/user/orders/{order_id}/status", headers=auth).json()["status"]
        time.sleep(0.3)
    return status


def test_dev_demo_buys_through_a_checkout_session(tmp_path: Path) -> None:
    with running_dev(tmp_path) as dev:
        base, output = dev.base, dev.output
        keys = [m.group(0) for line in output for m in [re.search(r"sk_test_\w{40}", line)] if m]
        assert keys, output
        client = httpx.Client(base_url=base, timeout=10)
        page = client.get("/demo").text
        assert 'data-testid="buy-session-mug"' in page and 'data-testid="donate"' in page

        bought = client.post("/demo/buy-session", data={"item": "mug"}, follow_redirects=False)
        assert bought.status_code == 303, bought.text
        session_url = bought.headers["location"]
        assert re.fullmatch(rf"{base}/checkout/s/cs_test_\w+", session_url), session_url
        session_id = session_url.rsplit("/", 1)[1]
        page_link = client.get(session_url, follow_redirects=False).headers["location"]
        assert page_link.startswith(f"{base}/checkout/?order_id=")
        assert _pay_with_test_wallet(client, page_link) == "paid"

        back = client.get(f"/demo/session-return?session_id={session_id}", follow_redirects=False)
        assert (
            back.status_code == 303 and back.headers["location"] == "/demo?paid=Confirmation%20mug"
        )
        session = client.get(
            f"/api/v1/checkout/sessions/{session_id}",
            headers={"Authorization": f"Bearer {keys[0]}"},
        ).json()
        assert session["status"] == "complete" and session["amount_total"] == 1250
        hooks: list[dict[str, object]] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            hooks = [
                h
                for h in client.get("/demo/webhooks.json").json()
                if h["body"]["event_type"] == "checkout.session.completed"
            ]
            if hooks:
                break
            time.sleep(0.2)
        assert hooks and hooks[0]["valid"] is True, hooks
        assert hooks[0]["body"]["merchant_order_id"] == session_id  # type: ignore[index]

        # The dialect switch: the same purchase through OpenCheckout's and OVGC's APIs.
        assert 'data-testid="dialect-mug"' in page
        for dialect in ("opencheckout", "ovgc"):
            via = client.post(
                "/demo/buy-session",
                data={"item": "mug", "dialect": dialect},
                follow_redirects=False,
            )
            assert via.status_code == 303, via.text
            dialect_session = via.headers["location"].rsplit("/", 1)[1]
            link = client.get(via.headers["location"], follow_redirects=False).headers["location"]
            assert _pay_with_test_wallet(client, link) == "paid"
            returned = client.get(
                f"/demo/session-return?dialect={dialect}&session_id={dialect_session}",
                follow_redirects=False,
            )
            assert returned.headers["location"] == "/demo?paid=Confirmation%20mug", dialect

        # Each dialect's webhook reaches the shop and verifies with its seed's own verifier.
        wanted = {
            ("opencheckout checkout.session.completed", "completed"),
            ("ovgc payment.succeeded", "completed"),
        }
        seen: set[tuple[str, str]] = set()
        deadline = time.monotonic() + 15
        while not wanted <= seen and time.monotonic() < deadline:
            seen = {
                (str(h["body"]["event_type"]), str(h["body"]["status"]))  # type: ignore[index]
                for h in client.get("/demo/webhooks.json").json()
                if h["valid"] is True
            }
            time.sleep(0.2)
        assert wanted <= seen, seen

        donation = client.post("/demo/donate", follow_redirects=False)
        form = client.get(donation.headers["location"])
        assert form.status_code == 200 and 'data-testid="donation-amount"' in form.text


def test_demo_dialect_verifiers_refuse_a_forged_or_stale_webhook() -> None:
    from app.dialects import signing
    from devkit.demo.dialect_webhooks import verify_opencheckout, verify_ovgc

    now = int(time.time())
    secret = "whsec_" + "k" * 40
    body, headers = signing.opencheckout(secret, {"type": "x"}, now)
    header = headers[signing.OPENCHECKOUT_HEADER]
    assert verify_opencheckout(header, body, secret, now)
    assert not verify_opencheckout(header, body + b" ", secret, now)
    assert not verify_opencheckout(header, body, secret, now + 301)
    body, headers = signing.ovgc(secret, {"type": "x"}, now)
    stamp, signature = headers["X-Webhook-Timestamp"], headers["X-Webhook-Signature"]
    assert verify_ovgc(stamp, signature, body, secret, now)
    assert not verify_ovgc(stamp, signature, body, secret + "x", now)
