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
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.arrays import among, on_postgresql, unnest_insert
from app.chains import Blockchain, Coin, canonical_tx_id
from app.config import PaymentSettings, Settings
from app.db import core, utcnow
from app.money import Margin
from app.orders import lifecycle
from app.orders.events import Actor
from app.orders.models import Order, OrderStatus
from app.orders.rows import OrderRow, OrderView
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
from app.transfers.rows import TRANSFER_COLUMNS, TransferRow, transfer_rows, write_reseen

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


async def ingest(
    session: AsyncSession, rules: MatchRules, observed: Sequence[ObservedTransfer], head: int
) -> list[TransferRow]:
    """Store observed transfers (idempotently), each linked to its deposit; returns new rows.

    Without the ORM (`app.transfers.rows`). Attribution runs first, on the batch as observed, so
    each row is inserted with its link (order, deposit, late, duplicate) and never updated for
    it; the INSERT returns the ids of the rows it made, and only transfers already stored (a
    re-read block, a re-mined orphan) are read back."""
    fresh = [t for t in observed if not t.removed]
    if not fresh:
        return []
    now = utcnow()
    rows = {(canonical_tx_id(t.tx_hash), t.log_index): _row(t, now) for t in fresh}
    # Until stored, a transfer is known by its negative position in the batch.
    seen = {
        key: TransferRow(id=-n, **row)  # type: ignore[arg-type]
        for n, (key, row) in enumerate(rows.items(), start=1)
    }
    references = {
        (canonical_tx_id(t.tx_hash), t.log_index): t.references for t in fresh if t.references
    }
    hits = await matching.attribute(session, rules, list(seen.values()), references)
    links = {
        key: _linked(rules, transfer, hits[transfer.id])
        for key, transfer in seen.items()
        if transfer.id in hits
    }
    for key, (transfer, _, _) in links.items():
        row = rows[key]
        row["order_id"], row["deposit_id"] = transfer.order_id, transfer.deposit_id
        row["late"], row["duplicate"] = transfer.late, transfer.duplicate
    params = list(rows.values())
    inserted: dict[tuple[str, int], int] = {}
    for start in range(0, len(params), INSERT_BATCH):
        chunk = params[start : start + INSERT_BATCH]
        if on_postgresql(session):
            found = (
                await (await session.connection()).execute(
                    _INSERT_PG.statement, _INSERT_PG.params(chunk)
                )
            ).all()
        else:
            found = (await session.execute(_INSERT_SQLITE, chunk)).all()
        inserted.update(((h, i), tid) for tid, h, i in found)
    new: list[TransferRow] = []
    for key, tid in inserted.items():
        transfer = seen[key]
        transfer.id = tid
        new.append(transfer)
    seen_before = [key for key in rows if key not in inserted]
    if seen_before:
        new.extend(await _reseen(session, rules, seen, seen_before))
    new.sort(key=lambda t: t.id)
    await _announce(rules, session, new, links, head)
    return new


_INSERT_SQLITE = (
    sqlite.insert(Transfer)
    .on_conflict_do_nothing(index_elements=["blockchain", "tx_hash", "log_index"])
    .returning(Transfer.id, Transfer.tx_hash, Transfer.log_index)
)
"""SQLite: one statement run with many parameter sets (the driver batches them)."""


_INSERT_PG = unnest_insert(
    "transfers",
    {
        "blockchain": "text",
        "token": "text",
        "contract_address": "text",
        "tx_hash": "text",
        "log_index": "int",
        "from_address": "text",
        "to_address": "text",
        "amount": "numeric",
        "block_number": "bigint",
        "block_hash": "text",
        "block_time": "time",
        "status": "text",
        "confirmed": "bool",
        "deposit_id": "bigint",
        "order_id": "uuid",
        "late": "bool",
        "duplicate": "bool",
        "exception": "text",
        "created_at": "time",
        "updated_at": "time",
    },
    "ON CONFLICT (blockchain, tx_hash, log_index) DO NOTHING RETURNING id, tx_hash, log_index",
)
"""PostgreSQL: the same INSERT with the batch as one array per column (`app.arrays`)."""


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
        "deposit_id": None,
        "order_id": None,
        "late": False,
        "duplicate": False,
        "exception": None,
        "created_at": now,
        "updated_at": now,
    }


