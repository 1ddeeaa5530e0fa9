"""Wire types of the exceptions queue and refunds (additive Admin API endpoints, not Ocrch's)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field

from app.admin.schemas import AdminTransfer


class RefundItemOut(BaseModel):
    id: int
    status: str
    """`open`, `claimed` (the shopper gave `claim_address`) or `sent` (`refund_tx_hash`)."""
    kind: str
    """`overpaid`, `duplicate`, `late`, `expired_partial` or `unattributed`."""
    order_id: uuid.UUID | None
    merchant_order_id: str | None
    transfer_id: int
    """The incoming transfer the money came with."""
    transfer_tx_hash: str | None
    blockchain: str
    token: str
    amount: str
    """What is owed, in coin units (a decimal string with every digit the token has)."""
    wallet_address: str
    """Our wallet that received it: send the refund from here, or the watcher cannot see it."""
    sender_address: str
    """Who sent it, for information only (often an exchange): never the refund target."""
    claim_address: str | None
    claimed_at: int | None
    refund_tx_hash: str | None
    sent_at: int | None
    sent_evidence: str | None
    """`watcher`, `receipt` (an operator's tx checked on the node) or `operator` (asserted)."""
    created_at: int


class Candidate(BaseModel):
    """A reserved deposit on the transfer's chain, coin and wallet: an order it may belong to."""

    deposit_id: int
    order_id: uuid.UUID
    merchant_order_id: str
    order_status: str
    deposit_status: str
    value: str
    """The amount the deposit asked for."""
    difference: str
    """The transfer's amount minus `value` (signed): "-1.000000" is a dollar short."""
    reserved_until: int


class UnmatchedTransfer(BaseModel):
    transfer: AdminTransfer
    candidates: list[Candidate]
    """Nearest first (by the absolute difference), at most `candidates` of the request."""


class FlaggedPayment(BaseModel):
    exception: str
    """underpaid, overpaid, partial, late or duplicate."""
    transfer: AdminTransfer
    refund_ids: list[int]
    """Refund items listed for this transfer."""


class AcceptPaidRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    reason: str = Field(min_length=1, max_length=255)


class MarkRefundedRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tx_hash: str = Field(min_length=1, max_length=128)
    reason: str | None = Field(default=None, max_length=255)


class ClaimLinkOut(BaseModel):
    refund_id: int
    url: str
    expires_at: int
