"""Tests for worker/store/store.py on a real SQLite file: the article records, and the ledger
calls the store's users make (``store.ledger``; its invariants are ``test_ledger.py``'s)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from tests.dumps import BRIDGE, HARBOUR, LIBRARY, ORCHARD
from tests.helpers_unit import FakeClock, record, sha, sqlite_store
from worker.models import Source
from worker.store import LeaseLostError, Ledger, Store
from worker.store.schema import articles, drops, files, sources

SHA_A = sha("file a")
SHA_B = sha("file b")


@pytest.fixture
def store(tmp_path: Path):
    store = sqlite_store(tmp_path)
    yield store
    store.close()


def _drops(store: Store) -> list[tuple[str, str, str]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(drops.c.sha256, drops.c.name, drops.c.outcome).order_by(drops.c.id)
        )
        return [tuple(r) for r in rows]


def _count(store: Store, table) -> int:
    with store.engine.connect() as conn:
        return len(conn.execute(select(table)).all())


@pytest.fixture
def clock(store: Store) -> FakeClock:
    """The ledger's clock, moved by hand."""
    clock = FakeClock(1_000_000.0)
    store.ledger.clock = clock
    return clock


def _hold(store: Store, sha256: str, name: str, owner: str) -> None:
    """Claim (if new) and start the file as ``owner``, as a worker does before it publishes."""
    ledger = store.ledger
    if ledger.get_file(sha256) is None:
        ledger.claim(sha256, name, f"/work/{sha256}", 1)
    row = ledger.get_file(sha256)
    if row["task_id"] != owner or row["state"] not in ("processing", "stored"):
        assert ledger.start(sha256, owner, lease_seconds=60) is not None


def _publish(store: Store, sha256: str, name: str, records, owner: str = "task-1", **kw):
    _hold(store, sha256, name, owner)
    args = {"failed": 0, "unplaced": 0, "encoding": "utf-8", **kw}
    return store.publish(sha256, name, records, owner=owner, **args)


def _set(store: Store, sha256: str, **values) -> None:
    with store.engine.begin() as conn:
        conn.execute(files.update().where(files.c.sha256 == sha256).values(**values))


class TestClaim:
    def test_first_drop_is_queued(self, store: Store):
        """The first drop of a content makes a queued ledger row and a queued drop."""
        claim = store.ledger.claim(SHA_A, "a.txt", "/work/a", 12)
        assert claim.outcome == "queued"
        assert (claim.file["sha256"], claim.file["name"], claim.file["state"]) == (
            SHA_A,
            "a.txt",
            "queued",
        )
        assert claim.file["size"] == 12
        assert claim.file["attempts"] == 0
        assert _drops(store) == [(SHA_A, "a.txt", "queued")]

    def test_same_content_again_is_duplicate(self, store: Store):
        """The same bytes under another name are a duplicate: the row keeps the first name."""
        store.ledger.claim(SHA_A, "a.txt", "/work/a", 12)
        claim = store.ledger.claim(SHA_A, "copy.txt", "/work/a", 12)
        assert claim.outcome == "duplicate"
        assert claim.file["name"] == "a.txt"
        assert _count(store, files) == 1
        assert _drops(store) == [(SHA_A, "a.txt", "queued"), (SHA_A, "copy.txt", "duplicate")]

    def test_moves_flag_recorded(self, store: Store):
        """``moves=False`` (ingest in place) is kept on the row."""
        assert store.ledger.claim(SHA_A, "a.txt", "/x/a.txt", 1, moves=False).file["moves"] == 0
        assert store.ledger.claim(SHA_B, "b.txt", "/x/b.txt", 1).file["moves"] == 1


