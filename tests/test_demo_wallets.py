"""The demo shop's test-wallet buttons through `stablecheckout dev` (devkit/demo/wallets.py), the
way a newcomer presses them: "pay short" leaves an order partly paid with a remainder to pay (then
paid, `partial`), "pay twice" pays and the second transfer is a `duplicate` listed for refund,
"pay late" lets the order expire first (then `late`, reported and listed). Each exception reaches
the demo shop's webhook log as a verified `payment_exception`.

One dev server, three orders for three items whose prices lie far apart (so no transfer falls in
the match band of another order's deposit), paid side by side to keep the run short.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.conftest import running_dev

Auth = dict[str, str]


def _buy(client: httpx.Client, item: str) -> tuple[str, Auth]:
    bought = client.post("/demo/buy", data={"item": item}, follow_redirects=False)
    assert bought.status_code == 303, bought.text
    location = bought.headers["location"]
    query = parse_qs(urlsplit(location).query)
    auth = {"Ocrch-Signed-Url": location.split("&sig=")[0], "Ocrch-Signature": query["sig"][0]}
    order_id = query["order_id"][0]
    chosen = client.post(
        f"/api/v1/user/orders/{order_id}/payment",
        headers=auth,
        json={"blockchain": "eth", "stablecoin": "USDT"},
    )
    assert chosen.status_code == 201, chosen.text
    return order_id, auth


def _open_payment(client: httpx.Client, order_id: str) -> dict[str, Any]:
    [row] = [p for p in client.get("/demo/payments").json() if p["order_id"] == order_id]
    return dict(row)


def _press(client: httpx.Client, order_id: str, way: str) -> dict[str, Any]:
    row = _open_payment(client, order_id)
    answer = client.post("/demo/test-pay", json={"deposit_id": row["deposit_id"], "way": way})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert body["order_id"] == order_id and all(t.startswith("0x") for t in body["txids"])
    return body


def _wait_for(
    client: httpx.Client, order_id: str, auth: Auth, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        order: dict[str, Any] = client.get(
            f"/api/v1/user/orders/{order_id}/status", headers=auth
        ).json()
        if done(order) or time.monotonic() > deadline:
            return order
        time.sleep(0.3)


def _exception_hooks(client: httpx.Client, merchant_order_id: str, kind: str) -> list[Any]:
    deadline = time.monotonic() + 15
    while True:
        hooks = [
            h
            for h in client.get("/demo/webhooks.json").json()
            if h["body"]["event_type"] == "payment_exception"
            and h["body"]["merchant_order_id"] == merchant_order_id
            and h["body"]["kind"] == kind
        ]
        if hooks or time.monotonic() > deadline:
            return hooks
        time.sleep(0.3)


def _refund_items(database: Path, order_id: str) -> list[tuple[str, int]]:
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT kind, amount FROM refund_items WHERE replace(order_id, '-', '') = ?",
            (order_id.replace("-", ""),),
        ).fetchall()
    return [(str(kind), int(amount)) for kind, amount in rows]


def test_demo_pays_short_twice_and_late(tmp_path: Path) -> None:
    with running_dev(tmp_path) as dev:
        client = httpx.Client(base_url=dev.base, timeout=30)
        page = client.get("/demo").text
        for label in ("pay short", "pay twice", "pay late"):
            assert label in page, label

        short_id, short_auth = _buy(client, "tee")  # 19.99 EUR = 21.73 USDT
        twice_id, twice_auth = _buy(client, "mug")  # 12.50 EUR = 13.59 USDT
        late_id, late_auth = _buy(client, "stickers")  # 4.00 EUR = 4.35 USDT

        short = _press(client, short_id, "short")
        # Half the 2 % match band short: what an exchange's fee leaves, still this order's.
        assert short["amounts"] == ["21.512700"], short
        twice = _press(client, twice_id, "twice")
        assert twice["amounts"] == ["13.590000", "13.590000"] and len(set(twice["txids"])) == 2
        late = _press(client, late_id, "late")
        assert late["amounts"] == ["4.350000"]

        # Pay short: still pending, what arrived on record, a remainder deposit to pay.
        part = _wait_for(client, short_id, short_auth, lambda o: o["amount_received"] != "0.00")
        assert part["status"] == "pending", part
        assert (part["amount_received"], part["amount_due"]) == ("19.79", "0.20"), part
        assert part["payment_exceptions"] == ["partial"]
        remainder = part["payment"]
        assert (remainder["blockchain"], remainder["stablecoin"]) == ("eth", "USDT")
        assert remainder["amount"] == _open_payment(client, short_id)["amount"]
        assert _exception_hooks(client, part["merchant_order_id"], "partial")
        rest = _press(client, short_id, "exact")
        assert rest["amounts"] == [remainder["amount"]], (rest, remainder)
        paid = _wait_for(client, short_id, short_auth, lambda o: o["status"] != "pending")
        assert (paid["status"], paid["amount_received"], paid["amount_due"]) == (
            "paid",
            "19.99",
            "0",
        ), paid
        assert paid["payment_exceptions"] == ["partial"]

        # Pay twice: paid by the first transfer; the second is a duplicate, listed for refund.
        doubled = _wait_for(
            client, twice_id, twice_auth, lambda o: "duplicate" in o["payment_exceptions"]
        )
        # Both count, each the deposit's whole amount: the 12.50 EUR price, twice.
        assert doubled["status"] == "paid" and doubled["amount_received"] == "25.00", doubled
        [hook] = _exception_hooks(client, doubled["merchant_order_id"], "duplicate")
        assert hook["valid"] is True and hook["body"]["amount"] == "13.590000", hook
        assert _refund_items(tmp_path / "dev.db", twice_id) == [("duplicate", 13_590_000)]

        # Pay late: the order expired first; the payment is linked, reported and listed.
        ended = _wait_for(client, late_id, late_auth, lambda o: "late" in o["payment_exceptions"])
        assert ended["status"] == "expired" and ended["amount_received"] == "4.00", ended
        [hook] = _exception_hooks(client, ended["merchant_order_id"], "late")
        assert hook["valid"] is True and hook["body"]["amount"] == "4.350000", hook
        assert _refund_items(tmp_path / "dev.db", late_id) == [("late", 4_350_000)]

        # The shop's log shows what the merchant's backend was told about each order.
        statuses = {
            (h["body"]["merchant_order_id"], h["body"].get("status"))
            for h in client.get("/demo/webhooks.json").json()
            if h["body"]["event_type"] == "order_status_changed"
        }
        assert (paid["merchant_order_id"], "paid") in statuses
        assert (ended["merchant_order_id"], "expired") in statuses
    assert dev.returncode == 0, "".join(dev.output)
