"""The store's schema version, and bringing a store up to it (Alembic, ``migrations/``).

Every process that opens the store (watcher, worker, CLI) calls :func:`ensure_current` under the
schema lock: a new store is made by running every migration, a store at an older revision is
upgraded, a store made by 0.2.0 (no ``alembic_version``, the tables of ``0001``) is stamped
``0001`` and upgraded, and a store of a newer newsingest is refused. The check when nothing is to
do is one query, with no Alembic import: ``status`` stays fast.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, inspect, text

from worker.errors import ConfigurationError
from worker.log import get_logger

log = get_logger("newsingest.store")
# Alembic's own INFO lines ("setup plugin ...", "Running upgrade ...") are not our events:
# store.migrated is. Set before any import of alembic, which logs some.
logging.getLogger("alembic").setLevel(logging.WARNING)

# The newest revision in migrations/versions (tests/store/test_migrate.py checks it is Alembic's
# head). Bump it with every new revision.
HEAD = "0003"
_MIGRATIONS = Path(__file__).with_name("migrations")
# Columns a store made by 0.2.0 has (the tables of revision 0001): such a store is stamped 0001.
_V020_MARKERS = {"files": "moves", "articles": "enrich_errors", "chunks": "first_line"}


class OutdatedStoreError(ConfigurationError):
    """The store was made by a newsingest older than 0.2.0: there is no migration from it."""

    code = "outdated_store"
    hint = (
        "this store was made by a newsingest older than 0.2.0; keep it with that version, or "
        "move the data folder (or database) aside and ingest the dumps again"
    )


class NewerStoreError(ConfigurationError):
    """The store was migrated by a newer newsingest than this one."""

    code = "newer_store"
    hint = "upgrade newsingest on this machine (the store was migrated by a newer version)"


def current_revision(conn: Connection) -> str | None:
    """The store's revision: None for an empty database, "0001" for an unstamped 0.2.0 store."""
    tables = set(inspect(conn).get_table_names())
    if "alembic_version" in tables:
        found = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        if found is not None:
            return str(found)
    if "files" not in tables:
        return None
    return _unstamped_revision(conn, tables)


def ensure_current(conn: Connection) -> list[str]:
    """Bring the store on ``conn`` (in a transaction holding the schema lock) to ``HEAD``;
    return the revisions applied (empty when it was current)."""
    revision = current_revision(conn)
    if revision == HEAD:
        return []
    if revision is not None and revision not in _known_revisions():
        raise NewerStoreError(f"the store is at revision {revision}, newer than this newsingest")
    return upgrade(conn, revision)


def upgrade(conn: Connection, revision: str | None) -> list[str]:
    """Run the migrations from ``revision`` (None: an empty database) to ``HEAD``."""
    from alembic import command

    started = time.perf_counter()
    config = _config(conn)
    if revision is not None and "alembic_version" not in inspect(conn).get_table_names():
        command.stamp(config, revision)  # a 0.2.0 store: its tables are those of 0001
    applied = _path(revision)
    command.upgrade(config, HEAD)
    log.info(
        "store.migrated",
        backend=conn.dialect.name,
        from_revision=revision,
        to_revision=HEAD,
        applied=applied,
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return applied


def _unstamped_revision(conn: Connection, tables: set[str]) -> str:
    inspector = inspect(conn)
    for table, marker in _V020_MARKERS.items():
        if table not in tables or marker not in {c["name"] for c in inspector.get_columns(table)}:
            raise OutdatedStoreError(f"the store lacks {table}.{marker} (made before 0.2.0)")
    return "0001"


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return {script.revision for script in ScriptDirectory(str(_MIGRATIONS)).walk_revisions()}


def _path(revision: str | None) -> list[str]:
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory(str(_MIGRATIONS))
    return [
        script.revision
        for script in reversed(list(scripts.iterate_revisions(HEAD, revision or "base")))
        if script.revision != revision
    ]


def _config(conn: Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = conn
    return config
