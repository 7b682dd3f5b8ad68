"""delivery: the status index becomes (status, id), so that a claim reads the next queued
deliveries in id order from the index; PostgreSQL read every queued row and sorted them
for each batch (SQLite's index on status already held the row id). The index on
subscriber_id goes: the unique (subscriber_id, edition) serves those lookups, and every
delivery planned or recorded paid for one more index

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_delivery_claim", "delivery", ["status", "id"])
    op.drop_index("ix_delivery_status", table_name="delivery")
    op.drop_index("ix_delivery_subscriber_id", table_name="delivery")


def downgrade() -> None:
    op.create_index("ix_delivery_subscriber_id", "delivery", ["subscriber_id"])
    op.create_index("ix_delivery_status", "delivery", ["status"])
    op.drop_index("ix_delivery_claim", table_name="delivery")