class TestStart:
    def test_takes_queued_file_once(self, store: Store, clock: FakeClock):
        """A queued file is taken once: processing, attempts 1, the task id and a lease."""
        store.ledger.claim(SHA_A, "a.txt", "/work/a", 1)
        row = store.ledger.start(SHA_A, "task-1", lease_seconds=60)
        assert row is not None
        assert (row["state"], row["attempts"], row["task_id"]) == ("processing", 1, "task-1")
        assert row["lease_until"] == clock.now + 60
        assert store.ledger.start(SHA_A, "task-2", lease_seconds=60) is None
        assert store.ledger.get_file(SHA_A)["task_id"] == "task-1"

    def test_unknown_file_is_none(self, store: Store):
        """Starting a file that was never claimed gives None."""
        assert store.ledger.start(SHA_A, "t", 60) is None

    def test_takes_over_after_lease_expires(self, store: Store, clock: FakeClock):
        """Once the lease runs out, another task takes the file over, attempts counted."""
        store.ledger.claim(SHA_A, "a.txt", "/work/a", 1)
        store.ledger.start(SHA_A, "task-1", lease_seconds=5)
        assert store.ledger.start(SHA_A, "task-2", lease_seconds=60) is None
        clock.now += 5.1
        row = store.ledger.start(SHA_A, "task-2", lease_seconds=60)
        assert row is not None
        assert (row["state"], row["attempts"], row["task_id"]) == ("processing", 2, "task-2")

    def test_takes_over_stored_file_in_its_state(self, store: Store, clock: FakeClock):
        """A file left ``stored`` with an expired lease is taken over still ``stored``."""
        _publish(store, SHA_A, "a.txt", [record(HARBOUR, SHA_A, "a.txt")], owner="task-1")
        store.ledger.renew(SHA_A, "task-1", 10)
        assert store.ledger.start(SHA_A, "task-2", 10) is None
        clock.now += 11
        row = store.ledger.start(SHA_A, "task-2", 10)
        assert (row["state"], row["attempts"], row["task_id"]) == ("stored", 2, "task-2")

    def test_renew_extends_the_lease(self, store: Store, clock: FakeClock):
        """A renewed lease keeps another task out after the first lease would have run out."""
        store.ledger.claim(SHA_A, "a.txt", "/work/a", 1)
        store.ledger.start(SHA_A, "task-1", lease_seconds=5)
        assert store.ledger.renew(SHA_A, "task-1", 60)
        clock.now += 10
        assert store.ledger.start(SHA_A, "task-2", 60) is None

    @pytest.mark.parametrize("final", ["done", "failed"])
    def test_finished_file_is_none(self, store: Store, clock: FakeClock, final: str):
        """A done or failed file is never started again, lease or not."""
        _publish(store, SHA_A, "a.txt", [record(HARBOUR, SHA_A, "a.txt")], owner="task-1")
        if final == "done":
            assert store.ledger.finish(SHA_A, "task-1")
        else:
            assert store.ledger.fail(SHA_A, {"code": "x"}, "/failed/a.txt")
        clock.now += 120
        assert store.ledger.start(SHA_A, "task-2", 60) is None
        row = store.ledger.get_file(SHA_A)
        assert (row["state"], row["lease_until"]) == (final, None)


class TestPublish:
    def test_publish_stores_records_and_counts(self, store: Store):
        """Publishing a new file stores every record and marks the row stored with its counts.
        (Where the file goes is no longer the publish's business: ``final_path`` is chosen when
        it moves, see ``Ledger.choose_final_path``.)"""
        records = [record(HARBOUR, SHA_A, "a.txt", 0, 1), record(ORCHARD, SHA_A, "a.txt", 1, 20)]
        counts = _publish(store, SHA_A, "a.txt", records, failed=1, unplaced=2)
        assert (counts.new, counts.duplicates, counts.failed, counts.unplaced) == (2, 0, 1, 2)
        row = store.ledger.get_file(SHA_A)
        assert (row["state"], row["found"], row["new"], row["duplicates"]) == (
            "stored",
            counts.found,
            2,
            0,
        )
        assert (row["failed"], row["unplaced"], row["encoding"], row["final_path"]) == (
            1,
            2,
            "utf-8",
            None,
        )
        assert row["task_id"] == "task-1"
        stored = list(store.iter_articles())
        assert [r.title for r in stored] == [HARBOUR.title, ORCHARD.title]
        assert stored[1].sources == [Source("a.txt", SHA_A, 1, 20)]

    def test_publish_twice_changes_nothing(self, store: Store):
        """A redelivered publish of the same records leaves the same rows and the same counts."""
        records = [record(HARBOUR, SHA_A, "a.txt", 0, 1), record(BRIDGE, SHA_A, "a.txt", 1, 30)]
        first = _publish(store, SHA_A, "a.txt", records)
        snapshot = [(r.id, r.title, r.sources) for r in store.iter_articles()]
        second = _publish(store, SHA_A, "a.txt", records)
        assert first == second
        assert (second.new, second.duplicates) == (2, 0)
        assert [(r.id, r.title, r.sources) for r in store.iter_articles()] == snapshot
        assert (_count(store, articles), _count(store, sources)) == (2, 2)

    def test_crash_after_partial_publish_counts_as_new(self, store: Store):
        """If an earlier attempt stored some articles before dying, they still count as new."""
        records = [record(HARBOUR, SHA_A, "a.txt", 0, 1), record(ORCHARD, SHA_A, "a.txt", 1, 20)]
        _publish(store, SHA_A, "a.txt", records[:1])
        counts = _publish(store, SHA_A, "a.txt", records)
        assert (counts.found, counts.new, counts.duplicates) == (2, 2, 0)

    def test_same_article_from_two_files(self, store: Store):
        """The same article in two files is one record with both sources; the second file
        counts it as a duplicate, not as new."""
        a = _publish(store, SHA_A, "a.txt", [record(HARBOUR, SHA_A, "a.txt", 0, 1)])
        b = _publish(
            store,
            SHA_B,
            "b.txt",
            [record(LIBRARY, SHA_B, "b.txt", 0, 1), record(HARBOUR, SHA_B, "b.txt", 1, 9)],
        )
        assert (a.new, a.duplicates) == (1, 0)
        assert (b.found, b.new, b.duplicates) == (2, 1, 1)
        harbour = next(r for r in store.iter_articles() if r.title == HARBOUR.title)
        assert harbour.sources == sorted(
            [Source("a.txt", SHA_A, 0, 1), Source("b.txt", SHA_B, 1, 9)], key=lambda s: s.sha256
        )
        assert _count(store, articles) == 2
        # republishing the first file later still says its article is new: it brought it first
        assert _publish(store, SHA_A, "a.txt", [record(HARBOUR, SHA_A, "a.txt", 0, 1)]).new == 1

    def test_first_record_wins(self, store: Store):
        """An article already stored is not overwritten by a later file's record."""
        first = record(HARBOUR, SHA_A, "a.txt")
        later = record(HARBOUR, SHA_B, "b.txt")
        later.image_caption = "changed"
        _publish(store, SHA_A, "a.txt", [first])
        _publish(store, SHA_B, "b.txt", [later])
        (stored,) = store.iter_articles()
        assert stored.image_caption == HARBOUR.caption_line

    def test_publish_by_a_task_that_does_not_hold_the_file_is_refused(self, store: Store):
        """Only the lease holder publishes: another owner's publish raises LeaseLostError and
        stores nothing, not even the articles (one transaction)."""
        _hold(store, SHA_A, "a.txt", "task-1")
        with pytest.raises(LeaseLostError):
            _publish_as(store, SHA_A, "a.txt", [record(HARBOUR, SHA_A, "a.txt")], "intruder")
        assert (_count(store, articles), _count(store, sources)) == (0, 0)
        assert store.ledger.get_file(SHA_A)["state"] == "processing"

    def test_store_has_one_ledger_on_its_engine(self, store: Store):
        """The ledger methods live on ``store.ledger``, sharing the store's engine."""
        assert isinstance(store.ledger, Ledger)
        assert store.ledger.engine is store.engine
        assert not hasattr(store, "claim")


