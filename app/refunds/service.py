"""Refund items: listing what is owed back, written by the transfer rules as they happen, and
how each one is claimed and then recognised as sent.

`add_items` is the only writer of new rows. It is idempotent per (transfer, kind) — a confirmation
re-run after a crash lists nothing twice — and batched: one statement per 500 items.

An item moves open → claimed (the shopper's signed claim page, `claim`) → sent, by one of:
`settle_outgoing` (the watcher saw the transfer from our wallet to the claimed address for the
claimed amount) or `mark_sent` (an operator named the transaction). Each move is a conditional
UPDATE on the status it leaves, so a replayed claim or a transfer seen twice changes nothing, and
a `RefundSent` event is recorded in the same transaction as the move to `sent`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.chains import Blockchain, Coin
from app.config import Settings
from app.db import utcnow
from app.errors import (
    RefundAlreadyClaimed,
    RefundAlreadySent,
    RefundChangedMeanwhile,
    RefundClaimedMeanwhile,
    RefundNotFound,
    RefundTransferTaken,
)
from app.orders.models import Order
from app.refunds.addresses import same_address
from app.refunds.events import RefundSent
from app.refunds.models import RefundItem, RefundKind, RefundStatus, SentEvidence
from app.refunds.receipts import LoggedTransfer
from app.tokens import resolve_token
from app.transfers.observed import ObservedTransfer

BATCH = 500


@dataclass(frozen=True, slots=True)
class NewItem:
    """One amount to list for refund, from one transfer."""

    transfer_id: int
    kind: RefundKind
    blockchain: str
    token: str
    wallet_address: str
    sender_address: str
    amount: int
    decimals: int
    order_id: uuid.UUID | None = None


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def add_items(session: AsyncSession, items: Sequence[NewItem]) -> int:
    """List `items` for refund (zero amounts skipped, repeats ignored); returns how many are new."""
    rows = [_row(item) for item in items if item.amount > 0]
    if not rows:
        return 0
    statement = (
        _insert(session)(RefundItem)
        .on_conflict_do_nothing(index_elements=["transfer_id", "kind"])
        .returning(RefundItem.id)
    )
    added = 0
    for start in range(0, len(rows), BATCH):
        result = await session.execute(statement, rows[start : start + BATCH])
        added += len(list(result.scalars()))
    return added


def _row(item: NewItem) -> dict[str, Any]:
    now = utcnow()
    return {
        "order_id": item.order_id,
        "transfer_id": item.transfer_id,
        "kind": str(item.kind),
        "blockchain": item.blockchain,
        "token": item.token,
        "wallet_address": item.wallet_address,
        "sender_address": item.sender_address,
        "amount": item.amount,
        "decimals": item.decimals,
        "status": RefundStatus.OPEN,
        "created_at": now,
        "updated_at": now,
    }


async def items_for_transfers(
    session: AsyncSession, transfer_ids: Sequence[int]
) -> list[RefundItem]:
    """The refund items listed for these transfers (batched)."""
    found: list[RefundItem] = []
    ids = list(dict.fromkeys(transfer_ids))
    for start in range(0, len(ids), BATCH):
        found.extend(
            await session.scalars(
                sa.select(RefundItem).where(RefundItem.transfer_id.in_(ids[start : start + BATCH]))
            )
        )
    return found


async def open_items(
    session: AsyncSession, order_ids: Sequence[uuid.UUID], kind: RefundKind
) -> dict[uuid.UUID, list[RefundItem]]:
    """Open (unclaimed) items of `kind` listed for these orders, by order."""
    found: dict[uuid.UUID, list[RefundItem]] = {}
    ids = list(dict.fromkeys(order_ids))
    for start in range(0, len(ids), BATCH):
        rows = await session.scalars(
            sa.select(RefundItem).where(
                RefundItem.order_id.in_(ids[start : start + BATCH]),
                RefundItem.kind == kind,
                RefundItem.status == RefundStatus.OPEN,
            )
        )
        for item in rows:
            assert item.order_id is not None
            found.setdefault(item.order_id, []).append(item)
    return found


async def withdraw(session: AsyncSession, item_ids: Sequence[int]) -> int:
    """Take open items off the list: the money they stood for is credited to an order after
    all (an expired order paid in time, an operator's attach). Claimed or sent ones stay."""
    if not item_ids:
        return 0
    result = await session.execute(
        sa.delete(RefundItem)
        .where(RefundItem.id.in_(list(item_ids)), RefundItem.status == RefundStatus.OPEN)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# -- claim and send


async def get_item(session: AsyncSession, item_id: int) -> RefundItem:
    item = await session.get(RefundItem, item_id, populate_existing=True)
    if item is None:
        raise RefundNotFound
    return item


async def claim(session: AsyncSession, item: RefundItem, address: str) -> RefundItem:
    """Record the shopper's receiving address (already checked: `app.refunds.addresses`).

    Only an open item is claimed: the UPDATE is conditional on `open`, so a second submit of the
    page, or a replayed link, finds the item claimed and changes nothing (Conflict)."""
    now = utcnow()
    moved = await session.execute(
        sa.update(RefundItem)
        .where(RefundItem.id == item.id, RefundItem.status == RefundStatus.OPEN)
        .values(status=RefundStatus.CLAIMED, claim_address=address, claimed_at=now, updated_at=now),
        execution_options={"synchronize_session": False},
    )
    if _rowcount(moved) != 1:
        raise RefundAlreadyClaimed
    return await get_item(session, item.id)


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def pays(item: RefundItem, transfer: ObservedTransfer) -> bool:
    """Does this outgoing transfer pay this claimed item back: same chain and coin, from the
    wallet that received the money, to the claimed address, for exactly the amount owed?"""
    return (
        item.status == RefundStatus.CLAIMED
        and item.blockchain == str(transfer.blockchain)
        and item.token == str(transfer.token)
        and item.amount == transfer.amount
        and same_address(item.blockchain, item.wallet_address, transfer.from_address)
        and same_address(item.blockchain, item.claim_address, transfer.to_address)
    )


def receipt_pays(settings: Settings, item: RefundItem, transfer: LoggedTransfer) -> bool:
    """Does this transfer of an operator's refund transaction pay the item: the coin's contract,
    from the wallet that received the money, the amount owed, to the claimed address (any
    address when the shopper claimed none: the operator refunded by other means)?"""
    token = resolve_token(settings, Blockchain(item.blockchain), Coin(item.token))
    return (
        token is not None
        and same_address(item.blockchain, token.contract, transfer.contract)
        and same_address(item.blockchain, item.wallet_address, transfer.from_address)
        and transfer.amount == item.amount
        and (
            item.claim_address is None
            or same_address(item.blockchain, item.claim_address, transfer.to_address)
        )
    )


async def used_log_indexes(session: AsyncSession, blockchain: str, tx_hash: str) -> set[int]:
    """The transfers of `tx_hash` (by log index) that already paid a refund item."""
    rows = await session.scalars(
        sa.select(RefundItem.refund_log_index).where(
            RefundItem.blockchain == blockchain,
            RefundItem.refund_tx_hash == tx_hash,
            RefundItem.refund_log_index.is_not(None),
        )
    )
    return {int(i) for i in rows if i is not None}


async def refunds_claimed(session: AsyncSession, blockchain: str) -> bool:
    """Is a claimed refund waiting on this chain? (The watcher reads our outgoing transfers only
    then: the claim comes before the refund is sent, so no earlier block can hold one.)"""
    found = await session.scalar(
        sa.select(RefundItem.id)
        .where(RefundItem.blockchain == blockchain, RefundItem.status == RefundStatus.CLAIMED)
        .limit(1)
    )
    return found is not None


async def settle_outgoing(
    session: AsyncSession, outgoing: Sequence[ObservedTransfer]
) -> list[RefundItem]:
    """Mark `sent` the claimed items that these transfers from our wallets pay back.

    A transfer pays at most one item (the oldest claim it fits) and an item is paid by one
    transfer; a transfer already recorded on an item (a block read again) pays nothing more.
    Returns the items that moved, whose `RefundSent` events are recorded here."""
    if not outgoing:
        return []
    chains = {str(t.blockchain) for t in outgoing}
    claimed = list(
        await session.scalars(
            sa.select(RefundItem)
            .where(RefundItem.status == RefundStatus.CLAIMED, RefundItem.blockchain.in_(chains))
            .order_by(RefundItem.claimed_at, RefundItem.id)
        )
    )
    if not claimed:
        return []
    used = await _recorded(session, outgoing)
    sent: list[RefundItem] = []
    taken: set[int] = set()
    for transfer in outgoing:
        if transfer.key in used:
            continue
        item = next((i for i in claimed if i.id not in taken and pays(i, transfer)), None)
        if item is None:
            continue
        moved = await _move_to_sent(
            session, item, transfer.key[1], transfer.log_index, SentEvidence.WATCHER
        )
        if moved is not None:
            taken.add(item.id)
            used.add(transfer.key)
            sent.append(moved)
    await _announce(session, sent)
    return sent


async def _recorded(
    session: AsyncSession, outgoing: Sequence[ObservedTransfer]
) -> set[tuple[str, str, int]]:
    """The (chain, tx, log) keys among `outgoing` that already paid an item."""
    hashes = list({t.key[1] for t in outgoing})
    found: set[tuple[str, str, int]] = set()
    for start in range(0, len(hashes), BATCH):
        rows = await session.execute(
            sa.select(
                RefundItem.blockchain, RefundItem.refund_tx_hash, RefundItem.refund_log_index
            ).where(
                RefundItem.refund_tx_hash.in_(hashes[start : start + BATCH]),
                RefundItem.refund_log_index.is_not(None),
            )
        )
        found.update((str(c), str(h), int(i)) for c, h, i in rows if i is not None)
    return found


async def _move_to_sent(
    session: AsyncSession,
    item: RefundItem,
    tx_hash: str,
    log_index: int | None,
    evidence: SentEvidence,
    *,
    from_statuses: tuple[RefundStatus, ...] = (RefundStatus.CLAIMED,),
    to_address: str | None = None,
) -> RefundItem | None:
    now = utcnow()
    values: dict[str, Any] = {
        "status": RefundStatus.SENT,
        "refund_tx_hash": tx_hash,
        "refund_log_index": log_index,
        "sent_evidence": evidence,
        "sent_at": now,
        "updated_at": now,
    }
    if to_address is not None and item.claim_address is None:
        values["claim_address"] = to_address
    moved = await session.execute(
        sa.update(RefundItem)
        .where(RefundItem.id == item.id, RefundItem.status.in_(from_statuses))
        .values(**values),
        execution_options={"synchronize_session": False},
    )
    if _rowcount(moved) != 1:
        return None
    return await get_item(session, item.id)


async def mark_sent(
    session: AsyncSession,
    item_id: int,
    *,
    tx_hash: str,
    log_index: int | None,
    evidence: SentEvidence,
    to_address: str | None,
    expected_claim: str | None,
) -> RefundItem:
    """An operator's refund: `item_id` is sent by `tx_hash` (its `log_index`th transfer when a
    receipt showed it). `expected_claim` is the claim address the caller checked the transaction
    against; the item must still have it (a claim made meanwhile would not match)."""
    item = await get_item(session, item_id)
    if item.status == RefundStatus.SENT:
        raise RefundAlreadySent(item_id, item.refund_tx_hash or "")
    if item.claim_address != expected_claim:
        raise RefundClaimedMeanwhile(item_id)
    if log_index is not None:
        taken = await session.scalar(
            sa.select(RefundItem.id).where(
                RefundItem.blockchain == item.blockchain,
                RefundItem.refund_tx_hash == tx_hash,
                RefundItem.refund_log_index == log_index,
            )
        )
        if taken is not None:
            raise RefundTransferTaken(taken)
    moved = await _move_to_sent(
        session,
        item,
        tx_hash,
        log_index,
        evidence,
        from_statuses=(RefundStatus.OPEN, RefundStatus.CLAIMED),
        to_address=to_address,
    )
    if moved is None:
        raise RefundChangedMeanwhile(item_id)
    await _announce(session, [moved])
    return moved


async def _announce(session: AsyncSession, sent: Sequence[RefundItem]) -> None:
    order_ids = list({i.order_id for i in sent if i.order_id is not None})
    orders: dict[uuid.UUID, Order] = {}
    if order_ids:
        orders = {
            o.id: o for o in await session.scalars(sa.select(Order).where(Order.id.in_(order_ids)))
        }
    await events.record(
        session,
        [RefundSent(item=i, order=orders.get(i.order_id) if i.order_id else None) for i in sent],
    )
