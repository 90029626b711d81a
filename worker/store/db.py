"""Engine creation: one engine per process, tuned per backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, insert, make_url, text
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.schema import Table

from worker.store.migrate import ensure_current

# Several processes (watcher, workers, CLI) share one SQLite file: wait for a lock, don't fail.
_SQLITE_BUSY_TIMEOUT_MS = 30_000
# pg_advisory_xact_lock key taken while creating the schema (any fixed number does)
_SCHEMA_LOCK = 0x6E5F_7363_6865_6D61

# PostgreSQL session limits. A worker whose host vanishes mid-publish still holds the publish's
# advisory lock (near.lock, pg_advisory_xact_lock) and its row locks: every other publish waits
# until PostgreSQL ends that session, which without limits happens when TCP gives up, hours later.
# With these, the server ends it within a minute and everyone else's waits are bounded. What they
# raise is transient for driver.classify, so the work is retried, never failed: OperationalError
# (LockNotAvailable, QueryCanceled) and, for a session the server ended, InternalError (SQLSTATE
# 25P03) with ``connection_invalidated`` set. See tests/store/test_db_timeouts.py.
#
# A lock wait this long means the holder is stuck or gone: give up and retry later (backoff)
# rather than pile up. A publish holds the lock ~1-1.5 ms per article (docs/near-duplicates.md),
# under 0.3 s for a chunk of 200: 30 s is a queue of about a hundred publishes ahead.
PG_LOCK_TIMEOUT_S = 30.0
# No statement of ours runs this long in normal operation; one that does is stuck (or a plan gone
# wrong), and it would hold its locks while it runs. Bulk maintenance that may run longer
# (rebuild-index on a large store) must lift it for its own transaction: SET LOCAL.
PG_STATEMENT_TIMEOUT_S = 120.0
# A transaction waiting this long for its client's next statement: the client is gone (or hung).
# The server ends the session, which rolls back and releases its locks. Nothing of ours thinks
# for a minute inside a transaction: enrichment runs before the publish's transaction begins.
PG_IDLE_IN_TRANSACTION_TIMEOUT_S = 60.0
# libpq TCP keepalives, so that a worker whose database host vanished (no RST, no FIN) notices
# within ~1 min (idle 30 s + 3 probes 10 s apart) instead of the kernel's 2 h default, and a
# connection attempt to a vanished host gives up after 10 s instead of minutes of SYN retries.
PG_LIBPQ_PARAMS: dict[str, str] = {
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
    "connect_timeout": "10",
}
# Drivers built on libpq, which take ``options`` and the parameters above.
_LIBPQ_DRIVERS = frozenset({"psycopg", "psycopg2", "psycopg2cffi"})


def create_store_engine(
    url: str,
    *,
    lock_timeout_s: float | None = PG_LOCK_TIMEOUT_S,
    statement_timeout_s: float | None = PG_STATEMENT_TIMEOUT_S,
    idle_in_transaction_timeout_s: float | None = PG_IDLE_IN_TRANSACTION_TIMEOUT_S,
    migrate: bool = True,
    **kwargs: Any,
) -> Engine:
    """An engine for ``url`` with the schema created if missing, or migrated to this version's
    (``worker.store.migrate``).

    On PostgreSQL (libpq drivers: psycopg, psycopg2) every session gets ``lock_timeout``,
    ``statement_timeout`` and ``idle_in_transaction_session_timeout`` (seconds here; 0 disables
    one, None leaves the server's setting) and TCP keepalives, added to what the URL sets: the
    URL's own ``options`` (a ``search_path``, say) and libpq parameters are kept, and win over
    these defaults where they set the same thing. SQLite ignores these arguments.
    With ``migrate=False`` the schema is left as found (``newsingest migrate --check``).
    """
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
        parsed = make_url(url)
        if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in _LIBPQ_DRIVERS:
            settings = {
                "lock_timeout": lock_timeout_s,
                "statement_timeout": statement_timeout_s,
                "idle_in_transaction_session_timeout": idle_in_transaction_timeout_s,
            }
            parsed, connect_args = _libpq_session_args(
                parsed, settings, kwargs.pop("connect_args", {})
            )
            kwargs["connect_args"] = connect_args
        engine = create_engine(parsed, pool_pre_ping=True, **kwargs)
    if not migrate:
        return engine
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # N workers starting together on a fresh (or older) database would race to create
            # or migrate the same tables: one does it, the others wait, then find them current.
            # (SQLite: the BEGIN IMMEDIATE of every transaction is that lock.)
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
        ensure_current(conn)
    return engine


def _libpq_session_args(
    url: URL, settings: dict[str, float | None], connect_args: dict[str, Any]
) -> tuple[URL, dict[str, Any]]:
    """The URL with our session settings put before its own ``options`` and the caller's (a
    later ``-c`` wins in PostgreSQL) and our libpq parameters where neither the URL nor the caller
    set them; the caller's connect arguments without the ``options`` merged into the URL."""
    ours = [
        f"-c {name}={0 if seconds <= 0 else max(1, round(seconds * 1000))}"
        for name, seconds in settings.items()
        if seconds is not None
    ]
    from_url = url.query.get("options", ())
    theirs = [from_url] if isinstance(from_url, str) else list(from_url)
    rest = dict(connect_args)
    if "options" in rest:
        theirs.append(rest.pop("options"))
    query: dict[str, str] = {
        name: value
        for name, value in PG_LIBPQ_PARAMS.items()
        if name not in url.query and name not in rest
    }
    options = " ".join(ours + theirs)
    if options:
        query["options"] = options
    return url.update_query_dict(query), rest


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    dbapi_connection.isolation_level = None  # let the "begin" listener issue BEGIN itself
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; WAL keeps it consistent
    cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    # The near-duplicate index takes 40 rows an article under random keys: as it grows, every
    # commit dirties more pages, and a checkpoint (every 1,000 pages by default) writes them back.
    # Checkpointing every 10,000 pages lets a page rewritten by several commits be written back
    # once: growth over 100,000 articles 0.75x -> 0.77x (bench/ingest_throughput.py --growth
    # 100000). Not a bigger page cache: it is private to each connection of each process, and
    # would cost every worker child its size.
    cursor.execute("PRAGMA wal_autocheckpoint=10000")
    cursor.close()


def insert_ignore(engine: Engine, table: Table) -> Insert:
    """``INSERT … ON CONFLICT DO NOTHING`` in the engine's dialect: the idempotent write."""
    # the dialects are imported when used: a SQLite user's CLI never loads PostgreSQL's
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table).on_conflict_do_nothing()
    if engine.dialect.name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table).on_conflict_do_nothing()
    return insert(table).prefix_with("IGNORE")
