"""Issue 16 on a real chain (anvil + TestUSDT, the real `ChainRunner`), SQLite and PostgreSQL:
short, long, twice, in pieces and late payments, what the order records, what is listed for
refund, and what the merchant and the page are told.

Amounts are TestUSDT base units (6 decimals): 1 USDT = 1_000_000.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa
from web3 import AsyncWeb3

from app.db import unit_of_work, utcnow
from app.models import Deposit, Order, RefundItem, Transfer, WebhookEvent
from app.orders.service import expire_due_orders, order_response, order_view
from devkit.chain.anvil import AnvilProcess, mine, transfer_tokens
from tests.watchers.chainflow import ORDER_WEBHOOK, Harness, harness
from tests.watchers.conftest import PAYER, WALLET

USDT = 1_000_000


async def _settle(h: Harness, w3: AsyncWeb3[Any], token: str, amount: int) -> str:
    """Send `amount` to our wallet and let the runner take it to depth (2 confirmations)."""
    tx_hash = await transfer_tokens(w3, token, WALLET, amount, sender=PAYER)
    await mine(w3)
    await h.drain()
    return tx_hash


@contextlib.asynccontextmanager
async def _watching(
    database_url: str, anvil: AnvilProcess, token: str, **sections: Any
) -> AsyncIterator[Harness]:
    """The runner watching anvil (2 confirmations, `sections` on top of the test config), past
    the blocks mined before the test."""
    async with harness(database_url, [anvil.http_url], token, **sections) as h:
        await h.drain()
        yield h


async def _receipt(h: Harness, order_id: Any) -> tuple[str, str, list[str]]:
    """What the order's status APIs and `order_status_changed` say it received, still owes, and
    which exceptions it has."""
    wire = order_response(await _order(h, order_id)).model_dump(mode="json")
    return wire["amount_received"], wire["amount_due"], wire["payment_exceptions"]


async def _order(h: Harness, order_id: Any) -> Order:
    async with h.db() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        return order


async def _view(h: Harness, order_id: Any) -> dict[str, Any]:
    """What the User API status (and a WebSocket snapshot) answers."""
    async with h.db() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        return await order_view(session, h.settings, order)


async def _refunds(h: Harness) -> list[tuple[str, Any, int, str, str]]:
    async with h.db() as session:
        rows = await session.scalars(sa.select(RefundItem).order_by(RefundItem.id))
        return [(r.kind, r.order_id, r.amount, r.wallet_address, r.status) for r in rows]


async def _deposits(h: Harness, order_id: Any) -> list[tuple[int, str]]:
    async with h.db() as session:
        rows = await session.execute(
            sa.select(Deposit.amount, Deposit.status)
            .where(Deposit.order_id == order_id)
            .order_by(Deposit.id)
        )
        return [(a, s) for a, s in rows.all()]


async def _sent(h: Harness, kind: str) -> list[WebhookEvent]:
    return [e for e in await h.events() if e.event_type == kind]


async def _expire(h: Harness, order_id: Any, *, ago: float) -> None:
    async with unit_of_work(h.db, h.recorder) as session:
        await session.execute(
            sa.update(Order)
            .where(Order.id == order_id)
            .values(expires_at=utcnow() - dt.timedelta(seconds=ago))
        )
        assert [o.id for o in await expire_due_orders(session)] == [order_id]


async def _money_is_accounted(h: Harness) -> None:
    """Every base unit that arrived is credited to exactly one order or listed for refund: a
    transfer credited to a live (pending or paid) order has at most its surplus listed; any
    other is listed whole."""
    async with h.db() as session:
        transfers = list(await session.scalars(sa.select(Transfer)))
        items = list(await session.scalars(sa.select(RefundItem)))
        live = {
            o.id
            for o in await session.scalars(
                sa.select(Order).where(Order.status.in_(("pending", "paid")))
            )
        }
    listed: dict[int, int] = {}
    for item in items:
        listed[item.transfer_id] = listed.get(item.transfer_id, 0) + item.amount
    for transfer in transfers:
        refunded = listed.get(transfer.id, 0)
        if transfer.status == "matched" and transfer.order_id in live:
            assert 0 <= refunded < transfer.amount, (transfer.id, refunded)
        else:
            assert refunded == transfer.amount, (transfer.id, transfer.status, refunded)


async def test_exchange_fee_within_tolerance_pays_flagged_underpaid(
    database_url: str, anvil: AnvilProcess, w3: AsyncWeb3[Any], token: str
) -> None:
    """A withdrawal whose exchange kept a 1 USDT fee: inside the 2% band and the 1 USDT
    tolerance, so the order is paid, flagged `underpaid`, and nothing is owed back."""
    async with _watching(database_url, anvil, token, payments={"underpayment_tolerance": "1"}) as h:
        order_id, amount = await h.open_order("100")
        tx_hash = await _settle(h, w3, token, amount - USDT)
        assert await h.status(order_id) == "paid"
        assert await _receipt(h, order_id) == ("99", "0", ["underpaid"])
        order = await _order(h, order_id)
        [row] = await h.transfers()
        assert (row.status, row.order_id, row.exception) == ("matched", order_id, "underpaid")
        assert await _refunds(h) == []
        [changed] = await _sent(h, "order_status_changed")
        assert changed.payload["status"] == "paid"
        assert changed.payload["payment_exceptions"] == ["underpaid"]
        assert changed.payload["amount_received"] == "99"
        [flagged] = await _sent(h, "payment_exception")
        assert flagged.target_url == ORDER_WEBHOOK
        assert flagged.payload == {
            "event_type": "payment_exception",
            "order_id": str(order_id),
            "merchant_order_id": order.merchant_order_id,
            "kind": "underpaid",
            "amount": "99.000000",
            "blockchain": "eth",
            "stablecoin": "USDT",
            "tx_hash": tx_hash,
        }
        await _money_is_accounted(h)


async def test_a_shortfall_beyond_tolerance_asks_for_the_rest(
    database_url: str, anvil: AnvilProcess, w3: AsyncWeb3[Any], token: str
) -> None:
    """The same fee with no tolerance: the order stays pending with what arrived on record, its
    deposit is replaced by one for the remainder, and paying that pays the order (`partial`)."""
    async with _watching(database_url, anvil, token) as h:
        order_id, amount = await h.open_order("100")
        assert amount == 100 * USDT
        first = await _settle(h, w3, token, amount - USDT)
        assert await h.status(order_id) == "pending"
        view = await _view(h, order_id)
        assert (view["amount_received"], view["amount_due"], view["payment_exceptions"]) == (
            "99",
            "1",
            ["partial"],
        )
        # The page is told what to send now: the remainder deposit, same chain, coin, wallet.
        assert view["payment"]["blockchain"] == "eth"
        assert view["payment"]["stablecoin"] == "USDT"
        assert view["payment"]["wallet_address"] == WALLET
        assert view["payment"]["amount"] == "1.000000"
        assert await _deposits(h, order_id) == [(amount, "matched"), (USDT, "active")]
        pushed = h.recorder.for_order(order_id)[-1]["order"]
        assert pushed["status"] == "pending" and pushed["amount_due"] == "1"
        assert pushed["payment"]["amount"] == "1.000000"
        [flagged] = await _sent(h, "payment_exception")
        assert (flagged.payload["kind"], flagged.payload["tx_hash"]) == ("partial", first)
        assert await _sent(h, "order_status_changed") == []

        second = await _settle(h, w3, token, USDT)
        assert await h.status(order_id) == "paid"
        assert await _receipt(h, order_id) == ("100", "0", ["partial"])
        rows = await h.transfers()
        assert [(r.tx_hash, r.status, r.exception) for r in rows] == [
            (first, "matched", "partial"),
            (second, "matched", "partial"),
        ]
        assert await _refunds(h) == []
        [changed] = await _sent(h, "order_status_changed")
        assert changed.payload["payment_exceptions"] == ["partial"]
        await _money_is_accounted(h)


async def test_rounding_up_pays_flagged_overpaid_and_lists_the_surplus(
    database_url: str, anvil: AnvilProcess, w3: AsyncWeb3[Any], token: str
) -> None:
    async with _watching(database_url, anvil, token) as h:
        order_id, amount = await h.open_order("12.3401")
        assert amount == 12_340_100
        await _settle(h, w3, token, 12_350_000)  # the shopper typed 12.35
        assert await h.status(order_id) == "paid"
        # At least as many digits as the order's own amount.
        assert await _receipt(h, order_id) == ("12.3500", "0", ["overpaid"])
        assert await _refunds(h) == [("overpaid", order_id, 9_900, WALLET, "open")]
        [flagged] = await _sent(h, "payment_exception")
        assert (flagged.payload["kind"], flagged.payload["amount"]) == ("overpaid", "12.350000")
        await _money_is_accounted(h)


async def test_two_orders_in_the_band_get_nothing(
    database_url: str, anvil: AnvilProcess, w3: AsyncWeb3[Any], token: str
) -> None:
    """50.25 is within 2% of both 50 and 50.50: never guess between two orders."""
    async with _watching(database_url, anvil, token) as h:
        first, _ = await h.open_order("50")
        second, _ = await h.open_order("50.50")
        await _settle(h, w3, token, 50_250_000)
        assert (await h.status(first), await h.status(second)) == ("pending", "pending")
        [row] = await h.transfers()
        assert (row.status, row.order_id, row.deposit_id) == ("no_matched_deposit", None, None)
        assert await _refunds(h) == [("unattributed", None, 50_250_000, WALLET, "open")]
        for order_id, nothing, due in ((first, "0", "50"), (second, "0.00", "50.50")):
            view = await _view(h, order_id)
            assert (view["amount_received"], view["amount_due"]) == (nothing, due)
            assert view["payment_exceptions"] == [] and view["payment"] is None
        assert [e.event_type for e in await h.events()] == ["unknown_transfer_received"]
        await _money_is_accounted(h)


async def test_paying_twice_is_a_duplicate_and_never_pays_the_next_order(
    database_url: str, anvil: AnvilProcess, w3: AsyncWeb3[Any], token: str
) -> None:
    async with _watching(database_url, anvil, token) as h:
        order_id, amount = await h.open_order("30")
        await _settle(h, w3, token, amount)
        assert await h.status(order_id) == "paid"
        later, later_amount = await h.open_order("30")
        assert later_amount != amount
        repeat = await _settle(h, w3, token, amount)
        assert await h.status(later) == "pending"
        assert await _receipt(h, order_id) == ("60", "0", ["duplicate"])
        rows = await h.transfers()
        assert [(r.status, r.order_id, r.duplicate, r.exception) for r in rows] == [
            ("matched", order_id, False, None),
            ("no_matched_deposit", order_id, True, "duplicate"),
        ]
        assert await _refunds(h) == [("duplicate", order_id, amount, WALLET, "open")]
        [flagged] = await _sent(h, "payment_exception")
        assert (flagged.payload["kind"], flagged.payload["tx_hash"]) == ("duplicate", repeat)
        later_view = await _view(h, later)
        assert (later_view["amount_received"], later_view["payment_exceptions"]) == ("0", [])
        await _money_is_accounted(h)


async def test_a_late_payment_is_listed_for_refund_when_late_is_not_accepted(
    database_url: str, anvil: AnvilProcess, w3: AsyncWeb3[Any], token: str
) -> None:
    async with _watching(database_url, anvil, token) as h:
        order_id, amount = await h.open_order("9")
        await _expire(h, order_id, ago=30)
        await _settle(h, w3, token, amount)
        assert await h.status(order_id) == "expired"
        assert await _receipt(h, order_id) == ("9", "0", ["late"])
        [row] = await h.transfers()
        assert (row.status, row.late, row.exception) == ("no_matched_deposit", True, "late")
        assert await _refunds(h) == [("late", order_id, amount, WALLET, "open")]
        [flagged] = await _sent(h, "payment_exception")
        assert flagged.payload["kind"] == "late" and flagged.target_url == ORDER_WEBHOOK
        await _money_is_accounted(h)


async def test_a_late_payment_pays_when_late_is_accepted(
    database_url: str, anvil: AnvilProcess, w3: AsyncWeb3[Any], token: str
) -> None:
    async with _watching(database_url, anvil, token, payments={"accept_late": True}) as h:
        order_id, amount = await h.open_order("9")
        await _expire(h, order_id, ago=30)
        await _settle(h, w3, token, amount)
        assert await h.status(order_id) == "paid"
        assert await _receipt(h, order_id) == ("9", "0", ["late"])
        [row] = await h.transfers()
        assert (row.status, row.late, row.exception) == ("matched", True, "late")
        assert await _refunds(h) == []
        changes = [e.payload["status"] for e in await _sent(h, "order_status_changed")]
        assert changes == ["expired", "paid"]
        await _money_is_accounted(h)


async def test_an_order_that_expires_partly_paid_lists_what_it_received(
    database_url: str, anvil: AnvilProcess, w3: AsyncWeb3[Any], token: str
) -> None:
    async with _watching(database_url, anvil, token) as h:
        order_id, amount = await h.open_order("40")
        await _settle(h, w3, token, amount - USDT // 2)
        assert await h.status(order_id) == "pending"
        await _expire(h, order_id, ago=1)
        order = await _order(h, order_id)
        wire = order_response(order).model_dump(mode="json")
        assert (wire["status"], wire["amount_received"], wire["amount_due"]) == (
            "expired",
            "39.5",
            "0.5",
        )
        assert wire["payment_exceptions"] == ["partial"]
        part = amount - USDT // 2
        assert await _refunds(h) == [("expired_partial", order_id, part, WALLET, "open")]
        assert all(status != "active" for _, status in await _deposits(h, order_id))
        [changed] = await _sent(h, "order_status_changed")
        assert (changed.payload["status"], changed.payload["amount_received"]) == (
            "expired",
            "39.5",
        )
        await _money_is_accounted(h)


async def test_the_rest_sent_in_time_pays_an_order_expired_meanwhile(
    database_url: str, anvil: AnvilProcess, w3: AsyncWeb3[Any], token: str
) -> None:
    """The order expired (and listed its part for refund) while the rest, sent before expiry,
    was confirming: the rest pays it, and the part comes back off the refund list."""
    async with _watching(database_url, anvil, token) as h:
        order_id, amount = await h.open_order("20")
        await _settle(h, w3, token, amount - USDT // 4)
        [(_, _), (rest, _)] = await _deposits(h, order_id)
        await transfer_tokens(w3, token, WALLET, rest, sender=PAYER)
        await _expire(h, order_id, ago=0)  # the sweeper runs before the watcher reads the block
        assert [kind for kind, *_ in await _refunds(h)] == ["expired_partial"]
        await h.drain()
        await mine(w3)
        await h.drain()
        assert await h.status(order_id) == "paid"
        assert await _receipt(h, order_id) == ("20", "0", ["partial"])
        assert await _refunds(h) == []
        changes = [e.payload["status"] for e in await _sent(h, "order_status_changed")]
        assert changes == ["expired", "paid"]
        await _money_is_accounted(h)
