"""The money rules at confirmation depth: what each confirmed transfer does to its order.

Taken in chain order, against the order as the earlier transfers of the batch left it:

    no order          unattributed: listed for refund, reported as unknown
    order paid        duplicate: linked, counted in `amount_received`, listed for refund
    order ended       late (cancelled, or expired and `accept_late` off, or paid after expiry):
                      linked, counted, listed for refund
    otherwise         credited toward the order's amount (in the order's units,
                      `app.payments.accounting`), then
                      - covers it (less `underpayment_tolerance`): the lifecycle pays the order,
                        flagged `underpaid` if short, `overpaid` (surplus listed) if the transfer
                        exceeded its deposit, `partial` if earlier parts were credited, `late` if
                        `accept_late` took it
                      - falls short: with `accept_partial` the order stays pending and gets a
                        remainder deposit; without it the transfer is unattributed

A shortfall smaller than one base unit of the coin is none. Every base unit that arrives is
either credited to exactly one order or listed in `refund_items` (an order that ends partly paid
lists its parts: `app.refunds.order_endings`). The rules only ask; `app.orders.lifecycle` moves
orders.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.arrays import among
from app.db import core, utcnow
from app.errors import NoFreeAmount
from app.orders import lifecycle, receipts
from app.orders.events import Actor
from app.orders.models import Order, OrderStatus, PaymentException, join_exceptions
from app.orders.rows import ORDER_COLUMNS, OrderRow, order_rows
from app.payments import accounting
from app.payments.models import Deposit
from app.payments.rows import DEPOSIT_COLUMNS, DepositRow, deposit_rows
from app.payments.service import reserve_remainder
from app.refunds.models import RefundKind
from app.refunds.service import NewItem, add_items, open_items
from app.transfers.events import PaymentExceptionRecorded, TransferUnmatched
from app.transfers.models import TransferStatus
from app.transfers.rows import TransferRow, restore_deposits, write_matched, write_settled

if TYPE_CHECKING:
    from app.transfers.service import MatchRules

log = logging.getLogger("app.transfers")

BATCH = 500
Kind = PaymentException


@dataclass
class Book:
    """One order while a batch is settled: its totals as the batch's transfers change them."""

    order: OrderRow
    status: OrderStatus
    received: int
    credit: int
    """What counts toward the price (the received parts not listed for refund)."""
    flags: set[str]
    pays: TransferRow | None = None
    request: lifecycle.Request | None = None
    remainder_from: DepositRow | None = None
    changed: bool = False


@dataclass
class Outcome:
    credited: list[tuple[TransferRow, DepositRow]] = field(default_factory=list)
    items: list[NewItem] = field(default_factory=list)
    flagged: list[tuple[Book, TransferRow, str, int]] = field(default_factory=list)
    unmatched: list[TransferRow] = field(default_factory=list)


