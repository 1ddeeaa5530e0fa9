"""Per-key limits on checkout sessions (issue 14): indexes that count a key's recent and open
sessions; the plain `api_key_id` index is covered by the first.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 14:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("checkout_sessions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_checkout_sessions_api_key_id_created_at", ["api_key_id", "created_at"]
        )
        batch_op.create_index(
            "ix_checkout_sessions_api_key_id_status", ["api_key_id", "status", "expires_at"]
        )
        batch_op.drop_index("ix_checkout_sessions_api_key_id")


def downgrade() -> None:
    with op.batch_alter_table("checkout_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_checkout_sessions_api_key_id", ["api_key_id"])
        batch_op.drop_index("ix_checkout_sessions_api_key_id_status")
        batch_op.drop_index("ix_checkout_sessions_api_key_id_created_at")
