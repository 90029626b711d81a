"""Shared fixtures: real Redis and PostgreSQL for the integration tests, fresh for each session.

The servers are taken from ``NEWSINGEST_TEST_REDIS_URL`` / ``NEWSINGEST_TEST_POSTGRES_URL``
(default: the local ones). Without them, a throwaway Redis is started if ``redis-server`` exists;
otherwise the tests that need the server skip with the reason, except under CI (``CI`` set), where
they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import settings

# CI runs the property tests on a fixed set of examples: the same examples on every run, so a red
# build means a change broke them, not that the dice found something old. Locally they explore.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"
REDIS_URL = os.environ.get("NEWSINGEST_TEST_REDIS_URL", "redis://127.0.0.1:6379")
POSTGRES_URL = os.environ.get(
    "NEWSINGEST_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests build their own settings: none leak in from the developer's shell or config/."""
    for key in list(os.environ):
        if key.startswith("NEWSINGEST_") and not key.startswith("NEWSINGEST_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("NEWSINGEST_CONFIG", "/nonexistent/newsingest.toml")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the integration tests for real)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redis_alive(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a running Redis server (without a db number)."""
    if _redis_alive(REDIS_URL):
        yield REDIS_URL.rstrip("/")
        return
    binary = shutil.which("redis-server")
    if binary is None:
        _unavailable(f"no Redis at {REDIS_URL} and no redis-server binary to start one")
    port = _free_port()
    folder = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while not _redis_alive(url):
        if time.monotonic() > deadline:
            process.kill()
            _unavailable("a throwaway redis-server did not start")
        time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="session")
def redis_url(redis_server: str) -> Iterator[str]:
    """A Redis database no one else is using, flushed at the end of the session.

    Empty is not enough: a worker left over from another run still polls its database with
    nothing stored there, and would steal our messages. So the database must also have no client.
    """
    import redis

    admin = redis.Redis.from_url(redis_server)
    busy = {client["db"] for client in admin.client_list()}
    for db in range(15, 0, -1):
        client = redis.Redis.from_url(f"{redis_server}/{db}")
        # claim the db atomically: an empty, idle db gets our marker key, a used one is skipped
        if db not in busy and client.dbsize() == 0 and client.set("newsingest:test", "1", nx=True):
            break
    else:
        _unavailable("every Redis database 1-15 is in use")
    yield f"{redis_server}/{db}"
    client.flushdb()


@pytest.fixture(scope="session")
def postgres_server() -> str:
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("select 1"))
        engine.dispose()
    except sqlalchemy.exc.OperationalError as exc:
        _unavailable(f"no PostgreSQL at {POSTGRES_URL}: {exc.orig}")
    return POSTGRES_URL


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A store URL on a schema of its own, dropped afterwards: no state shared between tests."""
    import sqlalchemy

    schema = f"newsingest_test_{uuid.uuid4().hex[:10]}"
    engine = sqlalchemy.create_engine(postgres_server)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in postgres_server else "?"
    yield f"{postgres_server}{separator}options={quote(f'-csearch_path={schema}')}"
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture
def samples() -> Path:
    """The real dumps in ../shared/samples, for extra tests that skip when they are absent."""
    if not SAMPLES.is_dir():
        pytest.skip(f"sample dumps not found at {SAMPLES}")
    return SAMPLES
