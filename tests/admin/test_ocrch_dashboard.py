"""The Ocrch admin dashboard's Deposits and Health pages, as its SDK types them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from app.db import utcnow
from app.models import ChainCursor
from tests.conftest import ADMIN_SECRET, ServerProcess
from tests.helpers import checkout_url, user_headers

from .test_admin_api import create_order

ADMIN = {"Ocrch-Admin-Authorization": ADMIN_SECRET}


async def test_deposit_last_scanned_at_is_always_an_integer(server: ServerProcess, db: Any) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers=ADMIN) as http:
        order_id = await create_order(http, amount="3")
        await http.post(
            f"/api/v1/user/orders/{order_id}/payment",
            json={"blockchain": "eth", "stablecoin": "USDT"},
            headers=user_headers(checkout_url(order_id)),
        )
        [never] = (await http.get("/api/v1/admin/deposits", params={"order_id": order_id})).json()
        assert isinstance(never["last_scanned_at"], int)
        assert never["last_scanned_at"] == never["started_at"], "never scanned: its start"

        scanned = utcnow() + dt.timedelta(seconds=5)
        async with db() as session, session.begin():
            await session.merge(
                ChainCursor(blockchain="eth", block_number=9, block_hash="0x01", updated_at=scanned)
            )
        [seen] = (await http.get("/api/v1/admin/deposits", params={"order_id": order_id})).json()
        assert seen["last_scanned_at"] == int(scanned.timestamp())


async def test_admin_health_answers_like_health_without_a_secret(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        admin = await http.get("/api/v1/admin/health")
        root = await http.get("/health")
    assert admin.status_code == root.status_code == 200
    assert admin.json()["status"] == root.json()["status"] == "healthy"
    assert admin.json()["version"] == root.json()["version"]
