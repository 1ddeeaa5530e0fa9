"""Refunds recognised on a real chain (anvil + TestUSDT): our wallet is an anvil account, the
operator pays a claimed refund from it with a real ERC-20 transfer, and the real watcher (EVM
source + runner) marks the item `sent` from that outgoing Transfer log; the `refund.sent` webhook
is delivered to a real receiver and its `Ocrch-Signature` verifies. A transfer for another
amount, to another address or from elsewhere pays nothing; one transfer pays one item. An
operator's own transaction is checked against the node's receipt before it marks an item."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import sqlalchemy as sa
from web3 import AsyncWeb3

from app.admin import queue
from app.chains import Blockchain, Coin
from app.db import unit_of_work
from app.errors import (
    RefundNotInTransaction,
    RefundTransfersTaken,
    TransactionUnknown,
)
from app.models import RefundItem, WebhookEvent
from app.refunds import service as refunds
from app.refunds.addresses import claim_address
from devkit.chain.anvil import ANVIL_ACCOUNTS, AnvilProcess, mine, transfer_tokens
from tests.conftest import K1
from tests.refunds.conftest import seed_refund
from tests.watchers.chainflow import Harness, harness
from tests.watchers.conftest import PAYER, STRANGER, WALLET
from tests.webhooks.test_sender import Receiver, independent_verify, run_until

SHOPPER = ANVIL_ACCOUNTS[8]
CONFIRMATIONS = 2


@pytest.fixture
async def receiver() -> Any:
    server = Receiver()
    await server.start()
    yield server
    await server.stop()


async def claimed_item(h: Harness, webhook_url: str, amount: int) -> int:
    seeded = await seed_refund(
        h.db, wallet=WALLET, sender=PAYER, amount=amount, webhook_url=webhook_url
    )
    async with unit_of_work(h.db) as session:
        item = await refunds.get_item(session, seeded.item_id)
        address = claim_address(h.settings, Blockchain.ETH, Coin.USDT, SHOPPER)
        await refunds.claim(session, item, address)
    return seeded.item_id


async def item(h: Harness, item_id: int) -> RefundItem:
    async with h.db() as session:
        row = await session.get(RefundItem, item_id)
        assert row is not None
        session.expunge(row)
        return row


async def settle(h: Harness, w3: AsyncWeb3[Any]) -> None:
    """Bury the latest transfer at the watcher's depth and let the runner read it."""
    await mine(w3, CONFIRMATIONS)
    await h.drain()


async def test_claimed_refund_is_sent_by_the_real_outgoing_transfer(
    database_url: str, anvil: AnvilProcess, token: str, w3: AsyncWeb3[Any], receiver: Receiver
) -> None:
    async with harness(
        database_url,
        [anvil.http_url],
        token,
        confirmations=CONFIRMATIONS,
        webhooks={"allow_private_targets": True, "first_retry_seconds": 0.2},
    ) as h:
        await transfer_tokens(w3, token, WALLET, 20_000_000, sender=PAYER)  # our takings
        await h.drain()
        first = await claimed_item(h, receiver.url, 1_500_000)
        second = await claimed_item(h, receiver.url, 1_500_000)  # same address and amount

        # Not a refund of these items: another amount, another recipient, another payer.
        await transfer_tokens(w3, token, SHOPPER, 1_400_000, sender=WALLET)
        await transfer_tokens(w3, token, STRANGER, 1_500_000, sender=WALLET)
        await transfer_tokens(w3, token, SHOPPER, 1_500_000, sender=PAYER)
        await settle(h, w3)
        assert [(await item(h, i)).status for i in (first, second)] == ["claimed", "claimed"]

        tx = await transfer_tokens(w3, token, SHOPPER, 1_500_000, sender=WALLET)
        await h.drain()
        assert (await item(h, first)).status == "claimed", "not before its depth"
        await settle(h, w3)
        sent = await item(h, first)
        assert (sent.status, sent.refund_tx_hash, sent.sent_evidence) == ("sent", tx, "watcher")
        assert sent.refund_log_index == 0 and sent.sent_at is not None
        assert (await item(h, second)).status == "claimed", "one transfer pays one item"

        # Reading the same blocks again (a restart that lost its cursor) pays nothing more.
        await refunds_again(h)
        assert (await item(h, second)).status == "claimed"

        tx2 = await transfer_tokens(w3, token, SHOPPER, 1_500_000, sender=WALLET)
        await settle(h, w3)
        assert (await item(h, second)).refund_tx_hash == tx2

        async with h.db() as session:
            rows = list(
                await session.scalars(
                    sa.select(WebhookEvent)
                    .where(WebhookEvent.event_type == "refund.sent")
                    .order_by(WebhookEvent.created_at)
                )
            )
        assert [r.payload["refund_id"] for r in rows] == [first, second]
        await run_until(h.services, lambda: len(receiver.requests) >= 2)
    assert len(receiver.requests) == 2
    now = int(time.time())
    bodies = []
    for request in receiver.requests:
        assert independent_verify(K1, request["headers"]["Ocrch-Signature"], request["body"], now)
        assert not independent_verify(
            K1 + "x", request["headers"]["Ocrch-Signature"], request["body"], now
        )
        bodies.append(json.loads(request["body"]))
    by_id = {b["refund_id"]: b for b in bodies}
    assert by_id[first] == {
        "event_type": "refund.sent",
        "refund_id": first,
        "order_id": by_id[first]["order_id"],
        "merchant_order_id": by_id[first]["merchant_order_id"],
        "kind": "overpaid",
        "amount": "1.500000",
        "blockchain": "eth",
        "stablecoin": "USDT",
        "address": SHOPPER,
        "tx_hash": tx,
        "evidence": "watcher",
        "timestamp": by_id[first]["timestamp"],
    }


