"""The store as newsingest 0.2.0 made it (``metadata.create_all``, before migrations existed).

A frozen copy, not an import of ``worker.store.schema``: later revisions change that module, and
this one must keep making exactly the 0.2.0 tables. A 0.2.0 store found without an
``alembic_version`` table is stamped with this revision (``worker.store.migrate``).

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _lease_columns() -> list[sa.Column]:
    return [
        sa.Column("attempts", sa.Integer, nullable=False, default=0),
        sa.Column("task_id", sa.String(64)),
        sa.Column("task_retries", sa.Integer, nullable=False, default=0),
        sa.Column("lease_until", sa.Float),
        sa.Column("enqueued_at", sa.Float),
        sa.Column("next_send_at", sa.Float),
        sa.Column("sends", sa.Integer, nullable=False, default=0),
    ]


def _count_columns() -> list[sa.Column]:
    return [
        sa.Column(name, sa.Integer)
        for name in ("found", "new", "duplicates", "near_duplicates", "failed", "unplaced")
    ]


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        *_lease_columns(),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("encoding", sa.String(32)),
        *_count_columns(),
        sa.Column("error", sa.JSON),
        sa.Column("final_path", sa.Text),
        sa.Column("moves", sa.Integer, nullable=False, default=1),
    )
    op.create_table(
        "chunks",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("number", sa.Integer, primary_key=True),
        sa.Column("part_path", sa.Text, nullable=False),
        sa.Column("part_label", sa.Text, nullable=False),
        sa.Column("encoding", sa.String(32), nullable=False),
        sa.Column("start_offset", sa.BigInteger, nullable=False),
        sa.Column("end_offset", sa.BigInteger),
        sa.Column("first_index", sa.Integer, nullable=False),
        sa.Column("first_line", sa.Integer, nullable=False),
        sa.Column("articles", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        *_lease_columns(),
        *_count_columns(),
    )
    op.create_table(
        "drops",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sha256", sa.String(64), nullable=False, index=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("dropped_at", sa.Float, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("identity", sa.String(96), unique=True),
        sa.Column("destination", sa.Text),
    )
    op.create_table(
        "articles",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("image_caption", sa.Text),
        sa.Column("image_credit", sa.Text),
        sa.Column("lead", sa.Text),
        sa.Column("language", sa.String(8)),
        sa.Column("word_count", sa.Integer),
        sa.Column("reading_time_s", sa.Integer),
        sa.Column("entities", sa.JSON),
        sa.Column("countries", sa.JSON),
        sa.Column("keywords", sa.JSON),
        sa.Column("quotes", sa.JSON),
        sa.Column("duplicate_of", sa.String(64), index=True),
        sa.Column("similarity", sa.Float),
        sa.Column("first_sha256", sa.String(64), nullable=False),
        sa.Column("ingested_at", sa.String(40), nullable=False),
        sa.Column("pipeline_version", sa.String(40), nullable=False),
        sa.Column("first_index", sa.Integer, nullable=False),
        sa.Column("enrich_errors", sa.JSON(none_as_null=True)),
    )
    op.create_table(
        "sources",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True),
        sa.Column("article_id", sa.String(64), sa.ForeignKey("articles.id"), nullable=False),
        sa.Column("file", sa.Text, nullable=False),
        sa.Column("line", sa.Integer, nullable=False),
    )
    op.create_index("ix_sources_article", "sources", ["article_id"])
    op.create_index("ix_articles_order", "articles", ["ingested_at", "first_sha256", "first_index"])
    op.create_table(
        "minhashes",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("article_id", sa.String(64), nullable=False, unique=True),
        sa.Column("signature", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "lsh_bands",
        sa.Column("band_key", sa.BigInteger, primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "index_meta",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("index_meta", "lsh_bands", "minhashes", "sources", "articles", "drops"):
        op.drop_table(table)
    op.drop_table("chunks")
    op.drop_table("files")