async def settle(session: AsyncSession, rules: MatchRules, ordered: list[TransferRow]) -> int:
    """Apply the rules to `ordered` (locked, confirmed now); returns how many orders were paid."""
    order_ids = list(dict.fromkeys(t.order_id for t in ordered if t.order_id is not None))
    orders = await _lock_orders(session, order_ids)
    deposits = await _deposits_of(session, order_ids)
    books = await _books(session, orders, deposits)
    outcome = Outcome()
    now = utcnow()
    for transfer in ordered:
        transfer.confirmed, transfer.updated_at = True, now
        book = books.get(transfer.order_id) if transfer.order_id is not None else None
        deposit = _deposit_for(transfer, deposits.get(book.order.id, [])) if book else None
        if book is None or deposit is None:
            _unattributed(rules, transfer, outcome)
            continue
        _settle_one(rules, book, transfer, deposit, outcome)
    changed = [b for b in books.values() if b.changed]
    for book in changed:
        book.order.amount_received = book.received
        book.order.payment_exceptions = join_exceptions(book.flags)
    await receipts.record(
        session,
        [receipts.Receipt(b.order.id, b.received, b.order.payment_exceptions) for b in changed],
    )
    # Credited deposits are marked before the lifecycle moves their orders, so closing a paid
    # order's deposits (a subscriber) finds the credited one matched already: one write of it,
    # not "lingering" and then "matched".
    await write_matched(session, outcome.credited)
    paying = [(b.order, b.request) for b in books.values() if b.pays and b.request]
    won = {o.id for o in await lifecycle.apply(session, OrderStatus.PAID, paying, locked=True)}
    refused: list[DepositRow] = []
    for book in books.values():
        if book.pays is not None and book.order.id not in won:
            # The order's row is locked, so the table decided as `_settle_one` did; kept as a
            # guard: the transfer then pays nothing and is reported.
            log.critical("matcher.pay_refused order_id=%s", book.order.id)
            refused.extend(d for t, d in outcome.credited if t is book.pays)
            outcome.credited = [(t, d) for t, d in outcome.credited if t is not book.pays]
            _unattributed(rules, book.pays, outcome)
    if refused:
        await restore_deposits(session, refused)
        await write_matched(session, outcome.credited)
    for transfer, deposit in outcome.credited:
        transfer.status, transfer.deposit_id = TransferStatus.MATCHED, deposit.id
        log.info("matcher.credited order_id=%s transfer_id=%s", transfer.order_id, transfer.id)
    await write_settled(session, ordered)
    await session.flush()
    await _remainders(session, rules, books.values())
    await add_items(session, outcome.items)
    await session.flush()
    await events.record(
        session,
        [
            PaymentExceptionRecorded(order=b.order, transfer=t, kind=k, decimals=d)
            for b, t, k, d in outcome.flagged
        ]
        + [
            TransferUnmatched(transfer=t, report_url=rules.unknown_transfer_url)
            for t in outcome.unmatched
        ],
    )
    return len(won)


def _settle_one(
    rules: MatchRules, book: Book, transfer: TransferRow, deposit: DepositRow, outcome: Outcome
) -> None:
    order = book.order
    units = accounting.credit(order, deposit, transfer.amount)
    if book.status == OrderStatus.PAID:
        transfer.duplicate = True
        _listed(book, transfer, deposit, units, Kind.DUPLICATE, RefundKind.DUPLICATE, outcome)
        return
    late = transfer.block_time > order.expires_at
    asks = lifecycle.Request(
        by=Actor.CHAIN,
        payment_time=transfer.block_time,
        accept_late=rules.payments.accept_late,
    )
    if not lifecycle.allows(_as(order, book.status), OrderStatus.PAID, asks):
        transfer.late = True
        _listed(book, transfer, deposit, units, Kind.LATE, RefundKind.LATE, outcome)
        return
    target = receipts.amount_at_received_scale(order.amount)
    credit = book.credit + units
    short = target - credit
    if short > 0 and accounting.coin_for(order, deposit, short, round_up=False) == 0:
        short = 0  # less than the coin's smallest unit
    tolerated = short <= accounting.tolerance(order, deposit, rules.payments.underpayment_tolerance)
    if short > 0 and not tolerated:
        if book.status != OrderStatus.PENDING:
            # Ended meanwhile: a part cannot be asked to be completed any more.
            kind, listed_as = (
                (Kind.LATE, RefundKind.LATE) if late else (Kind.PARTIAL, RefundKind.EXPIRED_PARTIAL)
            )
            transfer.late = late
            _listed(book, transfer, deposit, units, kind, listed_as, outcome)
            return
        if not rules.payments.accept_partial:
            transfer.order_id, transfer.deposit_id = None, None
            _unattributed(rules, transfer, outcome)
            return
        _credit(book, transfer, deposit, units, outcome)
        book.credit = credit
        book.remainder_from = deposit
        book.flags.add(Kind.PARTIAL)
        _flag(book, transfer, Kind.PARTIAL, deposit, outcome)
        log.info("matcher.partial order_id=%s transfer_id=%s", order.id, transfer.id)
        return
    kinds: list[str] = []
    surplus = credit - target
    if surplus > 0 and transfer.amount > _asked(rules, book, deposit):
        refund = min(accounting.coin_for(order, deposit, surplus, round_up=False), transfer.amount)
        if refund > 0:
            kinds.append(Kind.OVERPAID)
            outcome.items.append(_item(transfer, deposit, refund, RefundKind.OVERPAID))
    if short > 0:
        kinds.append(Kind.UNDERPAID)
    if late and book.status == OrderStatus.EXPIRED:
        transfer.late = True
        kinds.append(Kind.LATE)
    if Kind.PARTIAL in book.flags:
        kinds.append(Kind.PARTIAL)
    _credit(book, transfer, deposit, units, outcome)
    book.credit, book.status, book.pays = credit, OrderStatus.PAID, transfer
    book.request = lifecycle.Request(
        by=Actor.CHAIN,
        payment_time=transfer.block_time,
        accept_late=rules.payments.accept_late,
    )
    book.flags.update(kinds)
    if kinds:
        _flag(book, transfer, kinds[0], deposit, outcome)


