"""Ledger races found in review, on a real SQLite file and on a real PostgreSQL schema: a chunk's
hand-back that erased a counted crash, and a reconciler pass that wrote a re-send onto a row a
worker had just started.

Each store here has an engine of its own (another process), and time is a fake clock handed to
the ledger: leases run out without sleeping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from tests.helpers_unit import FakeClock, sha
from worker.store import ChunkPlan, Ledger, Store
from worker.store.db import create_store_engine

LEASE = 30.0
REQUEUE_AFTER = 300.0
RECONCILE_TICK = 5.0
A = sha("content a")
B = sha("content b")


@pytest.fixture(
    params=[
        pytest.param("sqlite"),
        pytest.param("postgresql", marks=pytest.mark.integration),
    ]
)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.sqlite"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def open_store(url: str, clock: FakeClock) -> Iterator[Callable[[], Store]]:
    """Opens stores on the same database, each with its own engine (another process), all on
    the fake clock; closed at the end."""
    opened: list[Store] = []

    def make() -> Store:
        store = Store.from_url(url)
        store.ledger = Ledger(store.engine, clock=clock)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def ledger(open_store: Callable[[], Store]) -> Ledger:
    return open_store().ledger


def _one_chunk(path: str) -> list[ChunkPlan]:
    return [
        ChunkPlan(
            number=0,
            part_path=path,
            part_label="",
            encoding="utf-8",
            start_offset=0,
            end_offset=None,
            first_index=0,
            first_line=1,
            articles=5,
        )
    ]


class TestChunkAttempts:
    def test_a_chunk_retried_after_a_hand_back_counts_its_attempt_like_a_file(
        self, ledger: Ledger
    ) -> None:
        """A chunk started, handed back after a store blip and started again by the holder's own
        Celery retry has one attempt, as a file run through the same steps has: the hand-back
        gave the first attempt back, so the retry's start from ``queued`` must count one."""
        ledger.claim(A, "big.txt", f"/work/{A}", 10)
        assert ledger.start(A, "splitter", LEASE) is not None
        ledger.split(A, "splitter", _one_chunk(f"/work/{A}"), "utf-8")
        first = ledger.start_chunk(A, 0, "task-x", LEASE, retries=0)
        assert first is not None and first["attempts"] == 1
        assert ledger.release_chunk(A, 0, "task-x", 2.0)  # a store blip: handed back
        retried = ledger.start_chunk(A, 0, "task-x", LEASE, retries=1)  # the Celery retry
        assert retried is not None

        ledger.claim(B, "small.txt", f"/work/{B}", 10)  # the same steps on a whole file
        started = ledger.start(B, "task-y", LEASE, 0)
        assert started is not None and started["attempts"] == 1
        assert ledger.release(B, "task-y", 2.0)
        again = ledger.start(B, "task-y", LEASE, 1)
        assert again is not None

        assert (retried["attempts"], again["attempts"]) == (1, 1)


class TestDueRace:
    def test_a_file_started_during_due_keeps_its_fast_recovery(
        self, url: str, open_store: Callable[[], Store], clock: FakeClock
    ) -> None:
        """A worker whose ``start`` commits between the reconciler's select and its update keeps
        its row free of the re-send's ``sends``/``next_send_at``, so when that worker dies its
        file is due again one lease and one reconciler tick later, not after ``requeue_after``.

        On PostgreSQL the select takes no row lock and the start commits in between; a ``due``
        that locks the row (or SQLite, where ``due`` holds the write lock from its BEGIN) makes
        the start wait, and it then runs right after ``due``: the outcome must be the same."""
        watcher = open_store()
        # the worker gives up on a row lock at once instead of waiting for the watcher's commit
        worker = Ledger(create_store_engine(url, lock_timeout_s=0.1), clock=clock)
        watcher.ledger.claim(A, "a.txt", f"/work/{A}", 1, first_send_after=0)
        meanwhile: list[str] = []

        def start_in_between(conn, cursor, statement, parameters, context, executemany) -> None:
            if meanwhile or not statement.lstrip().upper().startswith("UPDATE FILES"):
                return
            if conn.dialect.name == "sqlite":  # due() holds the write lock: start comes after
                meanwhile.append("after")
                return
            try:
                assert worker.start(A, "task-1", LEASE) is not None  # commits meanwhile
                meanwhile.append("between")
            except OperationalError:  # the row is locked until due() commits
                meanwhile.append("after")

        event.listen(watcher.engine, "before_cursor_execute", start_in_between)
        try:
            watcher.ledger.due(REQUEUE_AFTER, broker_empty=False)
        finally:
            event.remove(watcher.engine, "before_cursor_execute", start_in_between)
        try:
            assert meanwhile, "due() did not update the files table"
            if meanwhile == ["after"]:
                assert worker.start(A, "task-1", LEASE) is not None
            row = worker.get_file(A)
            assert row is not None
            assert (row["state"], row["task_id"]) == ("processing", "task-1")
            assert (row["sends"], row["next_send_at"]) == (0, None), (
                f"due() marked a started row as re-sent ({meanwhile[0]} its select and update)"
            )
            clock.advance(LEASE + RECONCILE_TICK + 1)  # the worker was killed; its lease ran out
            again = watcher.ledger.due(REQUEUE_AFTER, broker_empty=False)  # a backlog: not empty
            assert again.files == [A], "a dead worker's file not re-sent after lease + tick"
        finally:
            worker.engine.dispose()
