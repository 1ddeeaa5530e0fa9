"""Refund items: listing what is owed back, written by the transfer rules as they happen.

`add_items` is the only writer of new rows. It is idempotent per (transfer, kind) — a confirmation
re-run after a crash lists nothing twice — and batched: one statement per 500 items.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.refunds.models import RefundItem, RefundKind, RefundStatus

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
