"""What the transfers domain announces: a payment seen (or gone), a transfer no order takes."""

from __future__ import annotations

from dataclasses import dataclass

from app.events import DomainEvent
from app.orders.rows import OrderView
from app.transfers.models import Transfer
from app.transfers.rows import TransferRow


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentDetected(DomainEvent):
    """A transfer that will pay `order` at depth was seen; `confirmations` of `required` so far."""

    order: OrderView
    transfer: Transfer | TransferRow
    confirmations: int
    required: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentWithdrawn(DomainEvent):
    """A reorg removed the block of the transfer that was paying `order` (not yet at depth)."""

    order: OrderView


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferUnmatched(DomainEvent):
    """A confirmed transfer credited to no order: a wrong amount, a payment without a checkout,
    a late payment (`transfer.late`) or a repeat payment of a paid order (`transfer.duplicate`).
    `report_url` is where the merchant wants to hear about it (None: nowhere)."""

    transfer: Transfer | TransferRow
    report_url: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class LatePaymentLinked(DomainEvent):
    """A transfer was linked to an order that had ended unpaid (it will not pay it)."""

    order: OrderView
    transfer: Transfer | TransferRow


@dataclass(frozen=True, slots=True, kw_only=True)
class DuplicatePaymentLinked(DomainEvent):
    """A transfer was linked to an order that was already paid (a repeat or overpayment)."""

    order: OrderView
    transfer: Transfer | TransferRow


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentExceptionRecorded(DomainEvent):
    """A confirmed transfer linked to `order` was not an exact, on-time, first payment: `kind`
    is underpaid, overpaid, partial, late or duplicate (`app.orders.models.PaymentException`).
    `decimals` are the token's, to show `transfer.amount` in coin units."""

    order: OrderView
    transfer: Transfer | TransferRow
    kind: str
    decimals: int
