"""The transactional outbox: announcements of new records and each destination's cursor.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TIMESTAMP

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _time() -> sa.types.TypeEngine:
    return sa.Float().with_variant(TIMESTAMP(timezone=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("article_id", sa.String(64), nullable=False),
        sa.Column("file", sa.Text, nullable=False),
        sa.Column("created_at", _time(), nullable=False),
    )
    op.create_table(
        "outbox_cursors",
        sa.Column("destination", sa.Text, primary_key=True),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("outbox_cursors")
    op.drop_table("outbox")
