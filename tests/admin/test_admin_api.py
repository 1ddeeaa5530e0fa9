"""Admin API (api.md §1.4, §4) through a real server on both databases."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from app.db import utcnow
from app.models import Transfer, WebhookEvent
from app.security.admin_auth import hash_secret, verify_secret
from app.security.signatures import Freshness, verify_url_signature
from tests.conftest import ADMIN_SECRET, K1, TEST_WALLET_ETH, ServerProcess
from tests.helpers import body_bytes, checkout_url, order_body, signed_headers, user_headers

A1 = (
    "change-me-to-a-secure-password",
    "$argon2id$v=19$m=19456,t=2,p=1$c3RhYmxlY2hlY2tvdXQwMQ$3PPHh/V6HeSViett6vKg9iY2HX5pQNijUzCGka0iE0I",
)
A2 = (
    "admin-secret-2",
    "$argon2id$v=19$m=19456,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$Kdg4MQljO7Hjeg/TeipTDcXyUuJHESMwkcZ1aSJe8qQ",
)
ADMIN = {"Ocrch-Admin-Authorization": ADMIN_SECRET}


@pytest.mark.parametrize(("password", "phc"), [A1, A2], ids=["A1", "A2"])
def test_argon2_vectors(password: str, phc: str) -> None:
    assert verify_secret(phc, password)
    assert not verify_secret(phc, password + "x")
    assert PasswordHasher().verify(phc, password)
    ours = hash_secret(password)
    assert ours.startswith("$argon2id$v=19$m=19456,t=2,p=1$") and verify_secret(ours, password)


async def create_order(http: httpx.AsyncClient, **overrides: Any) -> str:
    raw = body_bytes(order_body(**overrides))
    response = await http.post("/api/v1/service/orders", content=raw, headers=signed_headers(raw))
    assert response.status_code == 201
    order_id: str = response.json()["order_id"]
    return order_id


async def test_secret_hashed_in_file_and_auth_errors(server: ServerProcess) -> None:
    config = (server.log_path.parent / "config.toml").read_text()
    assert ADMIN_SECRET not in config and "$argon2id$v=19$m=19456,t=2,p=1$" in config
    assert 'name = "Test Shop"' in config, "the rest of the file is kept"
    async with httpx.AsyncClient(base_url=server.url) as http:
        missing = await http.get("/api/v1/admin/orders")
        assert (missing.status_code, missing.text) == (
            401,
            "missing Ocrch-Admin-Authorization header",
        )
        bad = await http.get(
            "/api/v1/admin/orders", headers={"Ocrch-Admin-Authorization": b"s\xe9cret"}
        )
        assert (bad.status_code, bad.text) == (400, "invalid authorization header")
        wrong = await http.get(
            "/api/v1/admin/orders", headers={"Ocrch-Admin-Authorization": ADMIN_SECRET + "x"}
        )
        assert (wrong.status_code, wrong.text) == (401, "invalid admin secret")
        ok = await http.get("/api/v1/admin/orders", headers=ADMIN)
        assert ok.status_code == 200 and ok.json() == []


async def test_orders_pagination_filters_and_mark_paid(server: ServerProcess, db: Any) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers=ADMIN) as http:
        ids = [await create_order(http, order_id=f"m{i}", amount=f"{i + 1}") for i in range(4)]
        cancelled, expired, pending, other = ids
        await http.post(
            f"/api/v1/user/orders/{cancelled}/cancel", headers=user_headers(checkout_url(cancelled))
        )
        async with db() as session, session.begin():
            from app.orders.models import OrderStatus
            from app.orders.service import change_status

            await change_status(session, uuid.UUID(expired), to=OrderStatus.EXPIRED)
        listed = (await http.get("/api/v1/admin/orders")).json()
        assert [o["order_id"] for o in listed] == ids[::-1], "newest first"
        first = listed[-1]
        assert list(first)[:9] == [
            "order_id",
            "merchant_order_id",
            "amount",
            "status",
            "created_at",
            "webhook_url",
            "webhook_retry_count",
            "webhook_success_at",
            "webhook_last_tried_at",
        ]
        assert len((await http.get("/api/v1/admin/orders", params={"limit": 0})).json()) == 1
        assert len((await http.get("/api/v1/admin/orders", params={"limit": 9999})).json()) == 4
        assert (
            len((await http.get("/api/v1/admin/orders", params={"limit": 2, "offset": -5})).json())
            == 2
        )
        assert (await http.get("/api/v1/admin/orders", params={"offset": 3})).json()[0][
            "order_id"
        ] == ids[0]
        by_status = (await http.get("/api/v1/admin/orders", params={"status": "cancelled"})).json()
        assert [o["order_id"] for o in by_status] == [cancelled]
        by_ref = (await http.get("/api/v1/admin/orders", params={"merchant_order_id": "m3"})).json()
        assert [o["order_id"] for o in by_ref] == [other]
        assert (
            await http.get("/api/v1/admin/orders", params={"status": "PAID"})
        ).status_code == 400
        assert (await http.get("/api/v1/admin/orders", params={"limit": "x"})).status_code == 400

        for order_id in (pending, expired, cancelled):
            paid = await http.post(
                f"/api/v1/admin/orders/{order_id}/mark-paid",
                json={"reason": "customer showed the receipt"},
            )
            assert paid.status_code == 200 and paid.json()["status"] == "paid"
            assert paid.json()["status_reason"] == "customer showed the receipt"
        again = await http.post(f"/api/v1/admin/orders/{pending}/mark-paid")
        assert again.status_code == 200 and again.json()["status"] == "paid"
        missing = await http.post(f"/api/v1/admin/orders/{uuid.uuid4()}/mark-paid")
        assert (missing.status_code, missing.text) == (404, "resource not found")
        async with db() as session:
            paid_events = (
                await session.scalars(
                    sa.select(WebhookEvent).where(WebhookEvent.order_id == uuid.UUID(pending))
                )
            ).all()
        assert [e.payload["status"] for e in paid_events] == ["paid"], "no-op writes nothing"
        actions = (await http.get("/api/v1/admin/actions")).json()
        assert [a["action"] for a in actions] == ["order.mark_paid"] * 3
        assert actions[0]["actor"].startswith("api:127.0.0.1")
        assert {a["details"]["from_status"] for a in actions} == {"pending", "expired", "cancelled"}

        resend = await http.post(f"/api/v1/admin/orders/{other}/resend-webhook")
        assert (resend.status_code, resend.content) == (202, b"")
        log = (await http.get(f"/api/v1/admin/orders/{other}/webhooks")).json()
        assert [e["payload"]["status"] for e in log] == ["pending"]


async def test_deposits_wallets_transfers_attach(server: ServerProcess, db: Any) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers=ADMIN) as http:
        order_id = await create_order(http, amount="9.5")
        await http.post(
            f"/api/v1/user/orders/{order_id}/payment",
            json={"blockchain": "eth", "stablecoin": "USDT"},
            headers=user_headers(checkout_url(order_id)),
        )
        deposits = (await http.get("/api/v1/admin/deposits", params={"order_id": order_id})).json()
        assert [(d["value"], d["wallet_address"], d["token"]) for d in deposits] == [
            ("9.500000", TEST_WALLET_ETH, "USDT")
        ]
        assert (await http.get("/api/v1/admin/deposits", params={"token": "DAI"})).json() == []
        wallets = (await http.get("/api/v1/admin/wallets")).json()
        assert wallets[0] == {
            "blockchain": "eth",
            "address": TEST_WALLET_ETH,
            "enabled_coins": ["USDT", "USDC"],
        }

        async with db() as session, session.begin():
            transfer = Transfer(
                blockchain="eth",
                token="USDT",
                contract_address="0xdac1",
                tx_hash="0x" + "ab" * 32,
                log_index=3,
                from_address="0xpayer",
                to_address=TEST_WALLET_ETH,
                amount=9_400_000,
                block_number=7,
                block_hash="0x" + "cd" * 32,
                block_time=utcnow(),
                status="no_matched_deposit",
                confirmed=True,
                late=False,
            )
            session.add(transfer)
            await session.flush()
            transfer_id = transfer.id
        lower = TEST_WALLET_ETH.lower()
        listed = (await http.get(f"/api/v1/admin/wallets/{lower}/transfers")).json()
        assert [(t["id"], t["value"], t["status"], t["fulfillment_id"]) for t in listed] == [
            (transfer_id, "9.400000", "no_matched_deposit", None)
        ]
        assert list(listed[0])[:13] == [
            "id",
            "blockchain",
            "token",
            "from_address",
            "to_address",
            "txn_hash",
            "value",
            "block_number",
            "block_timestamp",
            "blockchain_confirmed",
            "created_at",
            "status",
            "fulfillment_id",
        ]
        by_hash = (
            await http.get("/api/v1/admin/transfers", params={"tx_hash": "0x" + "AB" * 32})
        ).json()
        assert [t["id"] for t in by_hash] == [transfer_id]
        resend = await http.post(f"/api/v1/admin/transfers/{transfer_id}/resend-webhook")
        assert (resend.status_code, resend.content) == (202, b""), "no URL set: still 202"
        attached = await http.post(
            f"/api/v1/admin/transfers/{transfer_id}/attach",
            json={"order_id": order_id, "reason": "paid 0.10 short, ok"},
        )
        assert attached.status_code == 200 and attached.json()["status"] == "paid"
        twice = await http.post(
            f"/api/v1/admin/transfers/{transfer_id}/attach", json={"order_id": order_id}
        )
        assert twice.status_code == 409
        after = (await http.get("/api/v1/admin/transfers", params={"order_id": order_id})).json()
        assert after[0]["status"] == "matched"
        actions = (await http.get("/api/v1/admin/actions")).json()
        assert actions[0]["action"] == "transfer.attach"
        assert actions[0]["reason"] == "paid 0.10 short, ok"
        totals = (await http.get("/api/v1/admin/totals")).json()
        assert totals == [
            {
                "day": dt.datetime.now(dt.UTC).date().isoformat(),
                "blockchain": "eth",
                "token": "USDT",
                "count": 1,
                "amount": "9.400000",
                "fiat": None,  # no fiat-priced order among them (docs/pricing.md)
            }
        ]

        link = (await http.post(f"/api/v1/admin/orders/{order_id}/checkout-link")).json()
        assert link["url"].startswith(link["signed_url"] + "&sig=")
        assert link["signed_url"] == f"{server.url}/checkout/?order_id={order_id}"
        assert (
            verify_url_signature(
                link["signature"],
                link["signed_url"],
                K1,
                [server.url],
                Freshness(300, 300),
                now=int(time.time()),
            )
            == link["signed_url"]
        )
        assert (
            await http.post("/api/v1/admin/transfers/abc/attach", json={"order_id": order_id})
        ).status_code == 400
        assert (
            await http.post(f"/api/v1/admin/transfers/{transfer_id + 99}/resend-webhook")
        ).status_code == 404


def test_config_rewrite_keeps_comments(tmp_path: Path) -> None:
    from app.config import load_settings
    from app.security.admin_auth import hash_plaintext_in_config

    path = tmp_path / "ocrch.toml"
    path.write_text(
        '# my shop\n[admin]\nsecret = "plain-secret"  # change me\n\n[merchant]\n'
        'name = "S"\nsecret = "k"\n'
    )
    settings = hash_plaintext_in_config(load_settings(path))
    text = path.read_text()
    assert "# my shop" in text and "plain-secret" not in text
    assert verify_secret(settings.admin.secret, "plain-secret")
    assert load_settings(path).admin.secret == settings.admin.secret
