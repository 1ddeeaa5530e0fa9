"""Deposits as plain rows on the watcher's hot path.

Attribution reads a reserved deposit per transfer, and settling reads every deposit of the
batch's orders; both only read (each write is its own statement). As ORM objects they cost
identity-map and instrumentation work per load and per attribute; as slotted dataclasses read
with Core they cost a tuple each. Code that only reads a deposit takes a `DepositView`: the ORM
`Deposit` or a `DepositRow`, alike to a reader.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.payments.models import Deposit


@dataclass(frozen=True, slots=True)
class DepositRow:
    """A deposit as the matcher reads it: where and how much, and its locked quote."""

    id: int
    order_id: uuid.UUID
    blockchain: str
    token: str
    wallet_address: str
    amount: int
    decimals: int
    status: str
    started_at: dt.datetime
    reference: str | None
    transfer_id: int | None
    quote_currency: str | None
    quote_fiat_units: int | None
    quote_fiat_scale: int | None
    quote_rate: str | None
    quote_source: str | None
    quote_fetched_at: dt.datetime | None
    quote_expires_at: dt.datetime | None
    quote_spread_percent: str | None


DepositView = Deposit | DepositRow
"""A deposit as its readers see it: loaded by the ORM, or as a plain row."""

DEPOSIT_COLUMNS = tuple(Deposit.__table__.c[name] for name in DepositRow.__slots__)  # type: ignore[attr-defined]
"""`Deposit`'s columns in `DepositRow`'s field order, for a Core select."""


def deposit_rows(rows: Sequence[Any]) -> list[DepositRow]:
    """Rows selected as `DEPOSIT_COLUMNS`, as `DepositRow`s."""
    return [DepositRow(*row) for row in rows]
