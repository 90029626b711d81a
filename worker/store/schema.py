"""Tables of the results store. The same schema on SQLite (embedded) and PostgreSQL (scale-out)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

from worker.store.types import EpochTime, IsoTime, json_column_type

metadata = MetaData()

# The ledger: one row per distinct file content. The ledger, not the broker, decides what is done.
files = Table(
    "files",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("name", Text, nullable=False),  # name as dropped (last path part)
    Column("path", Text, nullable=False),  # where the bytes are while being worked on
    Column("size", BigInteger, nullable=False),  # dumps over 2 GiB exist
    # queued → processing (→ split, when its chunks are spread over the workers) → stored → done,
    # or failed.
    # "stored": the articles are committed, the file is not yet moved out of work/.
    Column("state", String(16), nullable=False, index=True),
    # starts that did not follow a clean hand-back: crashes, not retries (see ledger.py)
    Column("attempts", Integer, nullable=False, default=0),
    Column("task_id", String(64)),  # the lease holder
    Column("task_retries", Integer, nullable=False, default=0),  # its Celery retry number
    Column("lease_until", EpochTime),  # epoch seconds; renewed by the holder's heartbeat
    Column("enqueued_at", EpochTime),  # last time a message was sent for it
    Column("next_send_at", EpochTime),  # the reconciler re-sends no earlier than this (backoff)
    Column("sends", Integer, nullable=False, default=0),  # re-sends so far: the backoff exponent
    Column("created_at", EpochTime, nullable=False),
    Column("updated_at", EpochTime, nullable=False),
    Column("encoding", String(32)),
    Column("found", Integer),
    Column("new", Integer),
    Column("duplicates", Integer),
    Column("near_duplicates", Integer),  # of the new: versions of a story stored before
    Column("failed", Integer),
    Column("unplaced", Integer),
    Column("error", json_column_type()),
    Column("final_path", Text),  # processed/… or failed/…, decided before the move
    Column("moves", Integer, nullable=False, default=1),  # 0: `ingest` leaves files in place
)

# A big file is split into chunks of articles that any worker can take; the file is finished (moved,
# counted, logged) once, by the publish that stores its last chunk.
chunks = Table(
    "chunks",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("part_path", Text, nullable=False),  # the dump, or an unpacked archive member
    Column("part_label", Text, nullable=False),  # archive member name, "" for the dump itself
    Column("encoding", String(32), nullable=False),
    Column("start_offset", BigInteger, nullable=False),  # byte range [start, end) of the part
    Column("end_offset", BigInteger),  # None: to the end of the part
    Column("first_index", Integer, nullable=False),  # index in the file of its first article
    Column("first_line", Integer, nullable=False),
    Column("articles", Integer, nullable=False),
    Column("state", String(16), nullable=False),  # queued → processing → stored
    Column("attempts", Integer, nullable=False, default=0),
    Column("task_id", String(64)),
    Column("task_retries", Integer, nullable=False, default=0),
    Column("lease_until", EpochTime),
    Column("enqueued_at", EpochTime),
    Column("next_send_at", EpochTime),
    Column("sends", Integer, nullable=False, default=0),
    Column("found", Integer),
    Column("new", Integer),
    Column("duplicates", Integer),
    Column("near_duplicates", Integer),
    Column("failed", Integer),
    Column("unplaced", Integer),
)

# Every time bytes arrived: the first drop of a content queues it, later ones are duplicates.
drops = Table(
    "drops",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sha256", String(64), nullable=False, index=True),
    Column("name", Text, nullable=False),
    Column("dropped_at", EpochTime, nullable=False),
    Column("outcome", String(16), nullable=False),  # queued | duplicate
    # the inbox file's "dev:ino:size:mtime_ns": the same file taken again after a crash resumes
    # its drop instead of making a second one
    Column("identity", String(96), unique=True),
    Column("destination", Text),  # where a duplicate drop goes in processed/, chosen once
)

articles = Table(
    "articles",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("image_caption", Text),
    Column("image_credit", Text),
    Column("lead", Text),
    Column("language", String(8)),
    Column("word_count", Integer),
    Column("reading_time_s", Integer),
    Column("entities", json_column_type()),
    Column("countries", json_column_type()),
    Column("keywords", json_column_type()),
    Column("quotes", json_column_type()),
    Column("duplicate_of", String(64), index=True),
    Column("similarity", Float),
    # The file that first brought this text: makes a file's "new" count the same after a crash.
    Column("first_sha256", String(64), nullable=False),
    Column("ingested_at", IsoTime, nullable=False),
    Column("pipeline_version", String(40), nullable=False),
    Column("first_index", Integer, nullable=False),  # its position in that file
    # {enricher: "ExceptionType: message"} for enrichers that failed on it, SQL NULL when none did
    # (none_as_null: `IS NULL` finds the clean ones; `reenrich --failed` the others)
    Column("enrich_errors", json_column_type(none_as_null=True)),
)

sources = Table(
    "sources",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("idx", Integer, primary_key=True),  # article's position in the dump
    Column("article_id", String(64), ForeignKey("articles.id"), nullable=False),
    Column("file", Text, nullable=False),
    Column("line", Integer, nullable=False),
)

Index("ix_sources_article", sources.c.article_id)
Index("ix_articles_order", articles.c.ingested_at, articles.c.first_sha256, articles.c.first_index)

# The near-duplicate index (worker/store/near.py), written in the same transaction as the articles
# it indexes: one MinHash signature per indexed article, and one row per LSH band of it.
minhashes = Table(
    "minhashes",
    metadata,
    # a small surrogate key: the band rows, 40 per article, refer to 8 bytes instead of 64
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("article_id", String(64), nullable=False, unique=True),
    Column("signature", LargeBinary, nullable=False),  # num_perm little-endian uint32
)

lsh_bands = Table(
    "lsh_bands",
    metadata,
    Column("band_key", BigInteger, primary_key=True),  # signed 64-bit blake2b of a band's rows
    Column("seq", BigInteger, primary_key=True),  # minhashes.seq
    sqlite_with_rowid=False,  # the primary key's b-tree is the table: no second copy
)

# What the index was built with (name "near_dup_config": NearDupConfig.fingerprint).
index_meta = Table(
    "index_meta",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("value", Text, nullable=False),
)

# The transactional outbox (worker/outbox.py): the publish that stores new records writes their
# announcements in the same transaction, numbered in commit order (publishes are serialized by
# near.lock); a relay delivers them and moves its destination's cursor past them.
outbox = Table(
    "outbox",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("article_id", String(64), nullable=False),
    Column("file", Text, nullable=False),  # the file that brought it (as dropped)
    Column("created_at", EpochTime, nullable=False),
)

# How far each destination (the Redis stream, the webhook) has delivered: every seq up to
# ``last_seq`` is sent. A crash between a delivery and this update re-delivers: at least once.
outbox_cursors = Table(
    "outbox_cursors",
    metadata,
    Column("destination", Text, primary_key=True),
    Column("last_seq", BigInteger, nullable=False),
    Column("updated_at", EpochTime, nullable=False),
)
