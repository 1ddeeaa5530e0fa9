"""The `refund_items` table: money that arrived and belongs to no order's price.

The server holds no keys, so it never sends a refund: it lists what is owed (a surplus, a repeat
payment, a late one not accepted, what an expired order had received, a transfer nobody could
attribute), with the wallet of ours that received it, so the operator can pay it back and the
watcher can later recognise the outgoing transfer (the index on chain, wallet and status).
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BaseUnits, UtcDateTime, utcnow


class RefundKind(StrEnum):
    OVERPAID = "overpaid"
    """The surplus of a transfer that paid its order with more than the amount."""
    DUPLICATE = "duplicate"
    """A further transfer to an order already paid."""
    LATE = "late"
    """A payment made after the order ended, not accepted (`accept_late = false`)."""
    EXPIRED_PARTIAL = "expired_partial"
    """A part payment of an order that expired before the rest arrived."""
    UNATTRIBUTED = "unattributed"
    """A transfer no reserved deposit could be chosen for (none or several in the band)."""


class RefundStatus(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    """The shopper gave an address to send it to (`claim_address`)."""
    SENT = "sent"
    """The operator paid it back (`refund_tx_hash`)."""


class SentEvidence(StrEnum):
    """Why an item is believed `sent` (`refund_items.sent_evidence`)."""

    WATCHER = "watcher"
    """The watcher saw the transfer from our wallet to the claimed address for the amount."""
    RECEIPT = "receipt"
    """An operator named the transaction and the node's receipt shows that transfer."""
    OPERATOR = "operator"
    """An operator said so; the chain could not be asked (no receipt check for this chain)."""


class RefundItem(Base):
    __tablename__ = "refund_items"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    order_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    """The order the money was linked to; None for an unattributed transfer."""
    transfer_id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), sa.ForeignKey("transfers.id")
    )
    kind: Mapped[str] = mapped_column(sa.String(16))
    blockchain: Mapped[str] = mapped_column(sa.String(16))
    token: Mapped[str] = mapped_column(sa.String(8))
    wallet_address: Mapped[str] = mapped_column(sa.String(128))
    """Our wallet that received the money (a refund is sent from it)."""
    sender_address: Mapped[str] = mapped_column(sa.String(128))
    """Who sent it: shown for information, never used as the refund target (often an
    exchange's hot wallet)."""
    amount: Mapped[int] = mapped_column(BaseUnits())
    """What is owed, in the token's base units."""
    decimals: Mapped[int] = mapped_column(sa.SmallInteger())
    status: Mapped[str] = mapped_column(sa.String(16), default=RefundStatus.OPEN)
    claim_address: Mapped[str | None] = mapped_column(sa.String(128))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    refund_tx_hash: Mapped[str | None] = mapped_column(sa.String(128))
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    refund_log_index: Mapped[int | None] = mapped_column(sa.Integer())
    """Which transfer of `refund_tx_hash` paid it: with the hash, a transfer settles one item
    only (the unique constraint). None when an operator asserted the refund."""
    sent_evidence: Mapped[str | None] = mapped_column(sa.String(16))
    """`SentEvidence`: seen by the watcher, checked in a receipt, or asserted by an operator."""
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("transfer_id", "kind"),
        sa.UniqueConstraint("blockchain", "refund_tx_hash", "refund_log_index"),
        sa.Index("ix_refund_items_chain_wallet_status", "blockchain", "wallet_address", "status"),
        sa.CheckConstraint(
            "kind IN ('overpaid','duplicate','late','expired_partial','unattributed')",
            name="kind_valid",
        ),
        sa.CheckConstraint("status IN ('open','claimed','sent')", name="status_valid"),
        sa.CheckConstraint(
            "sent_evidence IS NULL OR sent_evidence IN ('watcher','receipt','operator')",
            name="sent_evidence_valid",
        ),
    )
