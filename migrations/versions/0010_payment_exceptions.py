"""Payment exceptions (issue 16): what an order received, its flags, a transfer's kind, and the
refund items owed back.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("amount_received", app.db.BaseUnits(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("payment_exceptions", sa.String(length=64), nullable=False, server_default="")
        )
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("exception", sa.String(length=16), nullable=True))
    op.create_table(
        "refund_items",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("order_id", sa.Uuid(), nullable=True),
        sa.Column(
            "transfer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("blockchain", sa.String(length=16), nullable=False),
        sa.Column("token", sa.String(length=8), nullable=False),
        sa.Column("wallet_address", sa.String(length=128), nullable=False),
        sa.Column("sender_address", sa.String(length=128), nullable=False),
        sa.Column("amount", app.db.BaseUnits(), nullable=False),
        sa.Column("decimals", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("claim_address", sa.String(length=128), nullable=True),
        sa.Column("claimed_at", app.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("refund_tx_hash", sa.String(length=128), nullable=True),
        sa.Column("sent_at", app.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", app.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('overpaid','duplicate','late','expired_partial','unattributed')",
            name=op.f("ck_refund_items_kind_valid"),
        ),
        sa.CheckConstraint(
            "status IN ('open','claimed','sent')", name=op.f("ck_refund_items_status_valid")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_refund_items_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"], ["transfers.id"], name=op.f("fk_refund_items_transfer_id_transfers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refund_items")),
        sa.UniqueConstraint("transfer_id", "kind", name=op.f("uq_refund_items_transfer_id_kind")),
    )
    op.create_index(
        "ix_refund_items_chain_wallet_status",
        "refund_items",
        ["blockchain", "wallet_address", "status"],
        unique=False,
    )
    op.create_index(op.f("ix_refund_items_order_id"), "refund_items", ["order_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_refund_items_order_id"), table_name="refund_items")
    op.drop_index("ix_refund_items_chain_wallet_status", table_name="refund_items")
    op.drop_table("refund_items")
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35+): a batch copy of `orders` would drop the
    # table that deposits and transfers reference, which foreign keys refuse.
    with op.batch_alter_table("transfers", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("exception")
    with op.batch_alter_table("orders", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("payment_exceptions")
        batch_op.drop_column("amount_received")
