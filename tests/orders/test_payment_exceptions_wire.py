"""Issue 16 on the wire, through a real `serve` process on both databases: a partly paid order
as the Service API status, the User API status and the WebSocket snapshot show it.

The transfers are settled in this process by the same functions the watcher calls (ingest at
detection, confirm at depth) over the server's database.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import websockets

from app.config import Settings
from app.db import create_engine, create_sessionmaker, unit_of_work
from app.transfers.service import MatchRules
from tests.conftest import TEST_WALLET_ETH, ServerProcess
from tests.helpers import body_bytes, checkout_url, order_body, signed_headers, user_headers
from tests.realtime.test_websocket import ws_url
from tests.transfers.helpers import seen, settle

USDT = 1_000_000


async def _settle(settings: Settings, amount: int, tx: int) -> None:
    engine = create_engine(settings.database_url)
    try:
        async with unit_of_work(create_sessionmaker(engine)) as session:
            await settle(session, MatchRules.for_chain(settings, "eth"), [seen(tx, amount)])
    finally:
        await engine.dispose()


async def _service_status(http: httpx.AsyncClient, order_id: str) -> dict[str, Any]:
    raw = body_bytes({"order_id": order_id})
    response = await http.post(
        "/api/v1/service/orders/status", content=raw, headers=signed_headers(raw)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_partly_paid_order_on_every_read(server: ServerProcess, settings: Settings) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        raw = body_bytes(order_body(amount="25.00"))
        created = await http.post(
            "/api/v1/service/orders", content=raw, headers=signed_headers(raw)
        )
        assert created.status_code == 201, created.text
        order = created.json()
        order_id = order["order_id"]
        assert (order["amount_received"], order["amount_due"], order["payment_exceptions"]) == (
            "0.00",
            "25.00",
            [],
        )
        signed = user_headers(checkout_url(order_id))
        chosen = await http.post(
            f"/api/v1/user/orders/{order_id}/payment",
            json={"blockchain": "eth", "stablecoin": "USDT"},
            headers=signed,
        )
        assert chosen.status_code == 201, chosen.text
        assert chosen.json()["amount_base_units"] == str(25 * USDT)

        await _settle(settings, 24_750_000, 1)  # an exchange kept 0.25 USDT (1%: in the band)

        status = await _service_status(http, order_id)
        assert list(status)[:5] == [
            "order_id",
            "merchant_order_id",
            "amount",
            "status",
            "created_at",
        ]
        assert (status["status"], status["amount_received"], status["amount_due"]) == (
            "pending",
            "24.75",
            "0.25",
        )
        assert status["payment_exceptions"] == ["partial"]
        polled = await http.get(f"/api/v1/user/orders/{order_id}/status", headers=signed)
        assert polled.status_code == 200, polled.text
        page = polled.json()
        assert (page["amount_received"], page["amount_due"]) == ("24.75", "0.25")
        remainder = page["payment"]
        assert {k: remainder[k] for k in ("blockchain", "stablecoin", "wallet_address")} == {
            "blockchain": "eth",
            "stablecoin": "USDT",
            "wallet_address": TEST_WALLET_ETH,
        }
        assert remainder["amount"] == "0.250000"
        async with websockets.connect(ws_url(server.url, order_id)) as socket:
            snapshot = json.loads(await socket.recv())
        assert snapshot["type"] == "status_update"
        assert snapshot["order"]["payment"] == remainder
        assert snapshot["order"]["amount_due"] == "0.25"

        # Choosing the pair again returns the remainder deposit, not the whole price.
        again = await http.post(
            f"/api/v1/user/orders/{order_id}/payment",
            json={"blockchain": "eth", "stablecoin": "USDT"},
            headers=signed,
        )
        assert again.json()["amount_base_units"] == remainder["amount_base_units"]
        # Another coin asks for what is due too.
        other = await http.post(
            f"/api/v1/user/orders/{order_id}/payment",
            json={"blockchain": "eth", "stablecoin": "USDC"},
            headers=signed,
        )
        assert other.status_code == 201, other.text
        assert other.json()["amount_base_units"] == str(USDT // 4)

        await _settle(settings, int(remainder["amount_base_units"]), 2)
        paid = await _service_status(http, order_id)
        assert (paid["status"], paid["amount_received"], paid["amount_due"]) == (
            "paid",
            "25.00",
            "0",
        )
        assert paid["payment_exceptions"] == ["partial"]
        polled = await http.get(f"/api/v1/user/orders/{order_id}/status", headers=signed)
        assert polled.json()["payment"] is None, "a coin order's paid status has no remainder"
