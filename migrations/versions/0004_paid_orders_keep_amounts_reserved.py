"""A paid order's amounts stay reserved for the late-payment window (issue 14, item 1).

The matched deposit joins the reserved set of `uq_deposits_reserved_amount`, so no other order
can be given the (wallet, token, amount) a shopper just paid, and `transfers.duplicate` marks a
repeat payment linked to an order that was already paid.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 14:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = "status IN ('active', 'lingering')"
_NEW = "status IN ('active', 'lingering', 'matched')"
_COLUMNS = ("blockchain", "token", "wallet_address", "amount")


def _reindex(where: str) -> None:
    op.drop_index("uq_deposits_reserved_amount", table_name="deposits")
    op.create_index(
        "uq_deposits_reserved_amount",
        "deposits",
        list(_COLUMNS),
        unique=True,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def _release_unreservable_matched() -> None:
    """Before the index grows: a matched deposit whose window is over, or whose amount another
    open deposit (or a later matched one) already holds, cannot be reserved; it is released."""
    deposits = sa.table(
        "deposits",
        sa.column("id", sa.BigInteger()),
        sa.column("blockchain", sa.String()),
        sa.column("token", sa.String()),
        sa.column("wallet_address", sa.String()),
        sa.column("amount", app.db.BaseUnits()),
        sa.column("status", sa.String()),
        sa.column("reserved_until", app.db.UtcDateTime()),
    )
    other = deposits.alias("other")
    holder = sa.exists().where(
        *(other.c[name] == deposits.c[name] for name in _COLUMNS),
        other.c.id != deposits.c.id,
        sa.or_(
            other.c.status.in_(("active", "lingering")),
            sa.and_(other.c.status == "matched", other.c.id > deposits.c.id),
        ),
    )
    op.execute(
        deposits.update()
        .where(
            deposits.c.status == "matched",
            sa.or_(deposits.c.reserved_until <= app.db.utcnow(), holder),
        )
        .values(status="released")
    )


def upgrade() -> None:
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("duplicate", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    _release_unreservable_matched()
    _reindex(_NEW)


def downgrade() -> None:
    # Matched deposits leave the reserved set again; released ones never conflict.
    _reindex(_OLD)
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.drop_column("duplicate")
