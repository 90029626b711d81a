"""Tests for worker/store/store.py on a real SQLite file: the ledger and the article records."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.dumps import BRIDGE, HARBOUR, LIBRARY, ORCHARD
from tests.helpers_unit import record, sha, sqlite_store
from worker.models import Source
from worker.store import Store
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


def _publish(store: Store, sha256: str, name: str, records, **kw):
    args = {"failed": 0, "unplaced": 0, "encoding": "utf-8", "final_path": None, **kw}
    return store.publish(sha256, name, records, **args)


def _set(store: Store, sha256: str, **values) -> None:
    with store.engine.begin() as conn:
        conn.execute(files.update().where(files.c.sha256 == sha256).values(**values))


class TestClaim:
    def test_first_drop_is_queued(self, store: Store):
        """The first drop of a content makes a queued ledger row and a queued drop."""
        claim = store.claim(SHA_A, "a.txt", "/work/a", 12)
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
        store.claim(SHA_A, "a.txt", "/work/a", 12)
        claim = store.claim(SHA_A, "copy.txt", "/work/a", 12)
        assert claim.outcome == "duplicate"
        assert claim.file["name"] == "a.txt"
        assert _count(store, files) == 1
        assert _drops(store) == [(SHA_A, "a.txt", "queued"), (SHA_A, "copy.txt", "duplicate")]

    def test_moves_flag_recorded(self, store: Store):
        """``moves=False`` (ingest in place) is kept on the row."""
        assert store.claim(SHA_A, "a.txt", "/x/a.txt", 1, moves=False).file["moves"] == 0
        assert store.claim(SHA_B, "b.txt", "/x/b.txt", 1).file["moves"] == 1


class TestStart:
    def test_takes_queued_file_once(self, store: Store):
        """A queued file is taken once: processing, attempts 1, the task id and a lease."""
        store.claim(SHA_A, "a.txt", "/work/a", 1)
        before = time.time()
        row = store.start(SHA_A, "task-1", lease_seconds=60)
        assert row is not None
        assert (row["state"], row["attempts"], row["task_id"]) == ("processing", 1, "task-1")
        assert before + 60 <= row["lease_until"] <= time.time() + 60
        assert store.start(SHA_A, "task-2", lease_seconds=60) is None
        assert store.get_file(SHA_A)["task_id"] == "task-1"

    def test_unknown_file_is_none(self, store: Store):
        """Starting a file that was never claimed gives None."""
        assert store.start(SHA_A, "t", 60) is None

    def test_takes_over_after_lease_expires(self, store: Store):
        """Once the lease runs out, another task takes the file over, attempts counted."""
        store.claim(SHA_A, "a.txt", "/work/a", 1)
        store.start(SHA_A, "task-1", lease_seconds=0.05)
        assert store.start(SHA_A, "task-2", lease_seconds=60) is None
        time.sleep(0.1)
        row = store.start(SHA_A, "task-2", lease_seconds=60)
        assert row is not None
        assert (row["state"], row["attempts"], row["task_id"]) == ("processing", 2, "task-2")

    def test_takes_over_stored_file_in_its_state(self, store: Store, monkeypatch):
        """A file left ``stored`` with an expired lease is taken over still ``stored``."""
        store.claim(SHA_A, "a.txt", "/work/a", 1)
        store.start(SHA_A, "task-1", lease_seconds=10)
        _publish(store, SHA_A, "a.txt", [record(HARBOUR, SHA_A, "a.txt")])
        assert store.start(SHA_A, "task-2", 10) is None
        now = time.time()
        monkeypatch.setattr(time, "time", lambda: now + 11)
        row = store.start(SHA_A, "task-2", 10)
        assert (row["state"], row["attempts"], row["task_id"]) == ("stored", 2, "task-2")

    def test_renew_extends_the_lease(self, store: Store):
        """A renewed lease keeps another task out after the first lease would have run out."""
        store.claim(SHA_A, "a.txt", "/work/a", 1)
        store.start(SHA_A, "task-1", lease_seconds=0.05)
        store.renew(SHA_A, 60)
        time.sleep(0.1)
        assert store.start(SHA_A, "task-2", 60) is None

    @pytest.mark.parametrize("final", ["done", "failed"])
    def test_finished_file_is_none(self, store: Store, final: str):
        """A done or failed file is never started again, lease or not."""
        store.claim(SHA_A, "a.txt", "/work/a", 1)
        store.start(SHA_A, "task-1", lease_seconds=0.01)
        if final == "done":
            store.mark_done(SHA_A)
        else:
            store.mark_failed(SHA_A, {"code": "x"}, "/failed/a.txt")
        time.sleep(0.02)
        assert store.start(SHA_A, "task-2", 60) is None
        row = store.get_file(SHA_A)
        assert (row["state"], row["lease_until"]) == (final, None)


class TestPublish:
    def test_publish_stores_records_and_counts(self, store: Store):
        """Publishing a new file stores every record and marks the row stored with its counts."""
        store.claim(SHA_A, "a.txt", "/work/a", 1)
        records = [record(HARBOUR, SHA_A, "a.txt", 0, 1), record(ORCHARD, SHA_A, "a.txt", 1, 20)]
        counts = _publish(store, SHA_A, "a.txt", records, failed=1, unplaced=2, final_path="/p/a")
        assert (counts.found, counts.new, counts.duplicates) == (3, 2, 0)
        row = store.get_file(SHA_A)
        assert (row["state"], row["found"], row["new"], row["duplicates"]) == ("stored", 3, 2, 0)
        assert (row["failed"], row["unplaced"], row["encoding"], row["final_path"]) == (
            1,
            2,
            "utf-8",
            "/p/a",
        )
        stored = list(store.iter_articles())
        assert [r.title for r in stored] == [HARBOUR.title, ORCHARD.title]
        assert stored[1].sources == [Source("a.txt", SHA_A, 1, 20)]

    def test_publish_twice_changes_nothing(self, store: Store):
        """A redelivered publish of the same records leaves the same rows and the same counts."""
        store.claim(SHA_A, "a.txt", "/work/a", 1)
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
        store.claim(SHA_A, "a.txt", "/work/a", 1)
        records = [record(HARBOUR, SHA_A, "a.txt", 0, 1), record(ORCHARD, SHA_A, "a.txt", 1, 20)]
        _publish(store, SHA_A, "a.txt", records[:1])
        counts = _publish(store, SHA_A, "a.txt", records)
        assert (counts.found, counts.new, counts.duplicates) == (2, 2, 0)

    def test_same_article_from_two_files(self, store: Store):
        """The same article in two files is one record with both sources; the second file
        counts it as a duplicate, not as new."""
        store.claim(SHA_A, "a.txt", "/work/a", 1)
        store.claim(SHA_B, "b.txt", "/work/b", 1)
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


class TestStatus:
    def test_counts(self, store: Store):
        """status() counts files by state, duplicate drops, articles, duplicates and failures."""
        store.claim(SHA_A, "a.txt", "/work/a", 1)
        store.claim(SHA_A, "a-again.txt", "/work/a", 1)
        store.claim(SHA_B, "b.txt", "/work/b", 1)
        sha_c = sha("file c")
        store.claim(sha_c, "c.txt", "/work/c", 1)
        _publish(store, SHA_A, "a.txt", [record(HARBOUR, SHA_A, "a.txt")])
        store.mark_done(SHA_A)
        _publish(
            store,
            SHA_B,
            "b.txt",
            [record(HARBOUR, SHA_B, "b.txt", 0), record(ORCHARD, SHA_B, "b.txt", 1)],
        )
        store.mark_failed(sha_c, {"code": "no_articles", "message": "none"}, "/failed/c.txt")
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


class TestDueForEnqueue:
    def test_stale_queued_and_expired_leases_are_due(self, store: Store):
        """Queued rows older than requeue_after and expired leases are due; fresh ones are not."""
        now = time.time()
        shas = {name: sha(name) for name in ("fresh", "stale", "live", "expired", "stored", "done")}
        for name, key in shas.items():
            store.claim(key, name, f"/work/{name}", 1)
        _set(store, shas["stale"], enqueued_at=now - 120)
        _set(store, shas["live"], state="processing", lease_until=now + 60)
        _set(store, shas["expired"], state="processing", lease_until=now - 1)
        _set(store, shas["stored"], state="stored", lease_until=now - 1)
        _set(store, shas["done"], state="done", lease_until=None, enqueued_at=now - 120)
        due = store.due_for_enqueue(requeue_after=60)
        assert sorted(due) == sorted([shas["stale"], shas["expired"], shas["stored"]])
        assert store.get_file(shas["stale"])["enqueued_at"] >= now

    def test_not_due_twice(self, store: Store):
        """A queued row just handed out is not handed out again by the next reconciler pass."""
        store.claim(SHA_A, "a.txt", "/work/a", 1)
        _set(store, SHA_A, enqueued_at=time.time() - 120)
        assert store.due_for_enqueue(requeue_after=60) == [SHA_A]
        assert store.due_for_enqueue(requeue_after=60) == []

    def test_requeue_resets_a_failed_file(self, store: Store):
        """requeue() puts a failed file back to queued, attempts 0, error cleared."""
        store.claim(SHA_A, "a.txt", "/work/a", 1)
        store.start(SHA_A, "t", 60)
        store.mark_failed(SHA_A, {"code": "x"}, "/failed/a")
        store.requeue(SHA_A)
        row = store.get_file(SHA_A)
        assert (row["state"], row["attempts"], row["error"]) == ("queued", 0, None)
