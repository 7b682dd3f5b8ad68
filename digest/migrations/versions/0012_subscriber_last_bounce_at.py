"""subscriber.last_bounce_at: when the subscriber's address last bounced, so that bounces
count toward the limit only while each comes within BOUNCE_MEMORY of the one before

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("last_bounce_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
    # bounces counted before keep counting: the last change to such a row is the closest
    # moment known
    op.execute("UPDATE subscriber SET last_bounce_at = updated_at WHERE hard_bounces > 0")


def downgrade() -> None:
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.drop_column("last_bounce_at")
