"""`stablecheckout dev` end to end, as a newcomer uses it: buy in the demo shop, pay with the
test wallet, watch the order get paid and the shop receive a verified webhook."""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.conftest import running_dev


def test_dev_runs_the_whole_loop(tmp_path: Path) -> None:
    with running_dev(tmp_path) as dev:
        base = dev.base
        assert any(re.search(r"running at http://127\.0\.0\.1:\d+", x) for x in dev.output), (
            dev.output
        )
        client = httpx.Client(base_url=base, timeout=10)
        assert client.get("/demo").status_code == 200
        bought = client.post("/demo/buy", data={"item": "mug"}, follow_redirects=False)
        assert bought.status_code == 303
        location = bought.headers["location"]
        query = parse_qs(urlsplit(location).query)
        order_id, signature = query["order_id"][0], query["sig"][0]
        auth = {"Ocrch-Signed-Url": location.split("&sig=")[0], "Ocrch-Signature": signature}
        page = client.get(location)
        assert page.status_code == 200 and "/demo/test-wallet.js" in page.text
        detail = client.post(
            f"/api/v1/user/orders/{order_id}/payment",
            headers=auth,
            json={"blockchain": "eth", "stablecoin": "USDT"},
        ).json()
        # The demo prices in EUR at a fixed 0.92 EUR/USDT: 12.50 / 0.92 = 13.587 → 13.59 USDT.
        assert detail["amount"] == "13.59" and detail["chain_id"] == 31337
        assert detail["quote"]["currency"] == "EUR" and detail["quote"]["source"] == "fixed"
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
        deadline = time.monotonic() + 20
        while status != "paid" and time.monotonic() < deadline:
            status = client.get(f"/api/v1/user/orders/{order_id}/status", headers=auth).json()[
                "status"
            ]
            time.sleep(0.3)
        assert status == "paid"
        hooks: list[dict[str, object]] = []
        deadline = time.monotonic() + 10
        while not hooks and time.monotonic() < deadline:
            hooks = client.get("/demo/webhooks.json").json()
            time.sleep(0.2)
        assert hooks and hooks[0]["valid"] is True
        assert hooks[0]["body"]["status"] == "paid"  # type: ignore[index]

        # The same shop, paid on TRON through the simulator and the demo's TRON test wallet.
        bought = client.post("/demo/buy", data={"item": "stickers"}, follow_redirects=False)
        location = bought.headers["location"]
        query = parse_qs(urlsplit(location).query)
        order_id = query["order_id"][0]
        auth = {"Ocrch-Signed-Url": location.split("&sig=")[0], "Ocrch-Signature": query["sig"][0]}
        tron = client.post(
            f"/api/v1/user/orders/{order_id}/payment",
            headers=auth,
            json={"blockchain": "tron", "stablecoin": "USDT"},
        ).json()
        assert tron["payment_uri"].startswith("tron:T")
        [pending] = [
            p for p in client.get("/demo/tron-payments").json() if p["order_id"] == order_id
        ]
        assert (
            client.post("/demo/tron-pay", json={"deposit_id": pending["deposit_id"]}).status_code
            == 200
        )
        status = ""
        deadline = time.monotonic() + 30
        while status != "paid" and time.monotonic() < deadline:
            status = client.get(f"/api/v1/user/orders/{order_id}/status", headers=auth).json()[
                "status"
            ]
            time.sleep(0.3)
        assert status == "paid"
    assert dev.returncode == 0, "".join(dev.output)
    assert "stopped" in dev.output[-1]
