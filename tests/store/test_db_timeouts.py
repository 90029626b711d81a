"""PostgreSQL session limits of worker/store/db.py, on the real server: a worker that vanished
mid-publish cannot hold the publish lock for long, and what the others see is transient."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy
from sqlalchemy import make_url, text
from sqlalchemy.engine import Engine

from worker.driver import classify
from worker.store import near
from worker.store.db import (
    PG_IDLE_IN_TRANSACTION_TIMEOUT_S,
    PG_LOCK_TIMEOUT_S,
    PG_STATEMENT_TIMEOUT_S,
    create_store_engine,
)


@pytest.fixture
def engines():
    """Engines made by a test, disposed at its end (each holds pooled connections)."""
    made: list[Engine] = []

    def make(url: str, **kwargs) -> Engine:
        engine = create_store_engine(url, **kwargs)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.dispose()


def _schema(url: str) -> str:
    return make_url(url).query["options"].removeprefix("-csearch_path=")


def _show(conn: sqlalchemy.Connection, name: str) -> str:
    return conn.execute(text(f"SHOW {name}")).scalar_one()


def test_defaults_are_set_and_the_urls_search_path_still_applies(postgres_url: str, engines):
    """Every session gets the three timeouts and keepalives, and the fixture's
    ``options=-csearch_path=...`` is merged, not replaced: the schema lands where the URL says."""
    engine = engines(postgres_url)
    schema = _schema(postgres_url)
    with engine.connect() as conn:
        assert _show(conn, "search_path") == schema
        assert _show(conn, "lock_timeout") == f"{PG_LOCK_TIMEOUT_S:.0f}s"
        assert _show(conn, "statement_timeout") == f"{PG_STATEMENT_TIMEOUT_S / 60:.0f}min"
        assert _show(conn, "idle_in_transaction_session_timeout") == (
            f"{PG_IDLE_IN_TRANSACTION_TIMEOUT_S / 60:.0f}min"
        )
        tables = conn.execute(
            text("SELECT count(*) FROM information_schema.tables WHERE table_schema = :s"),
            {"s": schema},
        ).scalar_one()
        assert tables > 0  # create_all ran in the URL's schema
        params = conn.connection.dbapi_connection.info.get_parameters()
        assert params["keepalives"] == "1"
        assert params["keepalives_idle"] == "30"
        assert params["keepalives_count"] == "3"


def test_the_urls_own_settings_win(postgres_url: str, engines):
    """A ``-c`` in the URL's options and a libpq parameter in its query are the user's choice:
    they win over our defaults, and our other settings still apply."""
    url = make_url(postgres_url)
    url = url.update_query_dict(
        {"options": url.query["options"] + " -c statement_timeout=5s", "keepalives_idle": "7"}
    )
    engine = engines(url.render_as_string(hide_password=False))
    with engine.connect() as conn:
        assert _show(conn, "statement_timeout") == "5s"
        assert _show(conn, "search_path") == _schema(postgres_url)
        assert _show(conn, "lock_timeout") == f"{PG_LOCK_TIMEOUT_S:.0f}s"
        assert conn.connection.dbapi_connection.info.get_parameters()["keepalives_idle"] == "7"


def test_none_leaves_the_servers_setting(postgres_url: str, engines):
    engine = engines(postgres_url, statement_timeout_s=None, lock_timeout_s=0)
    with engine.connect() as conn:
        assert _show(conn, "statement_timeout") == "0"
        assert _show(conn, "lock_timeout") == "0"
        assert _show(conn, "search_path") == _schema(postgres_url)


@pytest.mark.timeout(60)
def test_a_held_publish_lock_fails_a_waiter_within_the_lock_timeout(postgres_url: str, engines):
    """One worker holds the publish lock (and then hangs); another's publish gives up after the
    lock timeout, with an error the driver retries (transient), not one that fails the file."""
    holder = engines(postgres_url)
    waiter = engines(postgres_url, lock_timeout_s=1)
    with holder.begin() as held:
        near.lock(held)
        started = time.monotonic()
        with pytest.raises(sqlalchemy.exc.OperationalError) as caught, waiter.begin() as conn:
            near.lock(conn)
        waited = time.monotonic() - started
    assert 0.9 < waited < 10
    assert type(caught.value.orig).__name__ == "LockNotAvailable"
    assert classify(caught.value) == "transient"
    with waiter.begin() as conn:  # released with the holder's transaction: taken at once
        near.lock(conn)


@pytest.mark.timeout(60)
def test_a_long_statement_is_cancelled_and_transient(postgres_url: str, engines):
    engine = engines(postgres_url, statement_timeout_s=1)
    started = time.monotonic()
    with pytest.raises(sqlalchemy.exc.OperationalError) as caught, engine.connect() as conn:
        conn.execute(text("SELECT pg_sleep(30)"))
    assert time.monotonic() - started < 10
    assert type(caught.value.orig).__name__ == "QueryCanceled"
    assert classify(caught.value) == "transient"


@pytest.mark.timeout(60)
def test_an_idle_transaction_is_ended_and_its_lock_released(postgres_url: str, engines):
    """A worker that took the publish lock and then went silent (its host vanished): the server
    ends its session after the idle-in-transaction timeout, which releases the lock for the
    others; the silent worker, if it ever comes back, gets a transient error."""
    gone = engines(postgres_url, idle_in_transaction_timeout_s=1)
    other = engines(postgres_url, lock_timeout_s=10)
    conn = gone.connect()
    transaction = conn.begin()
    near.lock(conn)
    pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    # the other worker waits for the lock, and gets it once the server ended the silent session
    got_lock = threading.Event()

    def wait_for_lock() -> None:
        with other.begin() as waiting:
            near.lock(waiting)
            got_lock.set()

    started = time.monotonic()
    thread = threading.Thread(target=wait_for_lock)
    thread.start()
    thread.join(timeout=15)
    assert got_lock.is_set()
    assert time.monotonic() - started < 8
    with other.connect() as check:
        alive = check.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
        ).scalar_one()
    assert alive == 0
    # PostgreSQL reports it as SQLSTATE 25P03, which psycopg maps to InternalError, not
    # OperationalError; the connection is dead though, so SQLAlchemy marks it invalidated
    with pytest.raises(sqlalchemy.exc.DBAPIError) as caught:
        conn.execute(text("SELECT 1"))
    assert caught.value.connection_invalidated
    assert classify(caught.value) == "transient"
    transaction.rollback()
    conn.close()
