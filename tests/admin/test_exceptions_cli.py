"""`stablecheckout admin exceptions|refunds|accept-paid` as an operator runs them, on both
databases: the same services as the Admin API, audited as `cli:user@host`."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from app.admin.models import AdminAction
from app.models import Order, RefundItem, WebhookEvent
from app.refunds.models import RefundKind
from tests.admin.test_admin_cli import admin
from tests.admin.test_exceptions_queue import order_with_deposit, unmatched_transfer
from tests.conftest import TEST_WALLET_TRON, settings_dict, write_config
from tests.refunds.conftest import seed_refund, tron_address

PUBLIC = "https://pay.example.com"


async def test_queue_and_refund_commands(database_url: str, db: Any, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "c.toml", settings_dict(database_url, server={"public_url": PUBLIC})
    )
    tid = await unmatched_transfer(db, 5_000_100)
    near = await order_with_deposit(db, 5_000_000, ref="shop-near")
    over = await seed_refund(db, kind=RefundKind.OVERPAID, amount=2_000_000)
    tron = await seed_refund(
        db,
        kind=RefundKind.DUPLICATE,
        blockchain="tron",
        wallet=TEST_WALLET_TRON,
        sender=tron_address(b"s"),
    )
    partial = await seed_refund(db, kind=RefundKind.EXPIRED_PARTIAL, order_status="expired")

    listed = admin(config, database_url, "exceptions", "unmatched")
    assert listed.returncode == 0, listed.stderr
    assert str(tid) in listed.stdout and str(near) in listed.stdout and "0.000100" in listed.stdout
    as_json = json.loads(admin(config, database_url, "exceptions", "unmatched", "--json").stdout)
    assert as_json[0]["candidates"][0]["merchant_order_id"] == "shop-near"

    flagged = admin(config, database_url, "exceptions", "flagged", "--csv")
    assert flagged.returncode == 0, flagged.stderr
    rows = list(csv.DictReader(io.StringIO(flagged.stdout)))
    assert {(r["transfer_id"], r["exception"]) for r in rows} == {
        (str(over.transfer_id), "overpaid"),
        (str(tron.transfer_id), "duplicate"),
    }

    opened = json.loads(
        admin(config, database_url, "refunds", "list", "--status", "open", "--json").stdout
    )
    assert {i["id"] for i in opened} == {over.item_id, tron.item_id, partial.item_id}

    link = admin(config, database_url, "refunds", "link", str(over.item_id))
    assert link.returncode == 0, link.stderr
    assert link.stdout.strip().startswith(f"{PUBLIC}/refunds/claim/{over.item_id}?exp=")

    tx = "cd" * 32
    marked = admin(
        config, database_url, "refunds", "mark-refunded", str(tron.item_id), tx, "--reason", "desk"
    )
    assert marked.returncode == 0, marked.stderr
    assert "sent" in marked.stdout and tx in marked.stdout
    twice = admin(
        config, database_url, "refunds", "mark-refunded", str(tron.item_id), tx, "--reason", "x"
    )
    assert twice.returncode == 1 and "already sent" in twice.stderr

    shown = json.loads(
        admin(config, database_url, "refunds", "show", str(tron.item_id), "--json").stdout
    )
    assert (shown["status"], shown["sent_evidence"]) == ("sent", "operator")
    missing = admin(config, database_url, "refunds", "show", "424242")
    assert missing.returncode == 1 and "not found" in missing.stderr

    accepted = admin(
        config, database_url, "accept-paid", str(partial.order_id), "--reason", "called the shop"
    )
    assert accepted.returncode == 0, accepted.stderr
    assert "paid" in accepted.stdout

    async with db() as session:
        order = await session.get(Order, partial.order_id)
        assert order is not None and order.status == "paid"
        assert await session.get(RefundItem, partial.item_id) is None
        trail = (
            await session.execute(
                sa.select(AdminAction.action, AdminAction.actor).order_by(AdminAction.id)
            )
        ).all()
        sent = list(
            await session.scalars(
                sa.select(WebhookEvent).where(WebhookEvent.event_type == "refund.sent")
            )
        )
    assert [e.payload["refund_id"] for e in sent] == [tron.item_id]
    assert [a for a, _ in trail] == [
        "refund.claim_link",
        "refund.mark_refunded",
        "order.accept_as_paid",
    ]
    assert all(who.startswith("cli:") for _, who in trail)
