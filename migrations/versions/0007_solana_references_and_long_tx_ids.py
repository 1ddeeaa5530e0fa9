"""Solana (issue 19): `deposits.reference` for Solana Pay, and room for base58 signatures.

A Solana transaction signature is up to 88 base58 characters, more than `transfers.tx_hash` held.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 14:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("transfers") as batch:
        batch.alter_column(
            "tx_hash", existing_type=sa.String(length=80), type_=sa.String(length=128)
        )
    with op.batch_alter_table("deposits") as batch:
        batch.add_column(sa.Column("reference", sa.String(length=64), nullable=True))
        batch.create_unique_constraint(op.f("uq_deposits_reference"), ["reference"])


def downgrade() -> None:
    with op.batch_alter_table("deposits") as batch:
        batch.drop_constraint(op.f("uq_deposits_reference"), type_="unique")
        batch.drop_column("reference")
    with op.batch_alter_table("transfers") as batch:
        batch.alter_column(
            "tx_hash", existing_type=sa.String(length=128), type_=sa.String(length=80)
        )
