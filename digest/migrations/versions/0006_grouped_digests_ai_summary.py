"""subscriber.grouped: a digest's papers under the interest that brought them, or one list;
paper.ai_summary: Hugging Face's one-line summary, shown above the abstract;
delivery_item.trending: the paper was among the most popular of its day (marked in the digest)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("grouped", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    with op.batch_alter_table("paper", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("ai_summary", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
    with op.batch_alter_table("delivery_item", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("trending", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("delivery_item", schema=None) as batch_op:
        batch_op.drop_column("trending")
    with op.batch_alter_table("paper", schema=None) as batch_op:
        batch_op.drop_column("ai_summary")
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.drop_column("grouped")
