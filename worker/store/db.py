"""Engine creation: one engine per process, tuned per backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, insert, make_url, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.schema import Table

from worker.store.schema import metadata

# Several processes (watcher, workers, CLI) share one SQLite file: wait for a lock, don't fail.
_SQLITE_BUSY_TIMEOUT_MS = 30_000
# pg_advisory_xact_lock key taken while creating the schema (any fixed number does)
_SCHEMA_LOCK = 0x6E5F_7363_6865_6D61


def create_store_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` with the schema created if missing."""
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; we want a write lock taken at BEGIN so
        # that two writers queue on the busy timeout instead of failing on lock upgrade.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    else:
        # A worker process uses one connection at a time; a small pool keeps N containers x
        # concurrency within PostgreSQL's max_connections.
        kwargs = {"pool_size": 2, "max_overflow": 4, **kwargs}
        engine = create_engine(url, pool_pre_ping=True, **kwargs)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # N workers starting together on a fresh database would race to create the same
            # tables (duplicate pg_type rows): one creates them, the others wait, then find them.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
        metadata.create_all(conn)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    dbapi_connection.isolation_level = None  # let the "begin" listener issue BEGIN itself
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; WAL keeps it consistent
    cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def insert_ignore(engine: Engine, table: Table) -> Insert:
    """``INSERT … ON CONFLICT DO NOTHING`` in the engine's dialect: the idempotent write."""
    if engine.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if engine.dialect.name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    return insert(table).prefix_with("IGNORE")
