"""Transfers and deposits as plain rows on the watcher's hot path, and their batched writers.

`ingest` and `confirm` handle hundreds of transfers per call. As ORM objects each one cost
identity-map, attribute-instrumentation and unit-of-work bookkeeping (a per-object flush) that
made Python the bottleneck of catching up; as slotted dataclasses read with Core and written back
with one statement run with many parameter sets, they cost a tuple each. Orders stay ORM objects
(loaded once per batch): the lifecycle and the subscribers read them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.arrays import batch_update
from app.payments.models import Deposit, DepositStatus
from app.payments.rows import DepositRow
from app.transfers.models import Transfer


@dataclass(slots=True)
class TransferRow:
    """One `transfers` row, detached: the fields of `Transfer`, without the ORM."""

    id: int
    blockchain: str
    token: str
    contract_address: str
    tx_hash: str
    log_index: int
    from_address: str
    to_address: str
    amount: int
    block_number: int
    block_hash: str
    block_time: dt.datetime
    status: str
    confirmed: bool
    deposit_id: int | None
    order_id: uuid.UUID | None
    late: bool
    duplicate: bool
    exception: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


TRANSFER_COLUMNS = tuple(Transfer.__table__.c[name] for name in TransferRow.__slots__)  # type: ignore[attr-defined]


def transfer_rows(rows: Sequence[Any]) -> list[TransferRow]:
    """Rows selected as `TRANSFER_COLUMNS`, as `TransferRow`s."""
    return [TransferRow(*row) for row in rows]


_RESEEN = batch_update(
    Transfer.__table__,  # type: ignore[arg-type]
    "tid",
    {
        "tid": "bigint",
        "bn": "bigint",
        "bh": "text",
        "bt": "time",
        "st": "text",
        "oid": "uuid",
        "did": "bigint",
        "late": "bool",
        "dup": "bool",
        "at": "time",
    },
    {
        "block_number": "bn",
        "block_hash": "bh",
        "block_time": "bt",
        "status": "st",
        "order_id": "oid",
        "deposit_id": "did",
        "late": "late",
        "duplicate": "dup",
        "updated_at": "at",
    },
)
_SETTLED = batch_update(
    Transfer.__table__,  # type: ignore[arg-type]
    "tid",
    {
        "tid": "bigint",
        "st": "text",
        "conf": "bool",
        "oid": "uuid",
        "did": "bigint",
        "late": "bool",
        "dup": "bool",
        "exc": "text",
        "at": "time",
    },
    {
        "status": "st",
        "confirmed": "conf",
        "order_id": "oid",
        "deposit_id": "did",
        "late": "late",
        "duplicate": "dup",
        "exception": "exc",
        "updated_at": "at",
    },
)
_DEPOSIT_STATE = batch_update(
    Deposit.__table__,  # type: ignore[arg-type]
    "did",
    {"did": "bigint", "st": "text", "tid": "bigint"},
    {"status": "st", "transfer_id": "tid"},
)


async def write_reseen(session: AsyncSession, transfers: Sequence[TransferRow]) -> None:
    """Store orphans seen again: the block each is in now, its status and its new link (order,
    deposit, late, duplicate), one statement."""
    await _RESEEN.run(
        session,
        [
            {
                "tid": t.id,
                "bn": t.block_number,
                "bh": t.block_hash,
                "bt": t.block_time,
                "st": t.status,
                "oid": t.order_id,
                "did": t.deposit_id,
                "late": t.late,
                "dup": t.duplicate,
                "at": t.updated_at,
            }
            for t in transfers
        ],
    )


async def write_settled(session: AsyncSession, transfers: Sequence[TransferRow]) -> None:
    """Store what the money rules decided for each transfer: one statement."""
    await _SETTLED.run(
        session,
        [
            {
                "tid": t.id,
                "st": t.status,
                "conf": t.confirmed,
                "oid": t.order_id,
                "did": t.deposit_id,
                "late": t.late,
                "dup": t.duplicate,
                "exc": t.exception,
                "at": t.updated_at,
            }
            for t in transfers
        ],
    )


async def write_matched(
    session: AsyncSession, credited: Sequence[tuple[TransferRow, DepositRow]]
) -> None:
    """Mark each credited deposit matched by its transfer: one statement, where a dirty ORM
    object cost a unit-of-work flush per deposit. In order: a deposit credited twice keeps the
    later one."""
    last = {d.id: t.id for t, d in credited}
    params = [{"did": d, "st": DepositStatus.MATCHED.value, "tid": t} for d, t in last.items()]
    await _DEPOSIT_STATE.run(session, params)


async def restore_deposits(session: AsyncSession, deposits: Sequence[DepositRow]) -> None:
    """Put deposits back as they were read (status and matching transfer): a credit the
    lifecycle refused after `write_matched` marked its deposit."""
    params = [{"did": d.id, "st": d.status, "tid": d.transfer_id} for d in deposits]
    await _DEPOSIT_STATE.run(session, params)
