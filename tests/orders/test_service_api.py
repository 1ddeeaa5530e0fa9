"""Service API (api.md §2) on both databases, through the in-process app."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from app.models import Order
from tests.helpers import body_bytes, order_body, signed_headers

CREATE = "/api/v1/service/orders"
STATUS = "/api/v1/service/orders/status"


async def create(client: AsyncTestClient[Any], body: dict[str, Any] | bytes, **headers: str) -> Any:
    raw = body_bytes(body)
    return await client.post(CREATE, content=raw, headers=signed_headers(raw, **headers))


async def count_orders(db: Any) -> int:
    async with db() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(Order)))


async def test_create_and_read_back(client: AsyncTestClient[Any]) -> None:
    before = int(time.time())
    response = await create(client, order_body(amount="20.00"))
    assert response.status_code == 201
    assert response.headers["content-type"].startswith("application/json")
    order = response.json()
    assert list(order)[:5] == ["order_id", "merchant_order_id", "amount", "status", "created_at"]
    assert order["amount"] == "20.00" and order["status"] == "pending"
    assert order["merchant_order_id"] == "ord_123"
    assert uuid.UUID(order["order_id"]).version == 7
    assert before <= order["created_at"] <= time.time()
    assert order["expires_at"] == order["created_at"] + 1800
    raw = body_bytes({"order_id": order["order_id"].upper()})
    status = await client.post(STATUS, content=raw, headers=signed_headers(raw))
    assert status.status_code == 200
    assert status.json() == order


async def test_json_number_amount_keeps_its_text(client: AsyncTestClient[Any]) -> None:
    raw = b'{"order_id":"n","amount":19.990,"webhook_url":"https://s.example/h"}'
    response = await create(client, raw)
    assert response.status_code == 201, response.text
    assert response.json()["amount"] == "19.990"


async def test_duplicate_merchant_ids_are_separate_orders(client: AsyncTestClient[Any]) -> None:
    first = (await create(client, order_body())).json()
    second = (await create(client, order_body())).json()
    assert first["order_id"] != second["order_id"]


async def test_additive_fields(client: AsyncTestClient[Any]) -> None:
    response = await create(
        client,
        order_body(
            expires_in=120,
            metadata={"cart": [1, 2]},
            success_url="https://s.example/ok",
            cancel_url="https://s.example/cancel",
            blockchain="eth",
            stablecoin="DAI",
            amount="1.000000000000000001",
        ),
    )
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["expires_at"] - order["created_at"] == 120
    assert order["metadata"] == {"cart": [1, 2]}
    assert order["success_url"] == "https://s.example/ok"


async def test_status_unknown_order(client: AsyncTestClient[Any]) -> None:
    raw = body_bytes({"order_id": str(uuid.uuid4())})
    response = await client.post(STATUS, content=raw, headers=signed_headers(raw))
    assert (response.status_code, response.text) == (404, "order not found")
    assert response.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    ("headers", "body", "status", "text"),
    [
        ({}, order_body(), 401, "missing Ocrch-Signature header"),
        (
            {"Ocrch-Signature": b"12.ab\xe9"},
            order_body(),
            400,
            "invalid Ocrch-Signature header format",
        ),
        ({"Ocrch-Signature": "nodot"}, order_body(), 400, "invalid Ocrch-Signature header format"),
        ({"Ocrch-Signature": "1.a-b"}, order_body(), 400, "invalid signature encoding"),
        ({"Ocrch-Signature": "1.AAAA"}, b"not json", 400, "invalid JSON body"),
        (
            {"Ocrch-Signature": "1.AAAA"},
            order_body(blockchain="ethereum"),
            400,
            "invalid JSON body",
        ),
        ({"Ocrch-Signature": "1.AAAA"}, order_body(amount="1e5"), 400, "invalid JSON body"),
        ({"Ocrch-Signature": "1.AAAA"}, order_body(order_id=5), 400, "invalid JSON body"),
        ({"Ocrch-Signature": "1.AAAA"}, order_body(), 401, "signature verification failed"),
    ],
)
async def test_auth_errors_in_ocrch_order(
    client: AsyncTestClient[Any],
    db: Any,
    headers: dict[str, Any],
    body: Any,
    status: int,
    text: str,
) -> None:
    raw = body_bytes(body)
    response = await client.post(CREATE, content=raw, headers=headers)
    assert (response.status_code, response.text) == (status, text)
    assert response.headers["content-type"].startswith("text/plain")
    assert await count_orders(db) == 0


async def test_body_too_large(client: AsyncTestClient[Any]) -> None:
    raw = body_bytes(order_body(metadata={"x": "y" * (1024 * 1024)}))
    response = await client.post(CREATE, content=raw, headers=signed_headers(raw))
    assert (response.status_code, response.text) == (400, "failed to read request body")


async def test_expired_and_future_signatures(client: AsyncTestClient[Any], db: Any) -> None:
    raw = body_bytes(order_body())
    now = int(time.time())
    for ts in (now - 301, now + 301):
        response = await client.post(CREATE, content=raw, headers=signed_headers(raw, ts=ts))
        assert (response.status_code, response.text) == (401, "signature verification failed")
    padded = signed_headers(raw, ts=now - 299)
    padded["Ocrch-Signature"] += "="
    assert (await client.post(CREATE, content=raw, headers=padded)).status_code == 201
    assert await count_orders(db) == 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"amount": "0"}, "amount must be greater than 0"),
        ({"amount": "-5"}, "amount must be greater than 0"),
        ({"amount": "1.0000001"}, "amount has more than 6 fractional digits"),
        ({"amount": "1.0000001", "stablecoin": "USDT"}, "amount has more than 6 fractional digits"),
        ({"webhook_url": "ftp://x.example/h"}, "webhook_url must be an absolute http"),
        ({"webhook_url": "https://x.example/" + "a" * 3000}, "webhook_url is longer than"),
        ({"success_url": "javascript:alert(1)"}, "success_url must be an absolute http"),
        ({"expires_in": 10}, "expires_in must be between 60 and"),
        ({"order_id": ""}, "order_id must not be empty"),
        ({"order_id": "x" * 256}, "order_id is longer than 255"),
    ],
)
async def test_business_validation(
    client: AsyncTestClient[Any], db: Any, overrides: dict[str, Any], message: str
) -> None:
    response = await create(client, order_body(**overrides))
    assert response.status_code == 400
    assert response.text.startswith(message), response.text
    assert await count_orders(db) == 0


async def test_idempotency_key(client: AsyncTestClient[Any], db: Any) -> None:
    first = await create(client, order_body(), **{"Idempotency-Key": "key-1"})
    again = await create(client, order_body(), **{"Idempotency-Key": "key-1"})
    assert first.status_code == again.status_code == 201
    assert again.text == first.text
    assert again.headers.get("idempotent-replayed") == "true"
    other = await create(client, order_body(amount="5"), **{"Idempotency-Key": "key-1"})
    assert other.status_code == 409
    assert "different request body" in other.text
    fresh = await create(client, order_body(), **{"Idempotency-Key": "key-2"})
    assert fresh.json()["order_id"] != first.json()["order_id"]
    assert await count_orders(db) == 2


async def test_unknown_route_and_method(client: AsyncTestClient[Any]) -> None:
    missing = await client.get("/api/v1/service/nope")
    assert (missing.status_code, missing.text) == (404, "")
    wrong = await client.get(CREATE)
    assert (wrong.status_code, wrong.text) == (405, "")


async def test_health_and_openapi(client: AsyncTestClient[Any]) -> None:
    health = await client.get("/health")
    assert health.json()["status"] == "healthy"
    schema = (await client.get("/schema/openapi.json")).json()
    assert "/api/v1/service/orders" in schema["paths"]
    assert (await client.get("/schema/swagger")).status_code == 200
    assert json.dumps(schema)