def _asked(rules: MatchRules, book: Book, deposit: DepositRow) -> int:
    """What the shopper may send to `deposit` now without overpaying: what is still due, plus
    the deposit's uniqueness step (a deposit shows the due amount plus at most
    `amount_step * amount_step_max_tries`, and a fiat remainder its rounding up to cents). A
    deposit offered for more than that (the first one of a partly paid order, another chain's)
    asks only for what is due."""
    order = book.order
    due = accounting.coin_for(
        order,
        deposit,
        max(receipts.amount_at_received_scale(order.amount) - book.credit, 0),
        round_up=True,
    )
    step = rules.max_step.allowance(0, deposit.decimals) + accounting.rounding_unit(order, deposit)
    return due + min(max(deposit.amount - due, 0), step)


def _as(order: OrderRow, status: OrderStatus) -> OrderRow:
    """The order as the batch has left it (the guard reads its status and `expires_at`)."""
    if order.status == status:
        return order
    return dataclasses.replace(order, status=status)


def _credit(
    book: Book, transfer: TransferRow, deposit: DepositRow, units: int, outcome: Outcome
) -> None:
    book.received += units
    book.changed = True
    outcome.credited.append((transfer, deposit))


def _flag(
    book: Book, transfer: TransferRow, kind: str, deposit: DepositRow, outcome: Outcome
) -> None:
    transfer.exception = kind
    outcome.flagged.append((book, transfer, kind, deposit.decimals))


def _listed(
    book: Book,
    transfer: TransferRow,
    deposit: DepositRow,
    units: int,
    kind: str,
    refund: RefundKind,
    outcome: Outcome,
) -> None:
    """Linked to its order, counted, flagged and listed for refund whole; never credited."""
    book.received += units
    book.flags.add(kind)
    book.changed = True
    transfer.status, transfer.deposit_id = TransferStatus.NO_MATCHED_DEPOSIT, None
    outcome.items.append(_item(transfer, deposit, transfer.amount, refund))
    _flag(book, transfer, kind, deposit, outcome)
    outcome.unmatched.append(transfer)
    log.info("matcher.%s order_id=%s transfer_id=%s", kind, book.order.id, transfer.id)


def _unattributed(rules: MatchRules, transfer: TransferRow, outcome: Outcome) -> None:
    transfer.status, transfer.deposit_id = TransferStatus.NO_MATCHED_DEPOSIT, None
    outcome.items.append(
        NewItem(
            transfer_id=transfer.id,
            kind=RefundKind.UNATTRIBUTED,
            blockchain=transfer.blockchain,
            token=transfer.token,
            wallet_address=transfer.to_address,
            sender_address=transfer.from_address,
            amount=transfer.amount,
            decimals=rules.decimals.get(transfer.token, 0),
            order_id=None,
        )
    )
    outcome.unmatched.append(transfer)
    log.info("matcher.unmatched transfer_id=%s", transfer.id)


def _item(transfer: TransferRow, deposit: DepositRow, amount: int, kind: RefundKind) -> NewItem:
    return NewItem(
        transfer_id=transfer.id,
        kind=kind,
        blockchain=transfer.blockchain,
        token=transfer.token,
        wallet_address=transfer.to_address,
        sender_address=transfer.from_address,
        amount=amount,
        decimals=deposit.decimals,
        order_id=deposit.order_id,
    )


