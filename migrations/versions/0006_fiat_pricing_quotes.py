"""fiat pricing: order currency and the locked quote on deposits

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-01 14:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0006"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("currency", sa.String(length=3), nullable=True))
    with op.batch_alter_table("deposits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quote_currency", sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column("quote_fiat_units", app.db.BaseUnits(), nullable=True))
        batch_op.add_column(sa.Column("quote_fiat_scale", sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column("quote_rate", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("quote_source", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("quote_fetched_at", app.db.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("quote_expires_at", app.db.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("quote_spread_percent", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deposits", schema=None) as batch_op:
        for column in (
            "quote_spread_percent",
            "quote_expires_at",
            "quote_fetched_at",
            "quote_source",
            "quote_rate",
            "quote_fiat_scale",
            "quote_fiat_units",
            "quote_currency",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("currency")
