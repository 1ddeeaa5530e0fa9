"""The Ocrch frontend flow of the docs, end to end, with only HTTP and WebSocket clients:
the merchant backend creates an order and signs the checkout URL; the page lists chains, gets a
payment detail, opens the socket, and the shopper cancels."""

from __future__ import annotations

import json
import subprocess
import sys
from urllib.parse import urlencode

import httpx
import websockets

from tests.conftest import REPO, ServerProcess
from tests.helpers import body_bytes, order_body, signed_headers


async def test_frontend_flow(server: ServerProcess) -> None:
    config = server.log_path.parent / "config.toml"
    async with httpx.AsyncClient(base_url=server.url) as http:
        # Merchant backend: create the order, sign the page URL with the CLI.
        raw = body_bytes(order_body(amount="42.50"))
        order = (
            await http.post("/api/v1/service/orders", content=raw, headers=signed_headers(raw))
        ).json()
        page = f"https://checkout.example.com/pay?order_id={order['order_id']}"
        signature = subprocess.run(
            [sys.executable, "-m", "app.cli", "sign-url", "-c", str(config), page],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        # Frontend: every call carries the signed URL and its signature.
        auth = {"Ocrch-Signed-Url": page, "Ocrch-Signature": signature}
        chains = (await http.get("/api/v1/user/chains", headers=auth)).json()
        choice = chains[0]
        detail = await http.post(
            f"/api/v1/user/orders/{order['order_id']}/payment",
            headers=auth,
            json={"blockchain": choice["blockchain"], "stablecoin": choice["stablecoin"]},
        )
        assert detail.status_code == 201
        assert detail.json()["amount"] == "42.50"
        socket_url = (
            f"{server.url.replace('http', 'ws')}/api/v1/user/orders/"
            f"{order['order_id']}/ws?" + urlencode({"signed_url": page, "signature": signature})
        )
        async with websockets.connect(socket_url) as socket:
            assert json.loads(await socket.recv())["order"]["status"] == "pending"
            cancelled = await http.post(
                f"/api/v1/user/orders/{order['order_id']}/cancel", headers=auth
            )
            assert cancelled.json()["status"] == "cancelled"
            assert json.loads(await socket.recv())["order"]["status"] == "cancelled"
        polled = await http.get(f"/api/v1/user/orders/{order['order_id']}/status", headers=auth)
        assert polled.json()["status"] == "cancelled"
        merchant = body_bytes({"order_id": order["order_id"]})
        final = await http.post(
            "/api/v1/service/orders/status", content=merchant, headers=signed_headers(merchant)
        )
        assert final.json()["status"] == "cancelled"
