"""The transfers domain: store what the chain said, link it to a deposit, pay at depth.

Chain-agnostic: `watchers/` reads the chains (sources, the runner's cursor and lease loop) and
calls these functions; nothing here knows which chain family a transfer came from.

The chain is an inbox. Every observed transfer is stored first, keyed by (chain, tx hash, log
index), so re-reading a block never counts twice; matching and paying are separate, re-runnable
steps that only move rows forward with conditional updates:

    ingest()   new rows `waiting_for_confirmation`, each attributed to a reserved deposit if one
               is its own (`app.transfers.matching`: reference, exact amount, or the single
               order within the match band) and the page is told "detected".
    confirm()  at the chain's depth, on a block still canonical: the money rules
               (`app.transfers.settle`) credit it, pay the order through the lifecycle, flag
               what was unusual and list for refund what belongs to no order's price; what no
               order takes becomes `no_matched_deposit`, reported as `unknown_transfer_received`.
    rewind()   a reorg: unconfirmed rows above the fork are orphaned and unlinked.

A transfer is credited only to the deposit whose window covers its block time, so a payment made
before the shopper chose to pay never pays anything. An ended order's amounts (a paid order's too)
stay reserved for the late-payment window: a late or repeat payment is linked to its own order
(`late` / `duplicate`), reported, listed for refund, and never credited to another order.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.chains import Blockchain, Coin, canonical_tx_id
from app.config import PaymentSettings, Settings
from app.db import utcnow
from app.money import Margin
from app.orders import lifecycle
from app.orders.events import Actor
from app.orders.models import Order, OrderStatus
from app.tokens import required_confirmations, resolve_token
from app.transfers import matching, settle
from app.transfers.events import (
    DuplicatePaymentLinked,
    LatePaymentLinked,
    PaymentDetected,
    PaymentWithdrawn,
)
from app.transfers.models import Transfer, TransferStatus
from app.transfers.observed import ObservedTransfer

log = logging.getLogger("app.transfers")

INSERT_BATCH = 500


@dataclass(frozen=True, slots=True)
class MatchRules:
    """What one chain's matching depends on, resolved once from the settings."""

    blockchain: str
    required_confirmations: int
    clock_skew: dt.timedelta
    unknown_transfer_url: str | None
    payments: PaymentSettings = field(default_factory=PaymentSettings)
    decimals: dict[str, int] = field(default_factory=dict)
    """Each configured token's decimals on this chain."""
    max_step: Margin = field(default_factory=lambda: Margin.parse("0.1"))
    """The most a deposit adds for uniqueness (`amount_step * amount_step_max_tries`)."""
    settings: Settings | None = field(default=None, compare=False, repr=False)
    """For what the rules reserve (a partly paid order's remainder deposit)."""

    @classmethod
    def for_chain(cls, settings: Settings, blockchain: str) -> MatchRules:
        chain = Blockchain(blockchain)
        tokens = {coin: resolve_token(settings, chain, coin) for coin in Coin}
        return cls(
            blockchain=blockchain,
            required_confirmations=required_confirmations(settings, chain),
            clock_skew=dt.timedelta(seconds=settings.orders.match_clock_skew_seconds),
            unknown_transfer_url=settings.merchant.unknown_transfer_webhook_url,
            payments=settings.payments,
            decimals={str(c): t.decimals for c, t in tokens.items() if t is not None},
            max_step=Margin(
                settings.orders.amount_step * settings.orders.amount_step_max_tries, percent=False
            ),
            settings=settings,
        )


def confirmations(head: int, block_number: int) -> int:
    """Blocks on top of and including the transfer's block (1 = just included)."""
    return max(0, head - block_number + 1)


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
    keys = {(canonical_tx_id(t.tx_hash), t.log_index): t for t in fresh}
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
    references = {
        (canonical_tx_id(t.tx_hash), t.log_index): t.references for t in fresh if t.references
    }
    await _link(session, rules, new, head, references)
    await session.flush()
    return new


def _row(t: ObservedTransfer, now: dt.datetime) -> dict[str, Any]:
    return {
        "blockchain": str(t.blockchain),
        "token": str(t.token),
        "contract_address": t.contract_address,
        "tx_hash": canonical_tx_id(t.tx_hash),
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
    session: AsyncSession,
    rules: MatchRules,
    transfers: list[Transfer],
    head: int,
    references: dict[tuple[str, int], tuple[str, ...]] | None = None,
) -> None:
    """Attribute each transfer (`app.transfers.matching`) and link it to its order.

    One that would count toward its order (pending, or expired but paid in time or accepted
    late) keeps its deposit and the page is told "detected" — a part payment too: the rules decide
    at depth. One for a paid or ended order is linked as a repeat or late payment.
    """
    if not transfers:
        return
    hits = await matching.attribute(session, rules, transfers, references or {})
    linked: list[events.DomainEvent] = []
    for transfer in transfers:
        hit = hits.get(transfer.id)
        if hit is None:
            continue
        deposit, order = hit
        transfer.order_id = order.id
        if _pays(rules, order, transfer):
            transfer.deposit_id = deposit.id
            seen = confirmations(head, transfer.block_number)
            linked.append(
                PaymentDetected(
                    order=order,
                    transfer=transfer,
                    confirmations=seen,
                    required=rules.required_confirmations,
                )
            )
            log.info("matcher.detected order_id=%s transfer_id=%s", order.id, transfer.id)
        elif order.status == OrderStatus.PAID:
            transfer.duplicate = True
            linked.append(DuplicatePaymentLinked(order=order, transfer=transfer))
            log.warning(
                "matcher.duplicate_payment order_id=%s transfer_id=%s", order.id, transfer.id
            )
        else:
            transfer.late = True
            linked.append(LatePaymentLinked(order=order, transfer=transfer))
            log.info("matcher.late_payment order_id=%s transfer_id=%s", order.id, transfer.id)
    await events.record(session, linked)


def _pays(rules: MatchRules, order: Order, transfer: Transfer) -> bool:
    """Would this transfer, at depth, count toward its order? The lifecycle table decides
    (pending, or expired but paid while it was open or accepted late)."""
    return lifecycle.allows(
        order,
        OrderStatus.PAID,
        lifecycle.Request(
            by=Actor.CHAIN,
            payment_time=transfer.block_time,
            accept_late=rules.payments.accept_late,
        ),
    )


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
    transfers and their orders are locked, the orders' deposits read, totals written with one
    statement and the orders moved to `paid` with one conditional UPDATE each); one statement per
    transfer made settling a backlog take milliseconds per payment. The rules themselves
    (credit, partial, over/under, late, duplicate, refunds) are `app.transfers.settle`.
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
    return await settle.settle(session, rules, ordered)


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
                await events.record(session, [PaymentWithdrawn(order=order)])
        row.status, row.deposit_id, row.order_id, row.late, row.duplicate = (
            TransferStatus.ORPHANED,
            None,
            None,
            False,
            False,
        )
        row.exception = None
        row.updated_at = utcnow()
        orphaned.append(row)
    await session.flush()
    return orphaned


async def report_progress(
    session: AsyncSession, rules: MatchRules, transfers: Sequence[Transfer], head: int
) -> None:
    """Announce "k of n confirmations" for linked transfers still short of their depth."""
    detected: list[events.DomainEvent] = []
    for transfer in transfers:
        order = await session.get(Order, transfer.order_id) if transfer.order_id else None
        if order is not None:
            detected.append(
                PaymentDetected(
                    order=order,
                    transfer=transfer,
                    confirmations=confirmations(head, transfer.block_number),
                    required=rules.required_confirmations,
                )
            )
    await events.record(session, detected)
