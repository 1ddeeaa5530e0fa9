"""The exceptions queue through a real `serve` on both databases: unmatched transfers with their
nearest candidates, flagged payments, refund items (JSON and CSV), and the actions — claim link,
accept-as-paid (audited, through the lifecycle, withdrawing the order's late refunds) and
mark-refunded (operator-asserted where no node can be asked), each in the audit trail."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from typing import Any

import httpx
import sqlalchemy as sa

from app.db import unit_of_work, utcnow
from app.ids import new_id
from app.models import Order, RefundItem, Transfer, WebhookEvent
from app.payments.models import Deposit
from app.refunds.models import RefundKind
from app.refunds.service import NewItem, add_items
from tests.admin.test_admin_api import ADMIN
from tests.conftest import TEST_WALLET_ETH, TEST_WALLET_TRON, ServerProcess
from tests.refunds.conftest import seed_refund, tron_address

OTHER_WALLET = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
TRON_TX = "ab" * 32


async def order_with_deposit(
    db: Any,
    amount: int,
    *,
    status: str = "pending",
    wallet: str = TEST_WALLET_ETH,
    token: str = "USDT",  # noqa: S107 - a coin, not a secret
    deposit_status: str = "active",
    ref: str | None = None,
) -> uuid.UUID:
    now = utcnow()
    async with unit_of_work(db) as session:
        order = Order(
            id=new_id(),
            merchant_order_id=ref or f"o-{amount}",
            amount_units=amount,
            amount_scale=6,
            status=status,
            webhook_url="https://shop.example.com/h",
            created_at=now,
            updated_at=now,
            expires_at=now + dt.timedelta(minutes=30),
        )
        session.add(order)
        await session.flush()
        session.add(
            Deposit(
                order_id=order.id,
                blockchain="eth",
                token=token,
                wallet_address=wallet,
                amount=amount,
                decimals=6,
                status=deposit_status,
                started_at=now,
                reserved_until=now + dt.timedelta(minutes=30),
            )
        )
        return order.id


async def unmatched_transfer(db: Any, amount: int) -> int:
    now = utcnow()
    async with unit_of_work(db) as session:
        transfer = Transfer(
            blockchain="eth",
            token="USDT",
            contract_address="0xdAC17F958D2ee523a2206206994597C13D831ec7",
            tx_hash="0x" + uuid.uuid4().hex * 2,
            log_index=3,
            from_address="0x28C6c06298d514Db089934071355E5743bf21d60",
            to_address=TEST_WALLET_ETH,
            amount=amount,
            block_number=77,
            block_hash="0x" + "c" * 64,
            block_time=now,
            status="no_matched_deposit",
            confirmed=True,
        )
        session.add(transfer)
        await session.flush()
        return transfer.id


async def test_unmatched_with_nearest_candidates_and_attach(server: ServerProcess, db: Any) -> None:
    tid = await unmatched_transfer(db, 10_001_200)
    async with unit_of_work(db) as session:  # the payment rules list it for refund, unattributed
        await add_items(
            session,
            [
                NewItem(
                    transfer_id=tid,
                    kind=RefundKind.UNATTRIBUTED,
                    blockchain="eth",
                    token="USDT",
                    wallet_address=TEST_WALLET_ETH,
                    sender_address="0x28C6c06298d514Db089934071355E5743bf21d60",
                    amount=10_001_200,
                    decimals=6,
                )
            ],
        )
    far = await order_with_deposit(db, 12_000_000)
    below = await order_with_deposit(db, 10_000_000)
    above = await order_with_deposit(db, 10_001_300, status="paid", deposit_status="matched")
    await order_with_deposit(db, 10_001_200, wallet=OTHER_WALLET)  # another wallet: no candidate
    await order_with_deposit(db, 10_001_250, token="USDC")  # another coin: no candidate
    await order_with_deposit(db, 10_001_201, deposit_status="released")  # not reserved
    async with httpx.AsyncClient(base_url=server.url, headers=ADMIN) as http:
        queue = (await http.get("/api/v1/admin/exceptions/unmatched")).json()
        assert [entry["transfer"]["id"] for entry in queue] == [tid]
        near = queue[0]["candidates"]
        assert [(c["order_id"], c["difference"]) for c in near] == [
            (str(above), "-0.000100"),
            (str(below), "0.001200"),
            (str(far), "-1.998800"),
        ]
        assert near[0]["order_status"] == "paid" and near[0]["value"] == "10.001300"
        one = (await http.get("/api/v1/admin/exceptions/unmatched?candidates=1")).json()
        assert len(one[0]["candidates"]) == 1

        exported = await http.get("/api/v1/admin/exceptions/unmatched?format=csv")
        assert exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert [
            (r["transfer_id"], r["nearest_order_id"], r["nearest_difference"]) for r in rows
        ] == [(str(tid), str(above), "-0.000100")]

        # attach-to-order is the existing action; the transfer leaves the queue
        attached = await http.post(
            f"/api/v1/admin/transfers/{tid}/attach",
            json={"order_id": str(below), "reason": "shopper rounded up"},
        )
        assert attached.status_code == 200 and attached.json()["status"] == "paid"
        assert (await http.get("/api/v1/admin/exceptions/unmatched")).json() == []
        assert (await http.get("/api/v1/admin/refunds")).json() == [], "no longer owed back"
        trail = (await http.get("/api/v1/admin/actions")).json()
        assert trail[0]["action"] == "transfer.attach"
        assert len(trail[0]["details"]["withdrawn_refunds"]) == 1


async def test_flagged_refunds_csv_and_claim_link(server: ServerProcess, db: Any) -> None:
    over = await seed_refund(db, kind=RefundKind.OVERPAID, merchant_order_id="=HYPERLINK(1)")
    dup = await seed_refund(db, kind=RefundKind.DUPLICATE, amount=10_000_000)
    async with httpx.AsyncClient(base_url=server.url, headers=ADMIN) as http:
        flagged = (await http.get("/api/v1/admin/exceptions/flagged")).json()
        assert {(f["exception"], f["transfer"]["id"], tuple(f["refund_ids"])) for f in flagged} == {
            ("overpaid", over.transfer_id, (over.item_id,)),
            ("duplicate", dup.transfer_id, (dup.item_id,)),
        }
        only = (await http.get("/api/v1/admin/exceptions/flagged?exception=duplicate")).json()
        assert [f["transfer"]["id"] for f in only] == [dup.transfer_id]
        bad = await http.get("/api/v1/admin/exceptions/flagged?exception=nonsense")
        assert bad.status_code == 400

        items = (await http.get("/api/v1/admin/refunds?status=open")).json()
        assert {(i["id"], i["kind"], i["amount"]) for i in items} == {
            (over.item_id, "overpaid", "1.500000"),
            (dup.item_id, "duplicate", "10.000000"),
        }
        assert (await http.get("/api/v1/admin/refunds?status=sent")).json() == []
        one = (await http.get(f"/api/v1/admin/refunds/{over.item_id}")).json()
        assert one["merchant_order_id"] == "=HYPERLINK(1)" and one["status"] == "open"
        assert (await http.get("/api/v1/admin/refunds/99999")).status_code == 404

        exported = await http.get("/api/v1/admin/refunds?format=csv")
        rows = {r["id"]: r for r in csv.DictReader(io.StringIO(exported.text))}
        assert rows[str(over.item_id)]["merchant_order_id"] == "'=HYPERLINK(1)", "no formula"
        assert rows[str(dup.item_id)]["amount"] == "10.000000"

        made = await http.post(f"/api/v1/admin/refunds/{over.item_id}/claim-link")
        assert made.status_code == 200, made.text
        link = made.json()
        assert link["url"].startswith(f"{server.url}/refunds/claim/{over.item_id}?exp=")
        assert link["expires_at"] > dt.datetime.now(dt.UTC).timestamp() + 29 * 86400
        page = await http.get(link["url"])
        assert page.status_code == 200 and "1.500000 USDT" in page.text
        actions = (await http.get("/api/v1/admin/actions")).json()
        assert actions[0]["action"] == "refund.claim_link"
        assert actions[0]["target"] == str(over.item_id)


async def test_accept_as_paid_withdraws_the_orders_refunds_and_is_audited(
    server: ServerProcess, db: Any
) -> None:
    partial = await seed_refund(
        db, kind=RefundKind.EXPIRED_PARTIAL, order_status="expired", amount=4_000_000
    )
    other = await seed_refund(db, kind=RefundKind.OVERPAID)
    assert partial.order_id is not None and other.order_id is not None
    async with httpx.AsyncClient(base_url=server.url, headers=ADMIN) as http:
        url = f"/api/v1/admin/orders/{partial.order_id}/accept-as-paid"
        assert (await http.post(url, json={})).status_code == 400
        assert (await http.post(url, json={"reason": "   "})).status_code == 400
        accepted = await http.post(url, json={"reason": "accepted 6 USDT short by phone"})
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["status"] == "paid"
        assert accepted.json()["status_reason"] == "accepted 6 USDT short by phone"
        again = await http.post(url, json={"reason": "twice"})
        assert again.status_code == 409
        paid = await http.post(
            f"/api/v1/admin/orders/{other.order_id}/accept-as-paid", json={"reason": "x"}
        )
        assert paid.status_code == 409, "already paid"
        actions = (await http.get("/api/v1/admin/actions")).json()
    (action,) = [a for a in actions if a["action"] == "order.accept_as_paid"]
    assert action["target"] == str(partial.order_id)
    assert action["details"]["from_status"] == "expired"
    assert action["details"]["withdrawn_refunds"] == [
        {"id": partial.item_id, "kind": "expired_partial", "amount": "4000000"}
    ]
    async with db() as session:
        left = set(await session.scalars(sa.select(RefundItem.id)))
        hooks = list(
            await session.scalars(
                sa.select(WebhookEvent).where(WebhookEvent.order_id == partial.order_id)
            )
        )
    assert left == {other.item_id}, "the accepted order's money is no longer owed back"
    assert [h.payload["status"] for h in hooks] == ["paid"], "the lifecycle reported the move"


async def test_accept_as_paid_refused_once_the_shopper_claimed(
    server: ServerProcess, db: Any
) -> None:
    late = await seed_refund(db, kind=RefundKind.LATE, order_status="expired")
    async with unit_of_work(db) as session:
        item = await session.get(RefundItem, late.item_id)
        assert item is not None
        item.status, item.claim_address = "claimed", "0x" + "12" * 20
    async with httpx.AsyncClient(base_url=server.url, headers=ADMIN) as http:
        refused = await http.post(
            f"/api/v1/admin/orders/{late.order_id}/accept-as-paid", json={"reason": "ok"}
        )
        assert refused.status_code == 409 and "claimed" in refused.text
    async with db() as session:
        order = await session.get(Order, late.order_id)
        assert order is not None and order.status == "expired"


async def test_mark_refunded_where_no_node_is_asked(server: ServerProcess, db: Any) -> None:
    seeded = await seed_refund(
        db,
        kind=RefundKind.DUPLICATE,
        blockchain="tron",
        wallet=TEST_WALLET_TRON,
        sender=tron_address(b"x"),
    )
    async with httpx.AsyncClient(base_url=server.url, headers=ADMIN) as http:
        url = f"/api/v1/admin/refunds/{seeded.item_id}/mark-refunded"
        wrong = await http.post(url, json={"tx_hash": "0x" + "ab" * 32 + "ff"})
        assert wrong.status_code == 400 and "not a tron transaction id" in wrong.text
        done = await http.post(url, json={"tx_hash": TRON_TX.upper(), "reason": "paid from desk"})
        assert done.status_code == 200, done.text
        body = done.json()
        assert (body["status"], body["refund_tx_hash"], body["sent_evidence"]) == (
            "sent",
            TRON_TX,
            "operator",
        )
        assert (await http.post(url, json={"tx_hash": TRON_TX})).status_code == 409
        actions = (await http.get("/api/v1/admin/actions")).json()
    assert actions[0]["action"] == "refund.mark_refunded"
    assert actions[0]["reason"] == "paid from desk"
    assert actions[0]["details"]["evidence"] == "operator"
    async with db() as session:
        (event,) = await session.scalars(
            sa.select(WebhookEvent).where(WebhookEvent.event_type == "refund.sent")
        )
    assert event.order_id == seeded.order_id and event.format == "ocrch"
    assert event.target_url == "https://shop.example.com/hooks/ocrch"
    assert event.payload == {
        "event_type": "refund.sent",
        "refund_id": seeded.item_id,
        "order_id": str(seeded.order_id),
        "merchant_order_id": event.payload["merchant_order_id"],
        "kind": "duplicate",
        "amount": "1.500000",
        "blockchain": "tron",
        "stablecoin": "USDT",
        "address": None,
        "tx_hash": TRON_TX,
        "evidence": "operator",
    }
