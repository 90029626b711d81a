"""Migrations carry a store forward intact (worker/store/migrate.py, worker/store/migrations/).

The 0.2.0 store here is made by 0.2.0 itself: its code, taken from this repository's history
(``git archive``), ingests our dumps into a real SQLite file or PostgreSQL schema, and leaves a
file queued in its ledger. This version then opens the store (migrating it) and must read back
every record exactly as 0.2.0 printed it, every ledger row, and go on: the queued file is sent
again, a dump ingested before is a duplicate, a new version of an old story is linked to it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text

from tests.dumps import HARBOUR, LIBRARY, ORCHARD, render_dump
from tests.history import code_at
from tests.stories_near import STORY_VERSIONS
from worker.store import Store
from worker.store import migrate as migrations
from worker.store.db import create_store_engine
from worker.store.schema import articles, chunks, drops, files
from worker.store.search import search_clause

ROOT = Path(__file__).resolve().parents[2]
# The last commit whose store is 0.2.0's (created by metadata.create_all, no migrations).
V020_COMMIT = "03c3135c6c06668cf199a47d9acb4c594e63fc60"
LEDGER_TABLES = (files, chunks, drops)
TIME_COLUMNS = {"lease_until", "enqueued_at", "next_send_at", "created_at", "updated_at"}
TIME_COLUMNS |= {"dropped_at"}


def test_head_is_alembics_head() -> None:
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory(str(migrations._MIGRATIONS))
    assert scripts.get_heads() == [migrations.HEAD]


@pytest.fixture(scope="module")
def v020_code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """0.2.0's ``worker`` package, from git history."""
    return code_at(V020_COMMIT, "0.2.0", tmp_path_factory.mktemp("v020"))


def test_revision_0001_makes_exactly_the_tables_of_020(
    v020_code: Path, tmp_path: Path, store_url_factory: Any
) -> None:
    """0001 is a frozen copy of 0.2.0's schema.py: the same tables, columns, types and indexes
    as 0.2.0's ``create_all`` on the same backend."""
    old_url, new_url = store_url_factory(), store_url_factory()
    script = (
        "import sys; from sqlalchemy import create_engine; "
        "from worker.store.schema import metadata; "
        f"assert sys.modules['worker'].__file__.startswith({str(v020_code)!r}); "
        f"metadata.create_all(create_engine({old_url!r}))"
    )
    subprocess.run(
        [sys.executable, "-c", script], env=_old_env(v020_code), cwd=v020_code, check=True
    )
    engine = create_store_engine(new_url, migrate=False)
    with engine.begin() as conn:
        from alembic import command

        command.upgrade(migrations._config(conn), "0001")
    assert _shape(create_engine(old_url)) == _shape(engine)


