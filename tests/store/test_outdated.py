"""A store made by an older newsingest is refused at once, with a message that says so."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from worker.store.db import create_store_engine
from worker.store.migrate import OutdatedStoreError


def test_a_store_without_this_versions_columns_is_refused(tmp_path: Path) -> None:
    """A pre-0.2.0 ledger (no lease heartbeat columns, no moves) fails at open, not mid-publish:
    there is no migration from it."""
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE files (sha256 VARCHAR(64) PRIMARY KEY, name TEXT NOT NULL, path TEXT "
            "NOT NULL, size INTEGER NOT NULL, state VARCHAR(16) NOT NULL, attempts INTEGER NOT "
            "NULL, task_id VARCHAR(64), lease_until FLOAT, enqueued_at FLOAT, created_at FLOAT "
            "NOT NULL, updated_at FLOAT NOT NULL)"
        )
    with pytest.raises(OutdatedStoreError, match=r"files\.moves"):
        create_store_engine(f"sqlite:///{path}")


def test_a_fresh_store_opens(tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'new.sqlite'}")
    engine.dispose()
