"""Which integration made an order, and how each outbox row is rendered (issue 15).

`orders.integration` replaces the `cs_` prefix test on `merchant_order_id` (a checkout session's
order is `checkout_session`, linked by `checkout_sessions.order_id`); `webhook_events.format`
tells the sender how to render and sign a row, instead of guessing from its event type.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 14:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("integration", sa.String(length=32), nullable=False, server_default="ocrch")
        )
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("format", sa.String(length=32), nullable=False, server_default="ocrch")
        )
    op.execute(
        "UPDATE orders SET integration = 'checkout_session' WHERE id IN "
        "(SELECT order_id FROM checkout_sessions WHERE order_id IS NOT NULL)"
    )
    op.execute(
        "UPDATE webhook_events SET format = 'checkout_session' "
        "WHERE event_type LIKE 'checkout.session.%'"
    )


def downgrade() -> None:
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.drop_column("format")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("integration")
