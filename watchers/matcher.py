"""Chain-agnostic matching: store what the chain said, link it to a deposit, pay at depth.

The chain is an inbox. Every observed transfer is stored first, keyed by (chain, tx hash, log
index), so re-reading a block never counts twice; matching and paying are separate, re-runnable
steps that only move rows forward with conditional updates:

    ingest()   new rows `waiting_for_confirmation`; a row whose (chain, token, wallet, amount)
               equals a reserved deposit is linked to it and the page is told "detected".
    confirm()  at the chain's depth, on a block still canonical: the order becomes `paid` in the
               same transaction as its outbox row; anything else becomes `no_matched_deposit` and
               is reported as `unknown_transfer_received`.
    rewind()   a reorg: unconfirmed rows above the fork are orphaned and unlinked.

A transfer is credited only to the deposit whose window covers its block time, so a payment made
before the shopper chose to pay (or after the order ended) never pays anything. An ended order's
amounts (a paid order's too) stay reserved for the late-payment window: a late or repeat payment is
linked to its own order (`late` / `duplicate`), reported, and never credited to another order.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.chains import Blockchain
from app.config import Settings
from app.db import utcnow
from app.orders.models import Order, OrderStatus
from app.orders.service import order_response, progress_fields, record_status_changes
from app.payments.models import RESERVED_STATUSES, Deposit, DepositStatus
from app.realtime.changes import order_changed
from app.tokens import required_confirmations
from app.transfers.models import Transfer, TransferStatus
from app.webhooks.service import enqueue_unknown_transfer
from watchers.base import ObservedTransfer

log = logging.getLogger("watchers.matcher")

INSERT_BATCH = 500


@dataclass(frozen=True, slots=True)
class MatchRules:
    """What one chain's matching depends on, resolved once from the settings."""

    blockchain: str
    required_confirmations: int
    clock_skew: dt.timedelta
    unknown_transfer_url: str | None

    @classmethod
    def for_chain(cls, settings: Settings, blockchain: str) -> MatchRules:
        return cls(
            blockchain=blockchain,
            required_confirmations=required_confirmations(settings, Blockchain(blockchain)),
            clock_skew=dt.timedelta(seconds=settings.orders.match_clock_skew_seconds),
            unknown_transfer_url=settings.merchant.unknown_transfer_webhook_url,
        )


def confirmations(head: int, block_number: int) -> int:
    """Blocks on top of and including the transfer's block (1 = just included)."""
    return max(0, head - block_number + 1)


def detected_message(order: Order, transfer: Transfer, head: int, required: int) -> dict[str, Any]:
    body = order_response(order).model_dump(mode="json")
    body.update(progress_fields(transfer, head, required))
    return {"type": "status_update", "order": body}


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def ingest(
    session: AsyncSession, rules: MatchRules, observed: Sequence[ObservedTransfer], head: int
) -> list[Transfer]:
    """Store observed transfers (idempotently) and link new ones to deposits; returns new rows."""
    fresh = [t for t in observed if not t.removed]
    if not fresh:
        return []
    now = utcnow()
    # One statement compiled once and run with many parameter sets (the driver batches them),
    # rather than a fresh 500-row VALUES list to compile for every batch.
    statement = (
        _insert(session)(Transfer)
        .on_conflict_do_nothing(index_elements=["blockchain", "tx_hash", "log_index"])
        .returning(Transfer.id)
    )
    inserted: set[int] = set()
    for start in range(0, len(fresh), INSERT_BATCH):
        rows = [_row(t, now) for t in fresh[start : start + INSERT_BATCH]]
        result = await session.execute(statement, rows)
        inserted.update(result.scalars())
    keys = {(t.tx_hash.lower(), t.log_index): t for t in fresh}
    new: list[Transfer] = []
    for row in await _rows_for(session, rules.blockchain, list(keys)):
        if row.id in inserted:
            new.append(row)
        elif row.status == TransferStatus.ORPHANED:
            # Re-mined in another block after a reorg: it is a new sighting.
            seen = keys[(row.tx_hash, row.log_index)]
            row.block_number, row.block_hash = seen.block_number, seen.block_hash
            row.block_time = seen.block_time
            row.status, row.updated_at = TransferStatus.WAITING_FOR_CONFIRMATION, now
            new.append(row)
    await _link(session, rules, new, head)
    await session.flush()
    return new


