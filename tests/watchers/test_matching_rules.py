"""What pays an order and what does not, on a real chain (anvil + TestUSDT), SQLite and PostgreSQL.

Each test drives the real `ChainRunner` (real `EvmSource`, real matcher, real database) one step
at a time, so every assertion is made at an exact chain height.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import pytest
import sqlalchemy as sa
from web3 import AsyncWeb3

from app.db import unit_of_work, utcnow
from app.models import ChainCursor, Deposit, Order, Transfer
from app.orders.service import expire_due_orders
from app.payments.service import release_lapsed_reservations
from devkit.chain.anvil import (
    AnvilProcess,
    batch_transfer_tokens,
    deploy_token,
    mine,
    transfer_tokens,
)
from tests.watchers.chainflow import ORDER_WEBHOOK, UNKNOWN_URL, harness
from tests.watchers.conftest import PAYER, PAYER_FUNDS, WALLET


async def receipt(w3: AsyncWeb3[Any], tx_hash: str) -> Any:
    return await w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]


def progress(pushes: list[dict[str, Any]]) -> list[tuple[str, int | None]]:
    return [(p["order"]["status"], p["order"].get("confirmations")) for p in pushes]


@pytest.mark.parametrize("required", [1, 4])
async def test_paid_exactly_at_the_required_confirmation(
    database_url: str, anvil: AnvilProcess, w3: AsyncWeb3[Any], token: str, required: int
) -> None:
    async with harness(database_url, [anvil.http_url], token, confirmations=required) as h:
        await h.drain()  # seeds the cursor at the current head
        order_id, amount = await h.open_order("7.25")
        tx_hash = await transfer_tokens(w3, token, WALLET, amount, sender=PAYER)
        mined = await receipt(w3, tx_hash)
        await h.drain()
        for k in range(1, required):
            assert await h.status(order_id) == "pending", f"{k} of {required} confirmations"
            await mine(w3)
            await h.drain()
        assert await h.status(order_id) == "paid", f"{required} of {required} confirmations"
        await mine(w3, 2)
        await h.drain()
        pushes = h.recorder.for_order(order_id)
        events = await h.events()

    # Seen in a block: the page is told at once, with the transfer and "k of n".
    first = pushes[0]
    assert first["type"] == "status_update"
    assert first["order"]["order_id"] == str(order_id)
    assert first["order"]["status"] == "pending"
    assert first["order"]["confirmations"] == 1
    assert first["order"]["required_confirmations"] == required
    assert first["order"]["transfer"] == {
        "blockchain": "eth",
        "stablecoin": "USDT",
        "tx_hash": tx_hash,
        "log_index": mined["logs"][0]["logIndex"],
        "from_address": PAYER,
        "amount_base_units": str(amount),
        "block_number": mined["blockNumber"],
    }
    # One push per new confirmation, then `paid`; nothing after the order is settled.
    assert progress(pushes) == [("pending", k) for k in range(1, max(required, 2))] + [
        ("paid", None)
    ]
    assert [(e.event_type, e.payload["status"]) for e in events] == [
        ("order_status_changed", "paid")
    ]


async def test_look_alike_token_pays_nothing_and_is_not_stored(
    database_url: str, anvil: AnvilProcess, w3: AsyncWeb3[Any], token: str
) -> None:
    # A second TestUSDT: same code, same symbol, same decimals, but not the configured contract.
    fake = await deploy_token(w3, mint={PAYER: PAYER_FUNDS})
    async with harness(database_url, [anvil.http_url], token, confirmations=2) as h:
        await h.drain()
        order_id, amount = await h.open_order("5")
        await transfer_tokens(w3, fake, WALLET, amount, sender=PAYER)
        await mine(w3, 3)
        await h.drain()
        assert await h.status(order_id) == "pending"
        assert await h.transfers() == []
        assert await h.events() == []
        assert h.recorder.for_order(order_id) == []

        # The watcher was looking: the real token, same amount, pays.
        await transfer_tokens(w3, token, WALLET, amount, sender=PAYER)
        await mine(w3)
        await h.drain()
        assert await h.status(order_id) == "paid"
        rows = await h.transfers()
        assert [(r.contract_address, r.status) for r in rows] == [(token, "matched")]


@pytest.mark.parametrize(("skew", "pays"), [(0, False), (5, True)])
async def test_transfer_made_before_the_deposit_existed(
    database_url: str,
    anvil: AnvilProcess,
    w3: AsyncWeb3[Any],
    token: str,
    skew: int,
    pays: bool,
) -> None:
    """A transfer older than the deposit pays it only within `match_clock_skew_seconds`."""
    async with harness(
        database_url,
        [anvil.http_url],
        token,
        confirmations=2,
        orders={"match_clock_skew_seconds": skew},
    ) as h:
        await h.drain()
        tx_hash = await transfer_tokens(w3, token, WALLET, 4_000_000, sender=PAYER)
        block = await w3.eth.get_block((await receipt(w3, tx_hash))["blockNumber"])
        # The shopper chooses to pay only after the transfer's block second has passed.
        while time.time() < block["timestamp"] + 1.05:
            await asyncio.sleep(0.05)
        order_id, amount = await h.open_order("4")
        assert amount == 4_000_000
        async with h.db() as session:
            deposit = await session.scalar(sa.select(Deposit).where(Deposit.order_id == order_id))
            assert deposit is not None
            assert deposit.started_at.timestamp() > block["timestamp"] + 1
        await h.drain()  # the runner reads the transfer only now, with the deposit open
        await mine(w3)
        await h.drain()
        rows = await h.transfers()
        events = await h.events()
        if pays:
            assert await h.status(order_id) == "paid"
            assert [r.status for r in rows] == ["matched"]
            return
        assert await h.status(order_id) == "pending"
        assert [(r.status, r.order_id, r.deposit_id) for r in rows] == [
            ("no_matched_deposit", None, None)
        ]
        assert [(e.event_type, e.transfer_id) for e in events] == [
            ("unknown_transfer_received", rows[0].id)
        ]
        assert h.recorder.for_order(order_id) == []

        # A payment made now pays the same deposit.
        await transfer_tokens(w3, token, WALLET, amount, sender=PAYER)
        await mine(w3)
        await h.drain()
        assert await h.status(order_id) == "paid"


async def test_two_transfers_in_one_transaction_pay_two_orders(
    database_url: str, anvil: AnvilProcess, w3: AsyncWeb3[Any], token: str
) -> None:
    async with harness(database_url, [anvil.http_url], token, confirmations=2) as h:
        await h.drain()
        first, first_amount = await h.open_order("11")
        second, second_amount = await h.open_order("12")
        tx_hash = await batch_transfer_tokens(
            w3, token, [(WALLET, first_amount), (WALLET, second_amount)], sender=PAYER
        )
        await h.drain()
        assert [p["order"]["confirmations"] for p in h.recorder.for_order(first)] == [1]
        assert [p["order"]["confirmations"] for p in h.recorder.for_order(second)] == [1]
        await mine(w3)
        await h.drain()
        assert await h.status(first) == "paid"
        assert await h.status(second) == "paid"
        rows = await h.transfers()
        events = await h.events()
    assert {r.tx_hash for r in rows} == {tx_hash}
    assert len(rows) == 2 and rows[0].log_index != rows[1].log_index
    assert [(r.order_id, r.amount, r.status) for r in rows] == [
        (first, first_amount, "matched"),
        (second, second_amount, "matched"),
    ]
    assert rows[0].deposit_id != rows[1].deposit_id
    paid = sorted(str(e.order_id) for e in events if e.payload.get("status") == "paid")
    assert paid == sorted([str(first), str(second)]) and len(events) == 2


async def test_underpayment_and_overpayment_are_recorded_not_credited(
    database_url: str, anvil: AnvilProcess, w3: AsyncWeb3[Any], token: str
) -> None:
    """With `match_band = "0"` only exact amounts are attributed (issue 16's rules for amounts
    near a deposit are in tests/watchers/test_payment_exceptions.py)."""
    exact_only = {"match_band": "0"}
    async with harness(
        database_url, [anvil.http_url], token, confirmations=2, payments=exact_only
    ) as h:
        await h.drain()
        order_id, amount = await h.open_order("20")
        under = await transfer_tokens(w3, token, WALLET, amount - 10_000, sender=PAYER)
        over = await transfer_tokens(w3, token, WALLET, amount + 1, sender=PAYER)
        await mine(w3, 2)
        await h.drain()
        assert await h.status(order_id) == "pending"
        assert h.recorder.for_order(order_id) == [], "the page is not told about wrong amounts"
        rows = await h.transfers()
        assert [(r.tx_hash, r.amount, r.status, r.confirmed, r.order_id) for r in rows] == [
            (under, amount - 10_000, "no_matched_deposit", True, None),
            (over, amount + 1, "no_matched_deposit", True, None),
        ]
        events = await h.events()
        assert [(e.event_type, e.transfer_id, e.target_url) for e in events] == [
            ("unknown_transfer_received", rows[0].id, UNKNOWN_URL),
            ("unknown_transfer_received", rows[1].id, UNKNOWN_URL),
        ]
        async with h.db() as session:
            deposit = await session.scalar(sa.select(Deposit).where(Deposit.order_id == order_id))
            assert deposit is not None and deposit.status == "active"

        # The exact amount still pays; the wrong ones stay unmatched.
        await transfer_tokens(w3, token, WALLET, amount, sender=PAYER)
        await mine(w3)
        await h.drain()
        assert await h.status(order_id) == "paid"
        statuses = [r.status for r in await h.transfers()]
        assert statuses == ["no_matched_deposit", "no_matched_deposit", "matched"]
        assert len(await h.events()) == 3


async def _expire_now(h: Any, order_id: Any, *, ago: float) -> None:
    """What the expiry sweeper does once `expires_at` has passed (set `ago` seconds back)."""
    async with unit_of_work(h.db, h.recorder) as session:
        await session.execute(
            sa.update(Order)
            .where(Order.id == order_id)
            .values(expires_at=utcnow() - dt.timedelta(seconds=ago))
        )
        expired = await expire_due_orders(session)
    assert [o.id for o in expired] == [order_id]


async def test_late_payment_is_linked_and_reported_never_credited(
    database_url: str, anvil: AnvilProcess, w3: AsyncWeb3[Any], token: str
) -> None:
    async with harness(database_url, [anvil.http_url], token, confirmations=2) as h:
        await h.drain()
        order_id, amount = await h.open_order("9")
        await _expire_now(h, order_id, ago=30)
        # A new order for the same price cannot get the ended order's amount: it stays reserved.
        other_id, other_amount = await h.open_order("9")
        assert other_amount != amount

        tx_hash = await transfer_tokens(w3, token, WALLET, amount, sender=PAYER)
        await mine(w3)
        await h.drain()
        assert await h.status(order_id) == "expired"
        assert await h.status(other_id) == "pending"
        [row] = await h.transfers()
        assert (row.tx_hash, row.order_id, row.deposit_id, row.late, row.status) == (
            tx_hash,
            order_id,
            None,
            True,
            "no_matched_deposit",
        )
        events = await h.events()
        assert [(e.event_type, e.order_id, e.payload.get("status")) for e in events] == [
            ("order_status_changed", order_id, "expired"),
            ("unknown_transfer_received", order_id, None),
            ("payment_exception", order_id, None),  # issue 16: to the order's own webhook
        ]
        assert (events[2].payload["kind"], events[2].target_url) == ("late", ORDER_WEBHOOK)
        assert events[1].transfer_id == row.id and events[1].target_url == UNKNOWN_URL
        assert events[1].payload == {
            "event_type": "unknown_transfer_received",
            "transfer_id": row.id,
            "blockchain": "erc20:Ethereum",
        }
        assert not [p for p in h.recorder.for_order(order_id) if p["order"].get("transfer")]

        # Once the late window is over the amount is free again, and a third order gets it.
        # Re-reading the late transfer's block (a restart from an older cursor) credits nobody.
        async with unit_of_work(h.db) as session:
            await session.execute(
                sa.update(Deposit)
                .where(Deposit.order_id == order_id)
                .values(reserved_until=utcnow() - dt.timedelta(seconds=1))
            )
            assert await release_lapsed_reservations(session) == 1
        third_id, third_amount = await h.open_order("9")
        assert third_amount == amount
        async with unit_of_work(h.db) as session:
            cursor = await session.get(ChainCursor, "eth")
            assert cursor is not None
            block = await w3.eth.get_block(row.block_number - 1)
            cursor.block_number, cursor.block_hash = row.block_number - 1, block["hash"].to_0x_hex()
        await mine(w3, 2)
        await h.drain()
        assert await h.status(third_id) == "pending"
        assert await h.status(other_id) == "pending"
        assert await h.status(order_id) == "expired"
        assert len(await h.transfers()) == 1
        assert len(await h.events()) == 3


async def test_payment_made_before_expiry_but_seen_after_pays(
    database_url: str, anvil: AnvilProcess, w3: AsyncWeb3[Any], token: str
) -> None:
    async with harness(database_url, [anvil.http_url], token, confirmations=2) as h:
        await h.drain()
        order_id, amount = await h.open_order("8")
        await transfer_tokens(w3, token, WALLET, amount, sender=PAYER)
        # The sweeper expires the order before the watcher has read the block (a slow node).
        await _expire_now(h, order_id, ago=0)
        await h.drain()
        await mine(w3)
        await h.drain()
        assert await h.status(order_id) == "paid"
        events = await h.events()
        [row] = await h.transfers()
    assert (row.status, row.late, row.order_id) == ("matched", False, order_id)
    assert [(e.event_type, e.payload.get("status")) for e in events] == [
        ("order_status_changed", "expired"),
        ("order_status_changed", "paid"),
    ]
    assert all(e.target_url == ORDER_WEBHOOK for e in events)


async def test_stored_transfers_table_keeps_every_row(
    database_url: str, anvil: AnvilProcess, w3: AsyncWeb3[Any], token: str
) -> None:
    """Re-reading the same blocks (a restart from an old cursor) stores nothing twice."""
    async with harness(database_url, [anvil.http_url], token, confirmations=1) as h:
        await h.drain()
        start = await w3.eth.block_number
        order_id, amount = await h.open_order("3")
        await batch_transfer_tokens(w3, token, [(WALLET, amount), (WALLET, 1)], sender=PAYER)
        await h.drain()
        assert await h.status(order_id) == "paid"
        async with unit_of_work(h.db) as session:
            cursor = await session.get(ChainCursor, "eth")
            assert cursor is not None
            block = await w3.eth.get_block(start)
            cursor.block_number, cursor.block_hash = start, block["hash"].to_0x_hex()
        await h.drain()
        async with h.db() as session:
            count = await session.scalar(sa.select(sa.func.count()).select_from(Transfer))
        assert count == 2
        assert len(await h.events()) == 2  # paid + one unknown transfer, once each


async def test_an_order_paid_twice_is_paid_once_and_the_extra_payments_reported(
    database_url: str, anvil: AnvilProcess, w3: AsyncWeb3[Any], token: str
) -> None:
    async with harness(database_url, [anvil.http_url], token, confirmations=2) as h:
        await h.drain()
        order_id, amount = await h.open_order("6")
        # Two exact payments in one transaction (settled in one batch), then a third one later.
        await batch_transfer_tokens(w3, token, [(WALLET, amount), (WALLET, amount)], sender=PAYER)
        await mine(w3)
        await h.drain()
        assert await h.status(order_id) == "paid"
        await transfer_tokens(w3, token, WALLET, amount, sender=PAYER)
        await mine(w3)
        await h.drain()
        rows = await h.transfers()
        events = await h.events()
    assert [(r.status, r.order_id, r.duplicate) for r in rows] == [
        ("matched", order_id, False),
        ("no_matched_deposit", order_id, True),  # seen while the order was open: not credited
        ("no_matched_deposit", order_id, True),  # seen after it was paid: the amount is reserved
    ]
    assert [(e.event_type, e.transfer_id, e.payload.get("kind")) for e in events] == [
        ("order_status_changed", None, None),
        ("unknown_transfer_received", rows[1].id, None),
        ("payment_exception", rows[1].id, "duplicate"),
        ("unknown_transfer_received", rows[2].id, None),
        ("payment_exception", rows[2].id, "duplicate"),
    ]
    async with h.db() as session:
        deposit = await session.scalar(sa.select(Deposit).where(Deposit.order_id == order_id))
    assert deposit is not None and (deposit.status, deposit.transfer_id) == ("matched", rows[0].id)


async def test_a_repeat_payment_never_pays_the_next_order_for_the_same_price(
    database_url: str, anvil: AnvilProcess, w3: AsyncWeb3[Any], token: str
) -> None:
    """Alice pays, then her wallet sends the same amount again; Bob opened an order for the same
    price in between. Alice's amount stays reserved by her paid order, so Bob gets another one and
    her second transfer is linked to her order as a duplicate and reported, never Bob's payment."""
    async with harness(database_url, [anvil.http_url], token, confirmations=2) as h:
        await h.drain()
        alice, amount = await h.open_order("15")
        first = await transfer_tokens(w3, token, WALLET, amount, sender=PAYER)
        await mine(w3)
        await h.drain()
        assert await h.status(alice) == "paid"

        bob, bob_amount = await h.open_order("15")
        assert bob_amount != amount, "a paid order's amount stays reserved"
        repeat = await transfer_tokens(w3, token, WALLET, amount, sender=PAYER)
        await mine(w3)
        await h.drain()
        assert await h.status(bob) == "pending"
        assert await h.status(alice) == "paid"
        rows = await h.transfers()
        assert [(r.tx_hash, r.status, r.order_id, r.duplicate, r.late) for r in rows] == [
            (first, "matched", alice, False, False),
            (repeat, "no_matched_deposit", alice, True, False),
        ]
        events = await h.events()
        assert [(e.event_type, e.order_id, e.transfer_id) for e in events] == [
            ("order_status_changed", alice, None),
            ("unknown_transfer_received", alice, rows[1].id),
            ("payment_exception", alice, rows[1].id),
        ]
        assert h.recorder.for_order(bob) == []
        async with h.db() as session:
            deposits = dict(
                (await session.execute(sa.select(Deposit.order_id, Deposit.status))).all()
            )
        assert deposits == {alice: "matched", bob: "active"}

        # Bob's own amount still pays Bob.
        await transfer_tokens(w3, token, WALLET, bob_amount, sender=PAYER)
        await mine(w3)
        await h.drain()
        assert await h.status(bob) == "paid"

        # After the late-payment window the paid order's amount is free again.
        async with unit_of_work(h.db) as session:
            await session.execute(
                sa.update(Deposit)
                .where(Deposit.order_id == alice)
                .values(reserved_until=utcnow() - dt.timedelta(seconds=1))
            )
            assert await release_lapsed_reservations(session) == 1
        _, again = await h.open_order("15")
        assert again == amount