def _publish_as(store: Store, sha256: str, name: str, records, owner: str):
    """A publish without taking the file first."""
    return store.publish(sha256, name, records, owner=owner, failed=0, unplaced=0, encoding="utf-8")


class TestIterArticles:
    @pytest.fixture
    def filled(self, store: Store) -> Store:
        canonical = record(HARBOUR, SHA_A, "a.txt", 0, 1, ingested_at="2024-01-01T00:00:00+00:00")
        near = record(ORCHARD, SHA_A, "a.txt", 1, 20, ingested_at="2024-01-01T00:00:00+00:00")
        near.duplicate_of, near.similarity = canonical.id, 0.8
        other = record(BRIDGE, SHA_B, "b.txt", 0, 1, ingested_at="2024-01-02T00:00:00+00:00")
        _publish(store, SHA_A, "a.txt", [canonical, near])
        _publish(store, SHA_B, "b.txt", [other])
        return store

    def test_canonical_only_by_default(self, filled: Store):
        """Without include_duplicates, records marked duplicate_of are left out, in ingest order."""
        assert [r.title for r in filled.iter_articles()] == [HARBOUR.title, BRIDGE.title]

    def test_include_duplicates(self, filled: Store):
        """include_duplicates lists every record, in ingest then file order."""
        got = [
            (r.title, r.duplicate_of is not None)
            for r in filled.iter_articles(include_duplicates=True)
        ]
        assert got == [(HARBOUR.title, False), (ORCHARD.title, True), (BRIDGE.title, False)]

    def test_by_article_id(self, filled: Store):
        """article_id gives that record and the records that are duplicates of it."""
        harbour_id = record(HARBOUR, SHA_A, "a.txt").id
        got = list(filled.iter_articles(article_id=harbour_id))
        assert [r.title for r in got] == [HARBOUR.title, ORCHARD.title]
        assert got[1].similarity == pytest.approx(0.8)
        bridge_id = record(BRIDGE, SHA_B, "b.txt").id
        assert [r.title for r in filled.iter_articles(article_id=bridge_id)] == [BRIDGE.title]
        assert list(filled.iter_articles(article_id="0" * 64)) == []

    def test_limit(self, filled: Store):
        """limit gives the first records in the same order, and 0 gives none."""
        assert [r.title for r in filled.iter_articles(include_duplicates=True, limit=2)] == [
            HARBOUR.title,
            ORCHARD.title,
        ]
        assert list(filled.iter_articles(limit=0)) == []

    def test_pages_keep_each_record_with_its_own_sources(
        self, filled: Store, monkeypatch: pytest.MonkeyPatch
    ):
        """Read a page at a time (here one record a page), every record still has exactly its
        sources: the same as one page for all."""
        whole = [(r.id, r.sources) for r in filled.iter_articles(include_duplicates=True)]
        import worker.store.store as store_module

        monkeypatch.setattr(store_module, "_PAGE", 1)
        paged = [(r.id, r.sources) for r in filled.iter_articles(include_duplicates=True)]
        assert paged == whole
        assert [len(sources) for _, sources in paged] == [1, 1, 1]