async def refunds_again(h: Harness) -> None:
    """Move the cursor back to before the refund and scan again, as after a lost cursor."""
    from app.transfers.models import ChainCursor

    async with unit_of_work(h.db) as session:
        cursor = await session.get(ChainCursor, "eth")
        assert cursor is not None
        back = cursor.block_number - 2 * CONFIRMATIONS - 2
        cursor.block_number = back
        cursor.block_hash = await h.source.block_hash(back) or ""
    await h.drain()


async def test_operator_refund_is_checked_against_the_receipt(
    database_url: str, anvil: AnvilProcess, token: str, w3: AsyncWeb3[Any]
) -> None:
    async with harness(database_url, [anvil.http_url], token, confirmations=CONFIRMATIONS) as h:
        await transfer_tokens(w3, token, WALLET, 20_000_000, sender=PAYER)
        unclaimed = await seed_refund(h.db, wallet=WALLET, sender=PAYER, amount=700_000)
        claimed = await claimed_item(h, "https://shop.example.com/h", 900_000)

        wrong_amount = await transfer_tokens(w3, token, SHOPPER, 700_001, sender=WALLET)
        not_ours = await transfer_tokens(w3, token, SHOPPER, 700_000, sender=PAYER)
        for tx in (wrong_amount, not_ours):
            with pytest.raises(RefundNotInTransaction, match=r"moves no 0\.700000 USDT"):
                await queue.mark_refunded(
                    h.services, unclaimed.item_id, tx, actor="test", reason=None
                )
        with pytest.raises(TransactionUnknown, match="knows no mined transaction"):
            await queue.mark_refunded(
                h.services, unclaimed.item_id, "0x" + "77" * 32, actor="test", reason=None
            )
        # The claimed item must be paid to its claimed address, not anywhere.
        elsewhere = await transfer_tokens(w3, token, STRANGER, 900_000, sender=WALLET)
        with pytest.raises(RefundNotInTransaction, match="to " + SHOPPER):
            await queue.mark_refunded(h.services, claimed, elsewhere, actor="test", reason=None)

        paid = await transfer_tokens(w3, token, STRANGER, 700_000, sender=WALLET)
        done = await queue.mark_refunded(
            h.services, unclaimed.item_id, paid.upper().replace("0X", "0x"), actor="t", reason="r"
        )
        assert (done.status, done.sent_evidence, done.refund_tx_hash) == ("sent", "receipt", paid)
        assert done.claim_address == STRANGER, "where it went is kept"
        other = await seed_refund(h.db, wallet=WALLET, sender=PAYER, amount=700_000)
        with pytest.raises(RefundTransfersTaken, match="already paid other refund items"):
            await queue.mark_refunded(h.services, other.item_id, paid, actor="t", reason=None)
        assert (await item(h, claimed)).status == "claimed"
        assert (await item(h, other.item_id)).status == "open"
