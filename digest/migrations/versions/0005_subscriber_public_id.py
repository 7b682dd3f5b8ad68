"""subscriber.public_id: links name a random identifier, never the reusable row id;
subscriber.confirmations_sent: the daily cap and back-off of confirmation mails;
suppression: addresses that complained, bounced for good or asked by mail to stop

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("public_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
        batch_op.add_column(
            sa.Column("confirmations_sent", sa.Integer(), nullable=False, server_default="0")
        )
    conn = op.get_bind()
    ids = [row[0] for row in conn.execute(sa.text("select id from subscriber"))]
    for subscriber_id in ids:
        conn.execute(
            sa.text("update subscriber set public_id = :p where id = :i"),
            {"p": secrets.token_urlsafe(16), "i": subscriber_id},
        )
    op.create_table(
        "suppression",
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("detail", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("email"),
    )
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.alter_column("public_id", nullable=False)
        batch_op.create_index("ix_subscriber_public_id", ["public_id"], unique=True)


def downgrade() -> None:
    op.drop_table("suppression")
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.drop_index("ix_subscriber_public_id")
        batch_op.drop_column("confirmations_sent")
        batch_op.drop_column("public_id")
