"""Through a real `stablecheckout serve` process: the same requests an Ocrch merchant makes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import sqlalchemy as sa

from app.db import utcnow
from app.models import IdempotencyKey, Order
from tests.conftest import ServerProcess
from tests.helpers import body_bytes, order_body, signed_headers


async def test_create_and_status_over_http(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        raw = body_bytes(order_body())
        created = await http.post(
            "/api/v1/service/orders", content=raw, headers=signed_headers(raw)
        )
        assert created.status_code == 201, created.text
        raw = body_bytes({"order_id": created.json()["order_id"]})
        status = await http.post(
            "/api/v1/service/orders/status", content=raw, headers=signed_headers(raw)
        )
        assert status.json() == created.json()


async def test_fifty_concurrent_creates_with_one_key_make_one_order(
    server: ServerProcess, db: Any
) -> None:
    raw = body_bytes(order_body(order_id="concurrent"))
    headers = signed_headers(raw, **{"Idempotency-Key": "same-key"})
    async with httpx.AsyncClient(
        base_url=server.url, timeout=30, limits=httpx.Limits(max_connections=50)
    ) as http:
        responses = await asyncio.gather(
            *[http.post("/api/v1/service/orders", content=raw, headers=headers) for _ in range(50)]
        )
    assert {r.status_code for r in responses} == {201}, {r.text for r in responses}
    assert len({r.json()["order_id"] for r in responses}) == 1
    async with db() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Order)) == 1
        assert await session.scalar(sa.select(sa.func.count()).select_from(IdempotencyKey)) == 1


async def test_sweeper_expires_due_orders(server: ServerProcess, db: Any) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        raw = body_bytes(order_body(expires_in=60))
        created = (
            await http.post("/api/v1/service/orders", content=raw, headers=signed_headers(raw))
        ).json()
        keep = body_bytes(order_body(order_id="keep"))
        kept = (
            await http.post("/api/v1/service/orders", content=keep, headers=signed_headers(keep))
        ).json()
        # Move the order's expiry into the past in the database, as time passing would.
        async with db() as session, session.begin():
            await session.execute(
                sa.update(Order)
                .where(Order.merchant_order_id == "ord_123")
                .values(expires_at=utcnow())
            )
        deadline = time.monotonic() + 10
        status = "pending"
        while time.monotonic() < deadline and status == "pending":
            raw = body_bytes({"order_id": created["order_id"]})
            status = (
                await http.post(
                    "/api/v1/service/orders/status", content=raw, headers=signed_headers(raw)
                )
            ).json()["status"]
            await asyncio.sleep(0.2)
        assert status == "expired"
        raw = body_bytes({"order_id": kept["order_id"]})
        still = (
            await http.post(
                "/api/v1/service/orders/status", content=raw, headers=signed_headers(raw)
            )
        ).json()
        assert still["status"] == "pending"