def _row(t: ObservedTransfer, now: dt.datetime) -> dict[str, Any]:
    return {
        "blockchain": str(t.blockchain),
        "token": str(t.token),
        "contract_address": t.contract_address,
        "tx_hash": t.tx_hash.lower(),
        "log_index": t.log_index,
        "from_address": t.from_address,
        "to_address": t.to_address,
        "amount": t.amount,
        "block_number": t.block_number,
        "block_hash": t.block_hash,
        "block_time": t.block_time,
        "status": TransferStatus.WAITING_FOR_CONFIRMATION,
        "confirmed": False,
        "late": False,
        "duplicate": False,
        "created_at": now,
        "updated_at": now,
    }


async def _rows_for(
    session: AsyncSession, blockchain: str, keys: list[tuple[str, int]]
) -> list[Transfer]:
    rows: list[Transfer] = []
    for start in range(0, len(keys), INSERT_BATCH):
        chunk = keys[start : start + INSERT_BATCH]
        hashes = list({k[0] for k in chunk})
        wanted = set(chunk)
        found = await session.scalars(
            sa.select(Transfer).where(
                Transfer.blockchain == blockchain, Transfer.tx_hash.in_(hashes)
            )
        )
        rows.extend(r for r in found if (r.tx_hash, r.log_index) in wanted)
    return rows


async def _link(
    session: AsyncSession, rules: MatchRules, transfers: list[Transfer], head: int
) -> None:
    """Find each transfer's reserved deposit (at most one: the unique index) and link it."""
    if not transfers:
        return
    # Exact (token, wallet, amount) keys: the partial unique index answers each one directly.
    # Config validation and the sources spell addresses canonically (EIP-55, base58), so the
    # exact spelling matches; the lowercase comparison below only guards against surprises.
    wanted = {(t.token, t.to_address, t.amount) for t in transfers}
    deposits = (
        await session.execute(
            sa.select(Deposit, Order)
            .join(Order, Order.id == Deposit.order_id)
            .where(
                Deposit.blockchain == rules.blockchain,
                Deposit.status.in_(RESERVED_STATUSES),
                sa.tuple_(Deposit.token, Deposit.wallet_address, Deposit.amount).in_(wanted),
            )
        )
    ).all()
    by_key = {(d.token, d.wallet_address.lower(), d.amount): (d, o) for d, o in deposits}
    for transfer in transfers:
        hit = by_key.get((transfer.token, transfer.to_address.lower(), transfer.amount))
        if hit is None:
            continue
        deposit, order = hit
        # Block times are whole seconds: compare against the second the deposit began.
        if transfer.block_time < deposit.started_at.replace(microsecond=0) - rules.clock_skew:
            log.info("matcher.before_deposit transfer_id=%s deposit_id=%s", transfer.id, deposit.id)
            continue
        transfer.order_id = order.id
        if _pays(deposit, order, transfer):
            transfer.deposit_id = deposit.id
            order_changed(
                session,
                order.id,
                detected_message(order, transfer, head, rules.required_confirmations),
            )
            log.info("matcher.detected order_id=%s transfer_id=%s", order.id, transfer.id)
        elif order.status == OrderStatus.PAID:
            transfer.duplicate = True
            log.warning(
                "matcher.duplicate_payment order_id=%s transfer_id=%s", order.id, transfer.id
            )
        else:
            transfer.late = True
            log.info("matcher.late_payment order_id=%s transfer_id=%s", order.id, transfer.id)


def _pays(deposit: Deposit, order: Order, transfer: Transfer) -> bool:
    """A deposit pays its order if the order is pending, or expired but paid before it expired."""
    if deposit.status != DepositStatus.ACTIVE and order.status != OrderStatus.EXPIRED:
        return False
    if order.status == OrderStatus.PENDING:
        return True
    return order.status == OrderStatus.EXPIRED and transfer.block_time <= order.expires_at


