"""User API (api.md §3) on both databases: auth, payment details, unique amounts, cancel."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from app.admin.service import mark_paid
from app.config import load_settings
from app.db import unit_of_work
from app.main import create_app
from app.models import Deposit, Order, WebhookEvent
from tests.conftest import TEST_WALLET_ETH, settings_dict
from tests.helpers import body_bytes, checkout_url, order_body, signed_headers, user_headers

USER = "/api/v1/user"


async def new_order(client: AsyncTestClient[Any], **overrides: Any) -> str:
    raw = body_bytes(order_body(**overrides))
    response = await client.post("/api/v1/service/orders", content=raw, headers=signed_headers(raw))
    assert response.status_code == 201, response.text
    order_id: str = response.json()["order_id"]
    return order_id


async def pay(
    client: AsyncTestClient[Any],
    order_id: str,
    blockchain: str = "eth",
    coin: str = "USDT",
    headers: dict[str, str] | None = None,
) -> Any:
    return await client.post(
        f"{USER}/orders/{order_id}/payment",
        json={"blockchain": blockchain, "stablecoin": coin},
        headers=headers or user_headers(checkout_url(order_id)),
    )


async def snapshot(db: Any) -> tuple[list[Any], list[Any]]:
    async with db() as session:
        orders = (await session.execute(sa.select(Order.id, Order.status))).all()
        deposits = (await session.execute(sa.select(Deposit.id, Deposit.status))).all()
        return sorted(orders), sorted(deposits)


async def test_chains_lists_configured_pairs_in_config_order(client: AsyncTestClient[Any]) -> None:
    response = await client.get(f"{USER}/chains", headers=user_headers(checkout_url("x")))
    assert response.status_code == 200
    assert response.json() == [
        {"blockchain": "eth", "stablecoin": "USDT", "wallet_address": TEST_WALLET_ETH},
        {"blockchain": "eth", "stablecoin": "USDC", "wallet_address": TEST_WALLET_ETH},
        {
            "blockchain": "tron",
            "stablecoin": "USDT",
            "wallet_address": "TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7",
        },
    ]


async def test_payment_detail(client: AsyncTestClient[Any]) -> None:
    order_id = await new_order(client, amount="19.99")
    response = await pay(client, order_id)
    assert response.status_code == 201, response.text
    detail = response.json()
    assert list(detail)[:5] == ["order_id", "wallet_address", "amount", "blockchain", "stablecoin"]
    assert detail["order_id"] == order_id
    assert (detail["amount"], detail["amount_base_units"], detail["decimals"]) == (
        "19.99",
        "19990000",
        6,
    )
    assert detail["wallet_address"] == TEST_WALLET_ETH
    assert detail["payment_uri"] == (
        "ethereum:0xdAC17F958D2ee523a2206206994597C13D831ec7@1/transfer"
        f"?address={TEST_WALLET_ETH}&uint256=19990000"
    )
    again = await pay(client, order_id)
    assert again.json() == detail, "a reload gets the same reservation, not a new one"
    tron = (await pay(client, order_id, "tron")).json()
    assert tron["payment_uri"].startswith("tron:TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7?token=TR7N")


async def test_unique_amounts_step_up_on_one_wallet(client: AsyncTestClient[Any], db: Any) -> None:
    amounts = []
    for _ in range(3):
        order_id = await new_order(client, amount="10")
        amounts.append((await pay(client, order_id)).json()["amount"])
    assert amounts == ["10", "10.0001", "10.0002"]
    async with db() as session:
        units = (await session.scalars(sa.select(Deposit.amount))).all()
    assert sorted(units) == [10_000_000, 10_000_100, 10_000_200]


async def test_wallet_pool_keeps_the_exact_amount(database_url: str) -> None:
    data = settings_dict(database_url)
    second = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
    data["wallets"].append({"blockchain": "eth", "address": second, "enabled_coins": ["USDT"]})
    async with AsyncTestClient(app=create_app(load_settings(None, **data))) as client:
        details = [
            (await pay(client, await new_order(client, amount="5"))).json() for _ in range(3)
        ]
    assert [(d["wallet_address"], d["amount"]) for d in details] == [
        (TEST_WALLET_ETH, "5"),
        (second, "5"),
        (TEST_WALLET_ETH, "5.0001"),
    ]


async def test_ended_orders_keep_amounts_reserved_for_late_payments(
    client: AsyncTestClient[Any], db: Any
) -> None:
    first = await new_order(client, amount="7")
    await pay(client, first)
    cancel = await client.post(
        f"{USER}/orders/{first}/cancel", headers=user_headers(checkout_url(first))
    )
    assert cancel.status_code == 200 and cancel.json()["status"] == "cancelled"
    second = await new_order(client, amount="7")
    assert (await pay(client, second)).json()["amount"] == "7.0001"
    async with db() as session:
        statuses = dict((await session.execute(sa.select(Deposit.order_id, Deposit.status))).all())
    assert statuses == {uuid.UUID(first): "lingering", uuid.UUID(second): "active"}


async def test_paid_orders_keep_their_other_amounts_reserved(
    client: AsyncTestClient[Any], db: Any
) -> None:
    """A paid order's unused deposits linger like an expired order's: a repeat payment of them
    is linked to the paid order, never credited to the next order for the same price."""
    first = await new_order(client, amount="8")
    await pay(client, first)
    await pay(client, first, coin="USDC")
    async with unit_of_work(db) as session:
        await mark_paid(session, uuid.UUID(first), actor="test", reason=None)
    second = await new_order(client, amount="8")
    assert (await pay(client, second)).json()["amount"] == "8.0001"
    assert (await pay(client, second, coin="USDC")).json()["amount"] == "8.0001"
    async with db() as session:
        rows = (await session.execute(sa.select(Deposit.order_id, Deposit.status))).all()
    assert sorted((str(o), s) for o, s in rows) == sorted(
        [(first, "lingering"), (first, "lingering"), (second, "active"), (second, "active")]
    )


async def test_cancel(client: AsyncTestClient[Any], db: Any) -> None:
    order_id = await new_order(client)
    headers = user_headers(checkout_url(order_id))
    response = await client.post(f"{USER}/orders/{order_id}/cancel", headers=headers)
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    again = await client.post(f"{USER}/orders/{order_id}/cancel", headers=headers)
    assert (again.status_code, again.text) == (409, "order is not pending")
    status = await client.get(f"{USER}/orders/{order_id}/status", headers=headers)
    assert status.json()["status"] == "cancelled"
    late = await pay(client, order_id)
    assert (late.status_code, late.text) == (409, "order is not pending")
    async with db() as session:
        events = (await session.scalars(sa.select(WebhookEvent))).all()
    assert [e.payload["status"] for e in events] == ["cancelled"]


async def test_payment_errors(client: AsyncTestClient[Any], db: Any) -> None:
    order_id = await new_order(client)
    headers = user_headers(checkout_url(order_id))
    path = f"{USER}/orders/{order_id}/payment"
    before = await snapshot(db)
    no_wallet = await pay(client, order_id, "eth", "DAI")
    assert (no_wallet.status_code, no_wallet.text) == (
        400,
        "no wallet available for the selected chain and coin",
    )
    no_type = await client.post(
        path, content=b'{"blockchain":"eth","stablecoin":"USDT"}', headers=headers
    )
    assert no_type.status_code == 415
    malformed = await client.post(
        path, content=b'{"blockchain":', headers={**headers, "Content-Type": "application/json"}
    )
    assert malformed.status_code == 400
    assert malformed.text.startswith("Failed to parse the request body as JSON")
    for body in (
        {"blockchain": "bitcoin", "stablecoin": "USDT"},
        {"blockchain": "eth", "stablecoin": "usdt"},
        {"blockchain": "eth"},
    ):
        bad = await client.post(path, json=body, headers=headers)
        assert bad.status_code == 422, body
    assert await snapshot(db) == before
    unknown = str(uuid.uuid4())
    missing = await pay(client, unknown)
    assert (missing.status_code, missing.text) == (404, "order not found")
    bad_id = await client.get(
        f"{USER}/orders/not-a-uuid/status", headers=user_headers(checkout_url("not-a-uuid"))
    )
    assert bad_id.status_code == 400


@pytest.mark.parametrize(
    ("make_headers", "status", "text"),
    [
        (lambda oid: {}, 401, "missing Ocrch-Signature header"),
        (
            lambda oid: {"Ocrch-Signature": user_headers(checkout_url(oid))["Ocrch-Signature"]},
            400,
            "missing Ocrch-Signed-Url header",
        ),
        (
            lambda oid: {
                **user_headers(checkout_url(oid)),
                "Ocrch-Signed-Url": checkout_url(oid) + "&x=1",
            },
            401,
            "signature verification failed",
        ),
        (
            lambda oid: user_headers(checkout_url(oid), ts=int(time.time()) - 301),
            401,
            "signature expired",
        ),
        (
            lambda oid: user_headers(checkout_url(oid), ts=int(time.time()) + 400),
            401,
            "signature expired",
        ),
        (
            lambda oid: user_headers(checkout_url(oid, "https://evil.example/pay")),
            403,
            "origin not allowed",
        ),
        (
            lambda oid: user_headers(checkout_url(str(uuid.uuid4()))),
            403,
            "signed url does not match order",
        ),
        (
            lambda oid: user_headers("https://checkout.example.com/pay"),
            403,
            "signed url does not match order",
        ),
        (
            lambda oid: user_headers(checkout_url(oid), key="wrong-key"),
            401,
            "signature verification failed",
        ),
    ],
    ids=[
        "missing",
        "no-url",
        "tampered",
        "expired",
        "future",
        "origin",
        "other-order",
        "no-order",
        "wrong-key",
    ],
)
async def test_auth_failures_change_nothing(
    client: AsyncTestClient[Any], db: Any, make_headers: Any, status: int, text: str
) -> None:
    order_id = await new_order(client)
    before = await snapshot(db)
    headers = make_headers(order_id)
    for method, path in (("POST", "payment"), ("POST", "cancel"), ("GET", "status")):
        kwargs: dict[str, Any] = {"headers": headers}
        if path == "payment":
            kwargs["json"] = {"blockchain": "eth", "stablecoin": "USDT"}
        response = await client.request(method, f"{USER}/orders/{order_id}/{path}", **kwargs)
        assert (response.status_code, response.text) == (status, text), path
        assert response.headers["content-type"].startswith("text/plain")
    assert await snapshot(db) == before


async def test_ocrch_rule_when_binding_is_off(database_url: str) -> None:
    data = settings_dict(database_url, security={"signed_url_binds_order": False})
    async with AsyncTestClient(app=create_app(load_settings(None, **data))) as client:
        order_id = await new_order(client)
        response = await pay(
            client, order_id, headers=user_headers("https://checkout.example.com/pay")
        )
        assert response.status_code == 201


async def test_cors_preflight_only_for_allowed_origins(client: AsyncTestClient[Any]) -> None:
    request_headers = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "ocrch-signed-url,ocrch-signature",
    }
    allowed = await client.options(
        f"{USER}/chains", headers={"Origin": "https://checkout.example.com", **request_headers}
    )
    assert allowed.status_code in (200, 204)
    assert allowed.headers["access-control-allow-origin"] == "https://checkout.example.com"
    assert "ocrch-signature" in allowed.headers["access-control-allow-headers"].lower()
    denied = await client.options(
        f"{USER}/chains", headers={"Origin": "https://evil.example", **request_headers}
    )
    assert "access-control-allow-origin" not in denied.headers
    simple = await client.get(
        f"{USER}/chains",
        headers={"Origin": "https://checkout.example.com", **user_headers(checkout_url("x"))},
    )
    assert simple.headers["access-control-allow-origin"] == "https://checkout.example.com"


async def test_rate_limit(database_url: str) -> None:
    data = settings_dict(database_url, security={"user_rate_limit_per_minute": 5})
    async with AsyncTestClient(app=create_app(load_settings(None, **data))) as client:
        headers = user_headers(checkout_url("x"))
        codes = [
            (await client.get(f"{USER}/chains", headers=headers)).status_code for _ in range(6)
        ]
        assert codes == [200] * 5 + [429]
        limited = await client.get(f"{USER}/chains", headers=headers)
        assert limited.text == "rate limit exceeded, retry later"
        assert "ratelimit-reset" in {k.lower() for k in limited.headers}
        service = await client.get("/health")
        assert service.status_code == 200, "only the User API is limited"