def _shape(engine: Any) -> dict[str, Any]:
    from sqlalchemy import inspect

    inspector = inspect(engine)
    shape = {}
    for table in sorted(set(inspector.get_table_names()) - {"alembic_version"}):
        shape[table] = (
            [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
            sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table)
            ),
            sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)),
            inspector.get_pk_constraint(table)["constrained_columns"],
        )
    engine.dispose()
    return shape


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Fresh store URLs (SQLite files, or PostgreSQL schemas of their own) on one backend."""
    if request.param == "sqlite":
        made = iter(range(100))
        yield lambda: f"sqlite:///{tmp_path / f'store-{next(made)}.sqlite'}"
        return
    server = request.getfixturevalue("postgres_server")
    import uuid
    from urllib.parse import quote

    admin = create_engine(server)
    schemas: list[str] = []

    def make() -> str:
        schemas.append(f"newsingest_test_{uuid.uuid4().hex[:10]}")
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schemas[-1]}"'))
        separator = "&" if "?" in server else "?"
        return f"{server}{separator}options={quote(f'-csearch_path={schemas[-1]}')}"

    yield make
    with admin.begin() as conn:
        for schema in schemas:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _old_env(v020_code: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSINGEST_")}
    env.update(PYTHONPATH=str(v020_code), NEWSINGEST_CONFIG="/nonexistent/newsingest.toml")
    env.update({f"NEWSINGEST_{k.upper()}": v for k, v in settings.items()})
    return env


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv], env=env, cwd=cwd, capture_output=True, text=True, timeout=600
    )


def test_a_020_store_full_of_records_is_carried_forward_intact(
    v020_code: Path, tmp_path: Path, store_url_factory: Any
) -> None:
    url = store_url_factory()
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    story, version = STORY_VERSIONS[0][0], STORY_VERSIONS[0][1]
    (dumps / "one.txt").write_text(render_dump([HARBOUR, ORCHARD, story]), encoding="utf-8")
    (dumps / "two.txt").write_text(render_dump([ORCHARD, LIBRARY]), encoding="utf-8")
    (dumps / "broken.txt").write_bytes(b"\x00\x01binary\x00" * 50)  # fails: an error in JSON
    pending = dumps / "pending.txt"
    pending.write_text(render_dump([STORY_VERSIONS[1][0]]), encoding="utf-8")
    settings = {"store_url": url, "data_dir": str(tmp_path / "data"), "log_format": "json"}
    old = _old_env(v020_code, **settings)

    ingested = _run(
        ["-m", "worker", "ingest", "--json"]
        + [str(dumps / name) for name in ("one.txt", "two.txt", "broken.txt")],
        old,
        v020_code,
    )
    assert ingested.returncode == 1, ingested.stderr[-3000:]  # broken.txt failed, as it should
    claim = (
        "import sys; from worker.store import Store; "
        f"assert sys.modules['worker'].__file__.startswith({str(v020_code)!r}); "
        f"Store.from_url({url!r}).ledger.claim({_sha256(pending)!r}, 'pending.txt', "
        f"{str(pending)!r}, {pending.stat().st_size})"
    )
    assert _run(["-c", claim], old, v020_code).returncode == 0
    listed = _run(["-m", "worker", "articles", "--all"], old, v020_code)
    assert listed.returncode == 0, listed.stderr[-3000:]
    records_020 = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(records_020) == 4  # harbour, orchard, the ferry story, library
    status_020 = json.loads(_run(["-m", "worker", "status", "--json"], old, v020_code).stdout)
    raw = create_engine(url)
    with raw.connect() as conn:
        ledger_020 = {t.name: _rows(conn, f"SELECT * FROM {t.name}") for t in LEDGER_TABLES}
        assert "alembic_version" not in _tables(conn)
    raw.dispose()

    store = Store.from_url(url)  # this version: migrates
    try:
        with store.engine.connect() as conn:
            assert migrations.current_revision(conn) == migrations.HEAD
            ledger_now = {
                t.name: [dict(r) for r in conn.execute(select(t)).mappings()] for t in LEDGER_TABLES
            }
        assert [dataclasses.asdict(r) for r in store.iter_articles(include_duplicates=True)] == (
            records_020
        )
        for table, rows in ledger_020.items():
            _assert_same_rows(ledger_now[table], rows, table)
        now = store.status()
        for key in ("files", "duplicate_files", "articles", "near_duplicates", "exact_duplicates"):
            assert now[key] == status_020[key], key
        assert [f["code"] for f in now["recent_failures"]] == [
            f["code"] for f in status_020["recent_failures"]
        ]
        # it goes on: the queued file is due again, full-text search sees the old records
        due = store.ledger.due(0.0, broker_empty=True, lost_after=0.0)
        assert due.files == [_sha256(pending)]
        with store.engine.connect() as conn:
            found = conn.execute(
                select(articles.c.title).where(
                    search_clause(store.engine.dialect.name, "orchard OR library")
                )
            ).scalars()
            assert sorted(found) == sorted([ORCHARD.title, LIBRARY.title])
    finally:
        store.close()

    # and ingests on top: a dump seen before is a duplicate file, a new version of the ferry
    # story (stored by 0.2.0) is linked to it through the migrated near-duplicate index
    (dumps / "three.txt").write_text(render_dump([version]), encoding="utf-8")
    new_env = {k: v for k, v in old.items() if k != "PYTHONPATH"}
    again = _run(
        ["-m", "worker", "ingest", "--json", str(dumps / "one.txt"), str(dumps / "three.txt")],
        new_env,
        tmp_path,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    store = Store.from_url(url)
    try:
        linked = [r for r in store.iter_articles(include_duplicates=True) if r.duplicate_of]
        ferry = next(r for r in records_020 if r["title"] == story.title)
        assert [r.duplicate_of for r in linked] == [ferry["id"]]
        assert store.status()["duplicate_files"] == status_020["duplicate_files"] + 1
    finally:
        store.close()


def test_a_store_of_a_newer_version_is_refused(store_url_factory: Any) -> None:
    url = store_url_factory()
    engine = create_store_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(migrations.NewerStoreError, match="9999"):
        create_store_engine(url)
    # a command says so in one line and exits 2, no traceback
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSINGEST_")}
    env.update(NEWSINGEST_STORE_URL=url, NEWSINGEST_LOG_FORMAT="json")
    refused = _run(["-m", "worker", "status"], env, ROOT)
    assert refused.returncode == 2
    events = [json.loads(line) for line in refused.stderr.splitlines() if line.startswith("{")]
    assert [(e["event"], e["code"]) for e in events] == [("command.refused", "newer_store")]
    assert "Traceback" not in refused.stderr


def test_many_processes_opening_an_020_store_at_once_migrate_it_once(
    v020_code: Path, store_url_factory: Any, tmp_path: Path
) -> None:
    """Workers and the watcher starting together on an old store: one migrates under the lock,
    the others wait and find it current; nobody fails."""
    url = store_url_factory()
    script = (
        "from sqlalchemy import create_engine; from worker.store.schema import metadata; "
        f"metadata.create_all(create_engine({url!r}))"
    )
    subprocess.run(
        [sys.executable, "-c", script], env=_old_env(v020_code), cwd=v020_code, check=True
    )
    opener = (
        f"from worker.store.db import create_store_engine; create_store_engine({url!r}).dispose()"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSINGEST_")}
    env["NEWSINGEST_LOG_FORMAT"] = "json"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from worker.log import configure_logging; "
                "configure_logging('json', 'INFO'); " + opener,
            ],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 4, [err[-2000:] for _, err in outputs]
    migrated = [line for _, err in outputs for line in err.splitlines() if "store.migrated" in line]
    assert len(migrated) == 1, migrated
    assert json.loads(migrated[0])["applied"] == ["0002", "0003"]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tables(conn: Any) -> set[str]:
    from sqlalchemy import inspect

    return set(inspect(conn).get_table_names())


def _rows(conn: Any, sql: str) -> list[dict[str, Any]]:
    return [dict(row) for row in conn.execute(text(sql)).mappings()]


def _assert_same_rows(now: list[dict[str, Any]], before: list[dict[str, Any]], table: str) -> None:
    """The same rows, times within a microsecond (timestamptz's precision: PostgreSQL's
    to_timestamp and Python may round a half-microsecond apart), JSON parsed (0.2.0's
    PostgreSQL json comes back as text through a raw query)."""

    def key(row: dict[str, Any]) -> tuple[str, int, int]:  # the tables' primary keys
        return (row.get("sha256") or "", row.get("number") or 0, row.get("id") or 0)

    assert len(now) == len(before), table
    for new, old in zip(sorted(now, key=key), sorted(before, key=key), strict=True):
        assert new.keys() == old.keys(), table
        for column, value in old.items():
            if column in TIME_COLUMNS and value is not None:
                assert new[column] == pytest.approx(float(value), abs=1.5e-6), (table, column)
            elif column == "error" and isinstance(value, str):
                assert new[column] == json.loads(value), (table, column)
            else:
                assert new[column] == value, (table, column)
