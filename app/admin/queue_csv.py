"""CSV exports of the exceptions queue, for spreadsheets and reconciliation.

A cell that a spreadsheet would run as a formula (text opening with = + - @) gets a leading
apostrophe: a shop's order reference is the merchant's input and may start with anything.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from app.admin.queue_schemas import FlaggedPayment, UnmatchedTransfer
from app.admin.service import MAX_LIMIT

CSV_ROWS = 10_000
"""An export lists at most this many rows (newest first from `offset`): page beyond it."""
T = TypeVar("T")


async def collect(fetch: Callable[[int, int], Awaitable[Sequence[T]]], offset: int = 0) -> list[T]:
    """Every row `fetch(limit, offset)` pages through, up to `CSV_ROWS`."""
    rows: list[T] = []
    while len(rows) < CSV_ROWS:
        batch = await fetch(MAX_LIMIT, offset + len(rows))
        rows.extend(batch)
        if len(batch) < MAX_LIMIT:
            break
    return rows[:CSV_ROWS]


def _cell(value: Any) -> str:
    """A CSV cell a spreadsheet will not run: text opening with = + - @ (a formula) is quoted
    with a leading apostrophe, except signed numbers (amount differences)."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not re.fullmatch(r"-[0-9.]+", text):
        return "'" + text
    return text


def to_csv(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


REFUND_COLUMNS = (
    "id",
    "status",
    "kind",
    "blockchain",
    "token",
    "amount",
    "wallet_address",
    "claim_address",
    "order_id",
    "merchant_order_id",
    "transfer_tx_hash",
    "sender_address",
    "claimed_at",
    "refund_tx_hash",
    "sent_evidence",
    "sent_at",
    "created_at",
)
UNMATCHED_COLUMNS = (
    "transfer_id",
    "blockchain",
    "token",
    "value",
    "to_address",
    "from_address",
    "txn_hash",
    "block_timestamp",
    "nearest_order_id",
    "nearest_merchant_order_id",
    "nearest_value",
    "nearest_difference",
    "candidates",
)
FLAGGED_COLUMNS = (
    "transfer_id",
    "exception",
    "blockchain",
    "token",
    "value",
    "order_id",
    "txn_hash",
    "from_address",
    "block_timestamp",
    "refund_ids",
)


def unmatched_rows(entries: Sequence[UnmatchedTransfer]) -> list[dict[str, Any]]:
    rows = []
    for entry in entries:
        t = entry.transfer
        near = entry.candidates[0] if entry.candidates else None
        rows.append(
            {
                "transfer_id": t.id,
                "blockchain": t.blockchain,
                "token": t.token,
                "value": t.value,
                "to_address": t.to_address,
                "from_address": t.from_address,
                "txn_hash": t.txn_hash,
                "block_timestamp": t.block_timestamp,
                "nearest_order_id": near.order_id if near else None,
                "nearest_merchant_order_id": near.merchant_order_id if near else None,
                "nearest_value": near.value if near else None,
                "nearest_difference": near.difference if near else None,
                "candidates": len(entry.candidates),
            }
        )
    return rows


def flagged_rows(entries: Sequence[FlaggedPayment]) -> list[dict[str, Any]]:
    return [
        {
            "transfer_id": e.transfer.id,
            "exception": e.exception,
            "blockchain": e.transfer.blockchain,
            "token": e.transfer.token,
            "value": e.transfer.value,
            "order_id": e.transfer.order_id,
            "txn_hash": e.transfer.txn_hash,
            "from_address": e.transfer.from_address,
            "block_timestamp": e.transfer.block_timestamp,
            "refund_ids": " ".join(str(i) for i in e.refund_ids),
        }
        for e in entries
    ]
