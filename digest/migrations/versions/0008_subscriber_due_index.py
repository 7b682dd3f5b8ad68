"""subscriber: one index on (status, next_send_at, id) for planning's pages of due
subscribers, instead of one on status and one on next_send_at

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_subscriber_due", "subscriber", ["status", "next_send_at", "id"])
    op.drop_index("ix_subscriber_next_send_at", table_name="subscriber")
    op.drop_index("ix_subscriber_status", table_name="subscriber")


def downgrade() -> None:
    op.create_index("ix_subscriber_status", "subscriber", ["status"])
    op.create_index("ix_subscriber_next_send_at", "subscriber", ["next_send_at"])
    op.drop_index("ix_subscriber_due", table_name="subscriber")