def _deposit_for(transfer: TransferRow, deposits: list[DepositRow]) -> DepositRow | None:
    """The deposit a linked transfer was attributed to (or, for a late or repeat payment that
    keeps none, the order's deposit on its chain, token and wallet nearest its amount)."""
    same = [
        d
        for d in deposits
        if (d.blockchain, d.token, d.wallet_address)
        == (
            transfer.blockchain,
            transfer.token,
            transfer.to_address,
        )
    ]
    for deposit in same:
        if deposit.id == transfer.deposit_id:
            return deposit
    return min(same, key=lambda d: abs(d.amount - transfer.amount), default=None)


async def _lock_orders(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, OrderRow]:
    """The orders, locked (in id order) so no other writer moves them while the rules decide."""
    found: dict[uuid.UUID, OrderRow] = {}
    ordered = sorted(ids)
    for start in range(0, len(ordered), BATCH):
        rows = await (await core(session)).execute(
            sa.select(*ORDER_COLUMNS)
            .where(among(session, Order.id, "uuid", ordered[start : start + BATCH]))
            .order_by(Order.id)
            .with_for_update()
        )
        found.update((o.id, o) for o in order_rows(rows.all()))
    return found


async def _deposits_of(
    session: AsyncSession, ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[DepositRow]]:
    found: dict[uuid.UUID, list[DepositRow]] = {}
    for start in range(0, len(ids), BATCH):
        rows = await (await core(session)).execute(
            sa.select(*DEPOSIT_COLUMNS).where(
                among(session, Deposit.order_id, "uuid", ids[start : start + BATCH])
            )
        )
        for deposit in deposit_rows(rows.all()):
            found.setdefault(deposit.order_id, []).append(deposit)
    return found


async def _books(
    session: AsyncSession,
    orders: dict[uuid.UUID, OrderRow],
    deposits: dict[uuid.UUID, list[DepositRow]],
) -> dict[uuid.UUID, Book]:
    """Each order's starting totals. A pending order's received amount is all credit (parts);
    an ended one credits only its open `expired_partial` items: paying it takes them back off
    the refund list (`app.refunds.order_endings`)."""
    ended = [
        o.id
        for o in orders.values()
        if o.status != OrderStatus.PENDING and Kind.PARTIAL in (o.payment_exceptions or "")
    ]
    parts = await open_items(session, ended, RefundKind.EXPIRED_PARTIAL) if ended else {}
    books: dict[uuid.UUID, Book] = {}
    for order in orders.values():
        status = OrderStatus(order.status)
        credit = order.amount_received if status == OrderStatus.PENDING else 0
        for item in parts.get(order.id, []):
            held = next(
                (
                    d
                    for d in deposits.get(order.id, [])
                    if (d.blockchain, d.token, d.wallet_address)
                    == (item.blockchain, item.token, item.wallet_address)
                ),
                None,
            )
            if held is not None:
                credit += accounting.credit(order, held, item.amount)
        books[order.id] = Book(
            order=order,
            status=status,
            received=order.amount_received or 0,
            credit=credit,
            flags=set(filter(None, (order.payment_exceptions or "").split(","))),
        )
    return books


async def _remainders(session: AsyncSession, rules: MatchRules, books: Iterable[Book]) -> None:
    """A remainder deposit for each order still partly paid after the batch."""
    for book in books:
        if book.remainder_from is None or book.status != OrderStatus.PENDING:
            continue
        due = receipts.amount_at_received_scale(book.order.amount) - book.credit
        if rules.settings is None:
            log.error("matcher.no_remainder order_id=%s error=no settings", book.order.id)
            continue
        try:
            fresh = await reserve_remainder(
                session, rules.settings, book.order, book.remainder_from, due
            )
        except NoFreeAmount as exc:
            log.error("matcher.no_remainder order_id=%s error=%s", book.order.id, exc)
            continue
        log.info(
            "matcher.remainder order_id=%s deposit_id=%s",
            book.order.id,
            fresh.id if fresh is not None else None,
        )
