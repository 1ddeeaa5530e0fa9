"""Chain inbox: every incoming token transfer to our wallets, and each chain's scan cursor."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BaseUnits, UtcDateTime, utcnow


class TransferStatus(StrEnum):
    """Ocrch's transfer statuses (api.md §6) plus `orphaned` for transfers a reorg removed."""

    WAITING_FOR_CONFIRMATION = "waiting_for_confirmation"
    WAITING_FOR_MATCH = "waiting_for_match"
    MATCHED = "matched"
    NO_MATCHED_DEPOSIT = "no_matched_deposit"
    FAILED_TO_CONFIRM = "failed_to_confirm"
    ORPHANED = "orphaned"


class Transfer(Base):
    __tablename__ = "transfers"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    blockchain: Mapped[str] = mapped_column(sa.String(16))
    token: Mapped[str] = mapped_column(sa.String(8))
    contract_address: Mapped[str] = mapped_column(sa.String(128))
    tx_hash: Mapped[str] = mapped_column(sa.String(128))
    """Canonical id (`app.chains.canonical_tx_id`): hex lowercase, a Solana signature (base58, up
    to 88 characters) exactly as the node spells it."""
    log_index: Mapped[int] = mapped_column(sa.Integer())
    from_address: Mapped[str] = mapped_column(sa.String(128))
    to_address: Mapped[str] = mapped_column(sa.String(128), index=True)
    amount: Mapped[int] = mapped_column(BaseUnits())
    block_number: Mapped[int] = mapped_column(sa.BigInteger())
    block_hash: Mapped[str] = mapped_column(sa.String(80))
    block_time: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(
        sa.String(32), default=TransferStatus.WAITING_FOR_CONFIRMATION
    )
    confirmed: Mapped[bool] = mapped_column(sa.Boolean(), default=False)
    deposit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("deposits.id"))
    order_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    """The order this transfer paid, or the ended order a late payment belongs to."""
    late: Mapped[bool] = mapped_column(sa.Boolean(), default=False)
    """Linked to an order that had expired or been cancelled when the payment was made."""
    duplicate: Mapped[bool] = mapped_column(sa.Boolean(), default=False)
    """Linked to an order that another transfer (or an operator) had already paid: a repeat or
    overpayment the operator must refund or settle; it never pays anything."""
    exception: Mapped[str | None] = mapped_column(sa.String(16))
    """How this transfer departed from an exact payment (`PaymentException`: underpaid, overpaid,
    partial, late, duplicate); None for an exact one or one credited to no order."""
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("blockchain", "tx_hash", "log_index"),
        sa.Index("ix_transfers_blockchain_status", "blockchain", "status"),
    )


class ChainCursor(Base):
    """How far a chain has been scanned; the hash lets a restart notice a reorg it slept through."""

    __tablename__ = "chain_cursors"

    blockchain: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    block_number: Mapped[int] = mapped_column(sa.BigInteger())
    block_hash: Mapped[str] = mapped_column(sa.String(80))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ChainBlock(Base):
    """Hashes of recently scanned blocks, to find how far back a reorg reaches."""

    __tablename__ = "chain_blocks"

    blockchain: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    block_number: Mapped[int] = mapped_column(sa.BigInteger(), primary_key=True)
    block_hash: Mapped[str] = mapped_column(sa.String(80))
