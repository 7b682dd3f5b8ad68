"""votes, trending settings, delivery item reasons, ranking state

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "vote",
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("paper_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.ForeignKeyConstraint(["paper_id"], ["paper.id"]),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"]),
        sa.PrimaryKeyConstraint("subscriber_id", "paper_id"),
    )
    op.create_table(
        "ranking_state",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("watermark", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trending", sa.Float(), nullable=False, server_default="0.1"))
        batch_op.add_column(
            sa.Column("trending_box", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("delivery_item", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("similar_to", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "section",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default="main",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("delivery_item", schema=None) as batch_op:
        batch_op.drop_column("section")
        batch_op.drop_column("similar_to")
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.drop_column("trending_box")
        batch_op.drop_column("trending")
    op.drop_table("ranking_state")
    op.drop_table("vote")