async def _reseen(
    session: AsyncSession,
    rules: MatchRules,
    seen: dict[tuple[str, int], TransferRow],
    keys: list[tuple[str, int]],
) -> list[TransferRow]:
    """Transfers stored before: an orphaned one re-mined in another block after a reorg is a new
    sighting (moved to the block it is in now, with the link attribution gave it now); any other
    is old news. Returns the rows as seen now, under their stored ids."""
    table = Transfer.__table__
    back: list[TransferRow] = []
    for start in range(0, len(keys), INSERT_BATCH):
        chunk = keys[start : start + INSERT_BATCH]
        wanted = set(chunk)
        found = await session.execute(
            sa.select(table.c.id, table.c.tx_hash, table.c.log_index, table.c.created_at).where(
                table.c.blockchain == rules.blockchain,
                table.c.tx_hash.in_({k[0] for k in chunk}),
                table.c.status == TransferStatus.ORPHANED,
            )
        )
        for tid, tx_hash, log_index, created_at in found.all():
            if (tx_hash, log_index) in wanted:
                transfer = seen[(tx_hash, log_index)]
                transfer.id, transfer.created_at = tid, created_at
                back.append(transfer)
    await write_reseen(session, back)
    return back


Link = tuple[TransferRow, OrderRow, str]
"""A transfer as attribution linked it, its order, and how it counts: `pays` (it would count
toward the order at depth), `duplicate` (the order is paid) or `late` (it ended)."""


def _linked(rules: MatchRules, transfer: TransferRow, hit: matching.Hit) -> Link:
    """Link a transfer to the order of the deposit it was attributed to (`app.transfers.matching`).

    One that would count toward its order (pending, or expired but paid in time or accepted
    late) keeps its deposit; the rules decide at depth, a part payment too. One for a paid or
    ended order is linked as a repeat or late payment."""
    deposit, order = hit
    transfer.order_id = order.id
    if _pays(rules, order, transfer):
        transfer.deposit_id = deposit.id
        return transfer, order, "pays"
    if order.status == OrderStatus.PAID:
        transfer.duplicate = True
        return transfer, order, "duplicate"
    transfer.late = True
    return transfer, order, "late"


async def _announce(
    rules: MatchRules,
    session: AsyncSession,
    new: list[TransferRow],
    links: dict[tuple[str, int], Link],
    head: int,
) -> None:
    """The events of the newly stored transfers that were linked: the page is told "detected",
    a repeat or late payment is reported."""
    linked: list[events.DomainEvent] = []
    for transfer in new:
        link = links.get((transfer.tx_hash, transfer.log_index))
        if link is None:
            continue
        _, order, how = link
        if how == "pays":
            linked.append(
                PaymentDetected(
                    order=order,
                    transfer=transfer,
                    confirmations=confirmations(head, transfer.block_number),
                    required=rules.required_confirmations,
                )
            )
            log.info("matcher.detected order_id=%s transfer_id=%s", order.id, transfer.id)
        elif how == "duplicate":
            linked.append(DuplicatePaymentLinked(order=order, transfer=transfer))
            log.warning(
                "matcher.duplicate_payment order_id=%s transfer_id=%s", order.id, transfer.id
            )
        else:
            linked.append(LatePaymentLinked(order=order, transfer=transfer))
            log.info("matcher.late_payment order_id=%s transfer_id=%s", order.id, transfer.id)
    await events.record(session, linked)


def _pays(rules: MatchRules, order: OrderView, transfer: TransferRow) -> bool:
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
    transfers: dict[int, TransferRow] = {}
    table = Transfer.__table__
    for start in range(0, len(transfer_ids), INSERT_BATCH):
        chunk = list(transfer_ids[start : start + INSERT_BATCH])
        found = await (await core(session)).execute(
            sa.select(*TRANSFER_COLUMNS)
            .where(
                among(session, table.c.id, "bigint", chunk),
                table.c.status == TransferStatus.WAITING_FOR_CONFIRMATION,
            )
            .with_for_update()
        )
        transfers.update((t.id, t) for t in transfer_rows(found.all()))
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
