"""Refunds sent (issue 16): which transfer of the refund transaction paid an item, and on what
evidence the item is marked sent.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("refund_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("refund_log_index", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("sent_evidence", sa.String(length=16), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_refund_items_blockchain_refund_tx_hash_refund_log_index"),
            ["blockchain", "refund_tx_hash", "refund_log_index"],
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_refund_items_sent_evidence_valid"),
            "sent_evidence IS NULL OR sent_evidence IN ('watcher','receipt','operator')",
        )


def downgrade() -> None:
    with op.batch_alter_table("refund_items", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_refund_items_sent_evidence_valid"), type_="check")
        batch_op.drop_constraint(
            batch_op.f("uq_refund_items_blockchain_refund_tx_hash_refund_log_index"),
            type_="unique",
        )
        batch_op.drop_column("sent_evidence")
        batch_op.drop_column("refund_log_index")