async def due_for_confirmation(
    session: AsyncSession, rules: MatchRules, head: int
) -> list[Transfer]:
    deepest = head - rules.required_confirmations + 1
    result = await session.scalars(
        sa.select(Transfer)
        .where(
            Transfer.blockchain == rules.blockchain,
            Transfer.status == TransferStatus.WAITING_FOR_CONFIRMATION,
            Transfer.block_number <= deepest,
        )
        .order_by(Transfer.block_number, Transfer.log_index)
        .limit(INSERT_BATCH)
    )
    return list(result)


async def awaiting_depth(session: AsyncSession, rules: MatchRules) -> list[Transfer]:
    """Linked transfers still short of their depth (for "k of n confirmations" pushes)."""
    result = await session.scalars(
        sa.select(Transfer).where(
            Transfer.blockchain == rules.blockchain,
            Transfer.status == TransferStatus.WAITING_FOR_CONFIRMATION,
            Transfer.deposit_id.is_not(None),
        )
    )
    return list(result)


async def confirm(session: AsyncSession, rules: MatchRules, transfer_ids: Sequence[int]) -> int:
    """Settle transfers at depth whose block the runner has just found still canonical.

    Returns how many orders became paid. Every step is conditional, so running it twice (two
    watchers during a lease hand-over, a crash and retry) changes nothing the second time.

    Batched: a constant number of statements per call, whatever the number of transfers (the
    transfers are locked, their deposits and orders read, and the orders moved to `paid` with one
    conditional UPDATE each); one statement per transfer made settling a backlog take
    milliseconds per payment. When several transfers could pay one order (the shopper paid
    twice), the first in `transfer_ids` order pays and the others are reported as unmatched.
    """
    transfers: dict[int, Transfer] = {}
    for start in range(0, len(transfer_ids), INSERT_BATCH):
        chunk = list(transfer_ids[start : start + INSERT_BATCH])
        found = await session.scalars(
            sa.select(Transfer)
            .where(
                Transfer.id.in_(chunk),
                Transfer.status == TransferStatus.WAITING_FOR_CONFIRMATION,
            )
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        transfers.update((t.id, t) for t in found)
    ordered = [transfers[i] for i in dict.fromkeys(transfer_ids) if i in transfers]
    if not ordered:
        return 0
    paying = await _paying(session, ordered)
    paid_orders = await _mark_paid(session, paying)
    now = utcnow()
    for transfer in ordered:
        transfer.confirmed, transfer.updated_at = True, now
        hit = paying.get(transfer.order_id) if transfer.order_id is not None else None
        if hit is not None and hit[0] is transfer and transfer.order_id in paid_orders:
            deposit = hit[1]
            deposit.status, deposit.transfer_id = DepositStatus.MATCHED, transfer.id
            transfer.status = TransferStatus.MATCHED
            log.info("matcher.paid order_id=%s transfer_id=%s", transfer.order_id, transfer.id)
            continue
        transfer.status = TransferStatus.NO_MATCHED_DEPOSIT
        transfer.deposit_id = None
        if hit is not None and hit[2].status == OrderStatus.PAID:
            transfer.duplicate = True  # another transfer paid this order: a repeat payment
        if rules.unknown_transfer_url:
            enqueue_unknown_transfer(session, transfer, rules.unknown_transfer_url)
        log.info("matcher.unmatched transfer_id=%s order_id=%s", transfer.id, transfer.order_id)
    await session.flush()
    return len(paid_orders)


async def _paying(
    session: AsyncSession, transfers: list[Transfer]
) -> dict[uuid.UUID, tuple[Transfer, Deposit, Order]]:
    """For each order, the first linked transfer that may pay it, with its deposit and order."""
    linked = [t for t in transfers if t.deposit_id is not None and t.order_id is not None]
    if not linked:
        return {}
    deposits = {
        d.id: d
        for d in await session.scalars(
            sa.select(Deposit).where(Deposit.id.in_({t.deposit_id for t in linked}))
        )
    }
    orders = {
        o.id: o
        for o in await session.scalars(
            sa.select(Order)
            .where(Order.id.in_({t.order_id for t in linked}))
            .execution_options(populate_existing=True)
        )
    }
    paying: dict[uuid.UUID, tuple[Transfer, Deposit, Order]] = {}
    for transfer in linked:
        assert transfer.order_id is not None and transfer.deposit_id is not None
        deposit, order = deposits.get(transfer.deposit_id), orders.get(transfer.order_id)
        if deposit is not None and order is not None and order.id not in paying:
            paying[order.id] = (transfer, deposit, order)
    return paying


async def _mark_paid(
    session: AsyncSession, paying: dict[uuid.UUID, tuple[Transfer, Deposit, Order]]
) -> set[uuid.UUID]:
    """Move the orders to `paid` with conditional UPDATEs; returns those that moved.

    The same transition as `app.orders.service.change_status(..., to=PAID)` for many orders at
    once: only from `pending`, or from `expired` when the transfer's block is not later than the
    order's expiry; the winners get what every status change gets (`record_status_changes`).
    """
    groups: dict[tuple[OrderStatus, ...], list[uuid.UUID]] = {}
    for order_id, (transfer, _, order) in paying.items():
        allowed: tuple[OrderStatus, ...] = (OrderStatus.PENDING,)
        if order.status == OrderStatus.EXPIRED and transfer.block_time <= order.expires_at:
            allowed = (OrderStatus.PENDING, OrderStatus.EXPIRED)
        groups.setdefault(allowed, []).append(order_id)
    now = utcnow()
    won: list[Order] = []
    for allowed, order_ids in groups.items():
        for start in range(0, len(order_ids), INSERT_BATCH):
            result = await session.scalars(
                sa.update(Order)
                .where(
                    Order.id.in_(order_ids[start : start + INSERT_BATCH]),
                    Order.status.in_(allowed),
                )
                .values(status=OrderStatus.PAID, updated_at=now, paid_at=now, status_reason=None)
                .returning(Order),
                execution_options={"synchronize_session": False, "populate_existing": True},
            )
            won.extend(result)
    if not won:
        return set()
    await record_status_changes(session, won)
    return {order.id for order in won}


async def rewind(session: AsyncSession, rules: MatchRules, fork_block: int) -> list[Transfer]:
    """Orphan every unconfirmed transfer above `fork_block`; they will be re-read if re-mined."""
    rows = list(
        await session.scalars(
            sa.select(Transfer).where(
                Transfer.blockchain == rules.blockchain,
                Transfer.block_number > fork_block,
                Transfer.status.in_(
                    (TransferStatus.WAITING_FOR_CONFIRMATION, TransferStatus.ORPHANED)
                ),
            )
        )
    )
    settled = await session.scalar(
        sa.select(sa.func.count())
        .select_from(Transfer)
        .where(
            Transfer.blockchain == rules.blockchain,
            Transfer.block_number > fork_block,
            Transfer.confirmed.is_(True),
        )
    )
    if settled:
        log.critical(
            "matcher.reorg_below_depth blockchain=%s fork_block=%s settled=%s",
            rules.blockchain,
            fork_block,
            settled,
        )
    orphaned = []
    for row in rows:
        if row.status == TransferStatus.ORPHANED:
            continue
        if row.deposit_id is not None and row.order_id is not None:
            order = await session.get(Order, row.order_id)
            if order is not None:
                order_changed(
                    session,
                    order.id,
                    {
                        "type": "status_update",
                        "order": order_response(order).model_dump(mode="json"),
                    },
                )
        row.status, row.deposit_id, row.order_id, row.late, row.duplicate = (
            TransferStatus.ORPHANED,
            None,
            None,
            False,
            False,
        )
        row.updated_at = utcnow()
        orphaned.append(row)
    await session.flush()
    return orphaned