class TestStatus:
    def test_counts(self, store: Store):
        """status() counts files by state, duplicate drops, articles, duplicates and failures."""
        ledger = store.ledger
        ledger.claim(SHA_A, "a.txt", "/work/a", 1)
        ledger.claim(SHA_A, "a-again.txt", "/work/a", 1)
        ledger.claim(SHA_B, "b.txt", "/work/b", 1)
        sha_c = sha("file c")
        ledger.claim(sha_c, "c.txt", "/work/c", 1)
        _publish(store, SHA_A, "a.txt", [record(HARBOUR, SHA_A, "a.txt")], owner="t-a")
        assert ledger.finish(SHA_A, "t-a")
        _publish(
            store,
            SHA_B,
            "b.txt",
            [record(HARBOUR, SHA_B, "b.txt", 0), record(ORCHARD, SHA_B, "b.txt", 1)],
        )
        ledger.fail(sha_c, {"code": "no_articles", "message": "none"}, "/failed/c.txt")
        status = store.status()
        assert status["files"] == {
            "queued": 0,
            "processing": 0,
            "split": 0,
            "stored": 1,
            "done": 1,
            "failed": 1,
        }
        assert status["duplicate_files"] == 1
        assert status["articles"] == 2
        assert status["exact_duplicates"] == 1
        assert status["near_duplicates"] == 0
        assert status["recent_failures"] == [
            {
                "file": "c.txt",
                "sha256": sha_c,
                "code": "no_articles",
                "message": "none",
                "path": "/failed/c.txt",
            }
        ]

    def test_empty_store(self, store: Store):
        """A fresh store reports zeros for every state."""
        status = store.status()
        assert status["files"] == dict.fromkeys(
            ("queued", "processing", "split", "stored", "done", "failed"), 0
        )
        assert (status["articles"], status["exact_duplicates"], status["recent_failures"]) == (
            0,
            0,
            [],
        )


class TestDue:
    """``Ledger.due`` (was ``Store.due_for_enqueue``). A queued row is now due when its own
    ``next_send_at`` has come (per-row backoff), not ``requeue_after`` after ``enqueued_at``."""

    def test_stale_queued_and_expired_leases_are_due(self, store: Store, clock: FakeClock):
        """Queued rows whose next send time came and expired leases are due; fresh ones, live
        leases and finished files are not."""
        now = clock.now
        shas = {name: sha(name) for name in ("fresh", "stale", "live", "expired", "stored", "done")}
        for name, key in shas.items():
            store.ledger.claim(key, name, f"/work/{name}", 1)
        _set(store, shas["stale"], enqueued_at=now - 120, next_send_at=now - 1)
        _set(store, shas["live"], state="processing", lease_until=now + 60, next_send_at=None)
        _set(store, shas["expired"], state="processing", lease_until=now - 1, next_send_at=None)
        _set(store, shas["stored"], state="stored", lease_until=now - 1, next_send_at=None)
        _set(store, shas["done"], state="done", lease_until=None, next_send_at=now - 120)
        due = store.ledger.due(requeue_after=60)
        assert sorted(due.files) == sorted([shas["stale"], shas["expired"], shas["stored"]])
        assert due.chunks == []
        stale = store.ledger.get_file(shas["stale"])
        assert (stale["enqueued_at"], stale["sends"], stale["next_send_at"]) == (now, 1, now + 60)

    def test_not_due_twice(self, store: Store, clock: FakeClock):
        """A queued row just handed out is not handed out again by the next reconciler pass."""
        store.ledger.claim(SHA_A, "a.txt", "/work/a", 1)
        _set(store, SHA_A, next_send_at=clock.now - 1)
        assert store.ledger.due(requeue_after=60).files == [SHA_A]
        assert store.ledger.due(requeue_after=60).files == []

    def test_requeue_resets_a_failed_file(self, store: Store):
        """requeue() puts a failed file back to queued, attempts 0, error cleared."""
        store.ledger.claim(SHA_A, "a.txt", "/work/a", 1)
        store.ledger.start(SHA_A, "t", 60)
        store.ledger.fail(SHA_A, {"code": "x"}, "/failed/a")
        assert store.ledger.requeue(SHA_A)
        row = store.ledger.get_file(SHA_A)
        assert (row["state"], row["attempts"], row["error"]) == ("queued", 0, None)
