"""`stablecheckout admin …` as an operator uses it: "the customer says they paid"."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

from app.db import unit_of_work, utcnow
from app.ids import new_id
from app.models import Order, Transfer
from tests.conftest import TEST_WALLET_ETH, settings_dict, write_config
from tests.in_process_cli import run_cli

TX = "0x" + "5e" * 32


def admin(config: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("admin", *args, "-c", str(config), database_url=database_url)


async def test_customer_says_they_paid(database_url: str, db: Any, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", settings_dict(database_url))
    async with unit_of_work(db) as session:
        now = utcnow()
        order = Order(
            id=new_id(),
            merchant_order_id="shop-1001",
            amount_units=2500,
            amount_scale=2,
            status="expired",
            webhook_url="https://s.example/h",
            created_at=now,
            updated_at=now,
            expires_at=now - dt.timedelta(minutes=1),
        )
        session.add(order)
        session.add(
            Transfer(
                blockchain="eth",
                token="USDT",
                contract_address="0xdac1",
                tx_hash=TX,
                log_index=0,
                from_address="0xcustomer",
                to_address=TEST_WALLET_ETH,
                amount=25_000_000,
                block_number=9,
                block_hash="0x" + "11" * 32,
                block_time=now,
                status="no_matched_deposit",
                confirmed=True,
                late=True,
            )
        )
    order_id = str(order.id)

    found = admin(config, database_url, "find", TX.upper().replace("0X", "0x"))
    assert found.returncode == 0, found.stderr
    assert "TRANSFERS LINKED TO NO ORDER" in found.stdout and "25.000000" in found.stdout
    by_ref = admin(config, database_url, "find", "shop-1001")
    assert order_id in by_ref.stdout and "expired" in by_ref.stdout

    listed = json.loads(admin(config, database_url, "transfers", "--unmatched", "--json").stdout)
    transfer_id = listed[0]["id"]
    attached = admin(
        config,
        database_url,
        "attach",
        str(transfer_id),
        order_id,
        "--reason",
        "late payment, customer confirmed by email",
        "--json",
    )
    assert attached.returncode == 0, attached.stderr
    assert json.loads(attached.stdout)["status"] == "paid"
    again = admin(config, database_url, "attach", str(transfer_id), order_id, "--reason", "x")
    assert again.returncode == 1 and "already pays an order" in again.stderr

    orders = json.loads(admin(config, database_url, "orders", "--status", "paid", "--json").stdout)
    assert [o["order_id"] for o in orders] == [order_id]
    assert orders[0]["status_reason"] == "late payment, customer confirmed by email"
    resent = admin(config, database_url, "resend", order_id, "--json")
    assert json.loads(resent.stdout)["status"] == "paid"
    hooks = admin(config, database_url, "webhooks", order_id)
    assert hooks.returncode == 0 and "order_status_changed" in hooks.stdout
    missing = admin(config, database_url, "mark-paid", str(uuid.uuid4()), "--reason", "x")
    assert missing.returncode == 1 and "resource not found" in missing.stderr
    totals = admin(config, database_url, "totals")
    assert "25.000000" in totals.stdout
