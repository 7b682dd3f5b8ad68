"""delivery_item: the keywords a paper matched only through papers like it or its meaning
(named apart from those its own words match in "why you got this")

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("delivery_item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("related", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("delivery_item", schema=None) as batch_op:
        batch_op.drop_column("related")
