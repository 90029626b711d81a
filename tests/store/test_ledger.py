"""The ledger's invariants (worker/store/ledger.py's docstring), one class each, on a real SQLite
file and on a real PostgreSQL schema. Each test tries to break its invariant: racing owners (each
with an engine of its own, as two processes have), late holders, repeated and lost messages.

Time is a fake clock handed to the ledger (``Ledger(engine, clock=...)``): leases run out and
backoffs come due without sleeping.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from tests.dumps import BRIDGE, HARBOUR, LIBRARY, ORCHARD, render_dump
from tests.helpers_unit import FakeClock, record, sha
from worker import faults
from worker.store import ChunkPlan, LeaseLostError, Ledger, PublishCounts, Store
from worker.store.schema import articles, drops, files, minhashes, sources
from worker.watch.inbox import FileTaker

LEASE = 30.0
REQUEUE_AFTER = 300.0
A = sha("content a")
B = sha("content b")
STORIES = [HARBOUR, ORCHARD, BRIDGE, LIBRARY]


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
def store(open_store: Callable[[], Store]) -> Store:
    return open_store()


@pytest.fixture
def ledger(store: Store) -> Ledger:
    return store.ledger


def _claim(ledger: Ledger, sha256: str, *, moves: bool = True, **kw: Any):
    return ledger.claim(sha256, f"{sha256[:6]}.txt", f"/work/{sha256}", 10, moves=moves, **kw)


def _plans(count: int) -> list[ChunkPlan]:
    return [
        ChunkPlan(
            number=n,
            part_path="/work/part",
            part_label="",
            encoding="utf-8",
            start_offset=n * 100,
            end_offset=(n + 1) * 100,
            first_index=n,
            first_line=1 + n * 10,
            articles=1,
        )
        for n in range(count)
    ]


def _split(ledger: Ledger, sha256: str, count: int, owner: str = "splitter") -> None:
    """A claimed file taken by ``owner`` and split into ``count`` one-article chunks."""
    _claim(ledger, sha256)
    assert ledger.start(sha256, owner, LEASE) is not None
    ledger.split(sha256, owner, _plans(count), "utf-8")


def _publish(store: Store, sha256: str, owner: str, index: int = 0, *, chunk: int | None = None):
    """Publish one article (``STORIES[index]``) of ``sha256`` as ``owner``."""
    records = [record(STORIES[index], sha256, "f.txt", index=index)]
    return store.publish(
        sha256,
        "f.txt",
        records,
        owner=owner,
        failed=0,
        unplaced=0,
        encoding="utf-8",
        chunk=chunk,
        index_range=None if chunk is None else (index, index + 1),
        lease_seconds=LEASE,
    )


def _count(store: Store, table: Any) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def _set(store: Store, sha256: str, **values: Any) -> None:
    with store.engine.begin() as conn:
        conn.execute(update(files).where(files.c.sha256 == sha256).values(**values))


def _race(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(0)`` … ``work(count - 1)`` in threads released at the same moment."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    if errors:
        raise errors[0]
    return results


class Crash(BaseException):
    """The process dies at a fault point (a BaseException: no ``except Exception`` stops it)."""


@contextlib.contextmanager
def crash_at(monkeypatch: pytest.MonkeyPatch, name: str) -> Iterator[None]:
    def point(reached: str) -> None:
        if reached == name:
            raise Crash(reached)

    with monkeypatch.context() as patch:
        patch.setattr(faults, "point", point)
        with pytest.raises(Crash):
            yield


class TestBytesBeforeClaims:
    """Invariant 1: a live watched row always has its bytes at ``path``."""

    @staticmethod
    def _claims_have_bytes(ledger: Ledger) -> None:
        for state in ("queued", "processing", "split", "stored"):
            for row in ledger.files_in_state(state):
                if row["moves"]:
                    assert Path(row["path"]).is_file(), (state, row["path"])

    @pytest.mark.parametrize("point", ["take.after_copy", "claim.after_commit", "take.after_move"])
    def test_a_take_killed_anywhere_leaves_no_claim_without_bytes(
        self, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str
    ):
        """The watcher dies at each point of a take: every claim it left has its bytes, and
        taking the file again (if it is still in the inbox) makes one row and one drop."""
        inbox, work = tmp_path / "inbox", tmp_path / "work"
        inbox.mkdir()
        data = render_dump([HARBOUR]).encode()
        (inbox / "d.txt").write_bytes(data)
        sent: list[str] = []
        taker = FileTaker(store, inbox, work, tmp_path / "processed", sent.append)
        with crash_at(monkeypatch, point):
            taker.take(inbox / "d.txt")
        self._claims_have_bytes(store.ledger)
        if (inbox / "d.txt").exists():
            assert taker.take(inbox / "d.txt") == "queued"
            assert sent == [sha(data)]
        self._claims_have_bytes(store.ledger)
        assert (_count(store, files), _count(store, drops)) == (1, 1)
        assert (work / sha(data)).read_bytes() == data
        # whatever was not sent is sent by the reconciler when the watcher starts again
        due = store.ledger.due(REQUEUE_AFTER, broker_empty=True, lost_after=0.0)
        assert due.files == [sha(data)]


class TestOneDropPerArrival:
    """Invariant 2: one drop row per arrival; the same inbox file claimed again resumes it."""

    def test_same_identity_claimed_twice_resumes_its_drop(self, store: Store, ledger: Ledger):
        first = _claim(ledger, A, identity="1:2:10:99")
        again = _claim(ledger, A, identity="1:2:10:99")
        assert (first.outcome, first.resumed) == ("queued", False)
        assert (again.outcome, again.resumed, again.drop_id) == ("queued", True, first.drop_id)
        assert (_count(store, files), _count(store, drops)) == (1, 1)

    def test_a_resumed_duplicate_keeps_its_destination(self, store: Store, ledger: Ledger):
        _claim(ledger, A, identity="1:1:10:1")
        dup = _claim(ledger, A, identity="1:2:10:2")
        assert dup.outcome == "duplicate"
        assert ledger.set_drop_destination(dup.drop_id, "/p/a.txt") == "/p/a.txt"
        again = _claim(ledger, A, identity="1:2:10:2")
        assert (again.outcome, again.resumed, again.drop_id, again.destination) == (
            "duplicate",
            True,
            dup.drop_id,
            "/p/a.txt",
        )
        assert _count(store, drops) == 2

    def test_an_identity_reused_by_other_bytes_is_a_new_drop(self, store: Store, ledger: Ledger):
        """The same inode, size and mtime with other bytes (a rewrite the clock missed): a new
        drop of the new content; the identity then belongs to it alone."""
        first = _claim(ledger, A, identity="1:2:10:99")
        second = _claim(ledger, B, identity="1:2:10:99")
        assert (second.outcome, second.resumed) == ("queued", False)
        assert second.drop_id != first.drop_id
        with store.engine.connect() as conn:
            owners = conn.execute(
                select(drops.c.id).where(drops.c.identity == "1:2:10:99")
            ).scalars()
            assert list(owners) == [second.drop_id]
        assert _claim(ledger, B, identity="1:2:10:99").drop_id == second.drop_id

    def test_claim_reports_queued_exactly_once(self, store: Store, ledger: Ledger):
        """Five drops of one content: queued once, then duplicates (PostgreSQL with SQLAlchemy
        2.1 reports rowcount -1 for ON CONFLICT DO NOTHING, which once made every drop
        "queued"; the claim now reads RETURNING)."""
        outcomes = [_claim(ledger, A, identity=f"1:{i}:10:1").outcome for i in range(5)]
        assert outcomes == ["queued"] + ["duplicate"] * 4
        assert (_count(store, files), _count(store, drops)) == (1, 5)

    def test_concurrent_claims_of_one_content_queue_it_once(self, open_store):
        """Four processes claim the same bytes at the same moment: one job."""
        stores = [open_store() for _ in range(4)]
        outcomes = _race(4, lambda i: _claim(stores[i].ledger, A, identity=f"9:{i}:10:1").outcome)
        assert sorted(outcomes) == ["duplicate"] * 3 + ["queued"]
        assert (_count(stores[0], files), _count(stores[0], drops)) == (1, 4)

    def test_sizes_past_2_gib_are_kept(self, ledger: Ledger):
        """``files.size`` is a BigInteger now: dumps over 2 GiB exist."""
        size = 5 * 2**30 + 7
        ledger.claim(A, "huge.txt", "/work/huge", size)
        assert ledger.get_file(A)["size"] == size


class TestLeasesAreHeartbeats:
    """Invariant 3: one holder at a time; a holder that lost its lease can change nothing."""

    def test_two_owners_racing_start_one_wins(self, open_store):
        stores = [open_store(), open_store()]
        for round_ in range(5):
            key = sha(f"race {round_}")
            _claim(stores[0].ledger, key)
            rows = _race(2, lambda i: stores[i].ledger.start(key, f"owner-{i}", LEASE))  # noqa: B023
            winners = [i for i, row in enumerate(rows) if row is not None]
            assert len(winners) == 1, rows
            row = stores[0].ledger.get_file(key)
            assert (row["state"], row["task_id"], row["attempts"]) == (
                "processing",
                f"owner-{winners[0]}",
                1,
            )

    def test_two_owners_racing_a_takeover_one_wins(self, open_store, clock: FakeClock):
        stores = [open_store(), open_store()]
        _claim(stores[0].ledger, A)
        stores[0].ledger.start(A, "died", LEASE)
        clock.advance(LEASE + 1)
        rows = _race(2, lambda i: stores[i].ledger.start(A, f"owner-{i}", LEASE))
        assert sum(row is not None for row in rows) == 1
        assert stores[0].ledger.get_file(A)["attempts"] == 2

    def test_a_live_lease_keeps_others_out_and_renewing_keeps_it_live(
        self, ledger: Ledger, clock: FakeClock
    ):
        _claim(ledger, A)
        ledger.start(A, "holder", LEASE)
        clock.advance(LEASE - 1)
        assert ledger.start(A, "other", LEASE) is None
        assert ledger.renew(A, "holder", LEASE)
        clock.advance(LEASE - 1)  # past the first lease, within the renewed one
        assert ledger.start(A, "other", LEASE) is None
        assert ledger.get_file(A)["lease_until"] == clock.now + 1
        clock.advance(2)
        assert ledger.start(A, "other", LEASE) is not None

    def test_a_late_holder_cannot_renew_after_a_takeover(self, ledger: Ledger, clock: FakeClock):
        _claim(ledger, A)
        ledger.start(A, "late", LEASE)
        clock.advance(LEASE + 1)
        ledger.start(A, "new", LEASE)
        assert not ledger.renew(A, "late", LEASE)
        row = ledger.get_file(A)
        assert (row["task_id"], row["lease_until"]) == ("new", clock.now + LEASE)

    def test_a_late_holders_publish_rolls_back(self, store: Store, clock: FakeClock):
        """The late holder's publish raises LeaseLostError: no article, source or index row
        is written, and the row stays the new holder's."""
        ledger = store.ledger
        _claim(ledger, A)
        ledger.start(A, "late", LEASE)
        clock.advance(LEASE + 1)
        ledger.start(A, "new", LEASE)
        with pytest.raises(LeaseLostError):
            _publish(store, A, "late")
        assert [_count(store, t) for t in (articles, sources, minhashes)] == [0, 0, 0]
        row = ledger.get_file(A)
        assert (row["state"], row["task_id"], row["found"]) == ("processing", "new", None)

    def test_a_late_holder_cannot_overwrite_a_stored_file(self, store: Store, clock: FakeClock):
        """After the new holder stored the file, a late publish changes nothing either."""
        ledger = store.ledger
        _claim(ledger, A)
        ledger.start(A, "late", LEASE)
        clock.advance(LEASE + 1)
        ledger.start(A, "new", LEASE)
        _publish(store, A, "new", 0)
        with pytest.raises(LeaseLostError):
            _publish(store, A, "late", 1)
        assert [_count(store, t) for t in (articles, sources, minhashes)] == [1, 1, 1]
        row = ledger.get_file(A)
        assert (row["state"], row["task_id"], row["found"]) == ("stored", "new", 1)
        assert not ledger.finish(A, "late")
        assert ledger.finish(A, "new")

    def test_a_late_holder_cannot_split(self, ledger: Ledger, clock: FakeClock):
        _claim(ledger, A)
        ledger.start(A, "late", LEASE)
        clock.advance(LEASE + 1)
        ledger.start(A, "new", LEASE)
        with pytest.raises(LeaseLostError):
            ledger.split(A, "late", _plans(2), "utf-8")
        assert ledger.chunk_rows(A) == []
        assert ledger.get_file(A)["state"] == "processing"

    def test_a_late_chunk_holder_cannot_renew_or_store(self, store: Store, clock: FakeClock):
        ledger = store.ledger
        _split(ledger, A, 2)
        assert ledger.start_chunk(A, 0, "late", LEASE) is not None
        assert ledger.start_chunk(A, 0, "new", LEASE) is None  # its lease is live
        clock.advance(LEASE + 1)
        assert ledger.start_chunk(A, 0, "new", LEASE) is not None
        assert not ledger.renew_chunk(A, 0, "late", LEASE)
        with pytest.raises(LeaseLostError):
            _publish(store, A, "late", 0, chunk=0)
        assert [_count(store, t) for t in (articles, sources, minhashes)] == [0, 0, 0]
        chunk = ledger.chunk_rows(A)[0]
        assert (chunk["state"], chunk["task_id"], chunk["attempts"]) == ("processing", "new", 2)
        assert ledger.renew_chunk(A, 0, "new", LEASE)

    def test_the_holders_own_retry_takes_the_lease_back_at_once(self, ledger: Ledger):
        _claim(ledger, A)
        ledger.start(A, "task", LEASE, retries=0)
        assert ledger.start(A, "other", LEASE) is None
        row = ledger.start(A, "task", LEASE, retries=1)
        assert row is not None
        assert (row["task_id"], row["task_retries"]) == ("task", 1)

    def test_a_split_file_is_held_through_its_chunks(self, ledger: Ledger, clock: FakeClock):
        """Nobody takes a split file, however long it waits (its chunks are the work); its
        splitter's heartbeat still says held, and leaves a lease that tells a second `ingest`
        that the first still runs."""
        _split(ledger, A, 2, owner="splitter")
        clock.advance(10 * LEASE)
        assert ledger.start(A, "other", LEASE) is None
        assert ledger.renew(A, "splitter", LEASE)
        row = ledger.get_file(A)
        assert row["state"] == "split"
        assert row["lease_until"] == clock() + LEASE


class TestAttemptsCountCrashes:
    """Invariant 4: ``attempts`` counts starts that were not clean hand-backs."""

    def test_own_retry_counts_no_attempt(self, ledger: Ledger):
        _claim(ledger, A)
        assert ledger.start(A, "task", LEASE, retries=0)["attempts"] == 1
        assert ledger.start(A, "task", LEASE, retries=1)["attempts"] == 1
        assert ledger.start(A, "task", LEASE, retries=2)["attempts"] == 1

    def test_a_redelivery_counts_an_attempt(self, ledger: Ledger):
        """The same message again (same task id and retry number): its worker died with it."""
        _claim(ledger, A)
        ledger.start(A, "task", LEASE, retries=0)
        assert ledger.start(A, "task", LEASE, retries=0)["attempts"] == 2

    def test_a_takeover_after_the_lease_ran_out_counts_an_attempt(
        self, ledger: Ledger, clock: FakeClock
    ):
        _claim(ledger, A)
        ledger.start(A, "died", LEASE)
        clock.advance(LEASE + 1)
        assert ledger.start(A, "next", LEASE)["attempts"] == 2
        clock.advance(LEASE + 1)
        assert ledger.start(A, "next-2", LEASE, retries=5)["attempts"] == 3

    def test_release_gives_the_attempt_back(self, ledger: Ledger, clock: FakeClock):
        """Transient errors and their retries, many more than max_attempts: never more than
        the one attempt in use."""
        _claim(ledger, A)
        for retry in range(10):
            assert ledger.start(A, "task", LEASE, retries=retry)["attempts"] == 1
            assert ledger.release(A, "task", retry_in=2.0)
            row = ledger.get_file(A)
            assert (row["state"], row["attempts"]) == ("queued", 0)
            assert row["next_send_at"] == clock.now + 2.0
            clock.advance(3)

    def test_release_of_stored_work_keeps_it_stored(self, store: Store, clock: FakeClock):
        """Released after its articles were committed (the move failed): still ``stored``,
        lease run out, sent again after ``retry_in``."""
        ledger = store.ledger
        _claim(ledger, A)
        ledger.start(A, "task", LEASE)
        _publish(store, A, "task")
        assert ledger.release(A, "task", retry_in=10.0)
        row = ledger.get_file(A)
        assert (row["state"], row["attempts"], row["lease_until"]) == ("stored", 0, clock.now)
        assert ledger.due(REQUEUE_AFTER).files == []
        clock.advance(10)
        assert ledger.due(REQUEUE_AFTER).files == [A]

    def test_a_non_holder_cannot_release(self, ledger: Ledger):
        _claim(ledger, A)
        ledger.start(A, "holder", LEASE)
        assert not ledger.release(A, "other", retry_in=1.0)
        row = ledger.get_file(A)
        assert (row["state"], row["attempts"], row["task_id"]) == ("processing", 1, "holder")

    def test_chunks_count_the_same_way(self, ledger: Ledger, clock: FakeClock):
        _split(ledger, A, 2)
        assert ledger.start_chunk(A, 0, "c", LEASE, retries=0)["attempts"] == 1
        assert ledger.start_chunk(A, 0, "c", LEASE, retries=1)["attempts"] == 1  # own retry
        assert ledger.start_chunk(A, 0, "c", LEASE, retries=1)["attempts"] == 2  # redelivery
        assert ledger.release_chunk(A, 0, "c", retry_in=1.0)
        chunk = ledger.chunk_rows(A)[0]
        assert (chunk["state"], chunk["attempts"]) == ("queued", 1)
        assert ledger.start_chunk(A, 0, "d", LEASE)["attempts"] == 2
        clock.advance(LEASE + 1)
        assert ledger.start_chunk(A, 0, "e", LEASE)["attempts"] == 3  # takeover
        assert not ledger.release_chunk(A, 0, "d", retry_in=1.0)


class TestLastChunkFinishesTheFile:
    """Invariant 5: the publish of the last chunk makes the file ``stored``, held by its task."""

    def test_the_last_chunk_flips_the_file_held_by_its_owner(self, store: Store, clock: FakeClock):
        ledger = store.ledger
        _split(ledger, A, 3)
        for n in range(2):
            ledger.start_chunk(A, n, f"c-{n}", LEASE)
            counts = _publish(store, A, f"c-{n}", n, chunk=n)
            assert not counts.file_complete
            row = ledger.get_file(A)
            assert (row["state"], row["task_id"]) == ("split", "splitter")
        clock.advance(5)
        ledger.start_chunk(A, 2, "c-2", LEASE, retries=1)
        counts = _publish(store, A, "c-2", 2, chunk=2)
        assert counts == PublishCounts(found=3, new=3, duplicates=0, file_complete=True)
        row = ledger.get_file(A)
        assert (row["state"], row["task_id"], row["task_retries"], row["lease_until"]) == (
            "stored",
            "c-2",
            0,
            clock.now + LEASE,
        )
        assert (row["found"], row["new"], row["encoding"]) == (3, 3, "utf-8")
        assert [c["state"] for c in ledger.chunk_rows(A)] == ["stored"] * 3
        assert ledger.finish(A, "c-2")

    def test_a_crash_after_the_flip_leaves_a_lease_that_runs_out(
        self, store: Store, clock: FakeClock
    ):
        ledger = store.ledger
        _split(ledger, A, 2)
        for n in range(2):
            ledger.start_chunk(A, n, f"c-{n}", LEASE)
            _publish(store, A, f"c-{n}", n, chunk=n)
        # c-1 dies here, before its move: the file is stored, held by a dead task
        assert ledger.due(REQUEUE_AFTER, broker_empty=True).files == []
        assert ledger.start(A, "other", LEASE) is None
        clock.advance(LEASE + 1)
        assert ledger.due(REQUEUE_AFTER).files == [A]
        row = ledger.start(A, "other", LEASE)
        assert (row["state"], row["task_id"]) == ("stored", "other")
        assert ledger.finish(A, "other")

    def test_two_last_chunks_stored_at_once_finish_the_file_once(self, open_store):
        stores = [open_store(), open_store()]
        _split(stores[0].ledger, A, 2)
        for n in range(2):
            stores[n].ledger.start_chunk(A, n, f"c-{n}", LEASE)
        results = _race(2, lambda n: _publish(stores[n], A, f"c-{n}", n, chunk=n))
        complete = [n for n, counts in enumerate(results) if counts.file_complete]
        assert len(complete) == 1, results
        row = stores[0].ledger.get_file(A)
        assert (row["state"], row["task_id"], row["found"]) == ("stored", f"c-{complete[0]}", 2)

    def test_a_stored_chunk_is_never_taken_again(self, store: Store, clock: FakeClock):
        ledger = store.ledger
        _split(ledger, A, 2)
        ledger.start_chunk(A, 0, "c-0", LEASE)
        _publish(store, A, "c-0", 0, chunk=0)
        clock.advance(10 * LEASE)
        assert ledger.start_chunk(A, 0, "c-0", LEASE, retries=3) is None
        assert ledger.start_chunk(A, 0, "other", LEASE) is None

    def test_chunks_of_a_file_that_is_not_split_are_not_taken(self, ledger: Ledger):
        _split(ledger, A, 2)
        assert ledger.fail(A, {"code": "x"}, None)
        assert ledger.start_chunk(A, 0, "c", LEASE) is None


class TestDestinationsChosenOnce:
    """Invariant 6: ``final_path`` and a duplicate drop's ``destination`` are set once."""

    def test_the_first_choice_is_kept(self, ledger: Ledger):
        _claim(ledger, A)
        assert ledger.choose_final_path(A, "/p/a.txt") == "/p/a.txt"
        assert ledger.choose_final_path(A, "/p/a.0123.txt") == "/p/a.txt"
        assert ledger.get_file(A)["final_path"] == "/p/a.txt"

    def test_only_the_current_choice_can_be_replaced(self, ledger: Ledger):
        """``replacing`` a place that is not the current one (a stale view) changes nothing."""
        _claim(ledger, A)
        ledger.choose_final_path(A, "/p/a.txt")
        assert ledger.choose_final_path(A, "/p/b.txt", replacing="/p/other.txt") == "/p/a.txt"
        assert ledger.choose_final_path(A, "/p/b.txt", replacing="/p/a.txt") == "/p/b.txt"
        assert ledger.choose_final_path(A, "/p/c.txt", replacing="/p/a.txt") == "/p/b.txt"

    def test_racing_choices_agree(self, open_store):
        stores = [open_store(), open_store()]
        _claim(stores[0].ledger, A)
        chosen = _race(2, lambda i: stores[i].ledger.choose_final_path(A, f"/p/{i}.txt"))
        assert chosen[0] == chosen[1] == stores[0].ledger.get_file(A)["final_path"]

    def test_a_finished_files_place_is_not_changed(self, store: Store):
        ledger = store.ledger
        _claim(ledger, A)
        ledger.start(A, "t", LEASE)
        _publish(store, A, "t")
        ledger.choose_final_path(A, "/p/a.txt")
        ledger.finish(A, "t")
        assert ledger.choose_final_path(A, "/p/z.txt", replacing="/p/a.txt") == "/p/a.txt"

    def test_a_drop_destination_is_chosen_once(self, ledger: Ledger):
        _claim(ledger, A, identity="1:1:1:1")
        dup = _claim(ledger, A, identity="1:2:1:1")
        assert ledger.set_drop_destination(dup.drop_id, "/p/a.txt") == "/p/a.txt"
        assert ledger.set_drop_destination(dup.drop_id, "/p/a.1.txt") == "/p/a.txt"


class TestFinalStates:
    """Invariant 7: ``done`` is final; ``failed`` leaves only through ``requeue``."""

    @staticmethod
    def _done(store: Store) -> None:
        ledger = store.ledger
        _claim(ledger, A)
        ledger.start(A, "t", LEASE)
        _publish(store, A, "t")
        ledger.choose_final_path(A, "/p/a.txt")
        assert ledger.finish(A, "t")

    def test_done_is_final(self, store: Store, clock: FakeClock):
        ledger = store.ledger
        self._done(store)
        clock.advance(10 * LEASE)
        assert ledger.start(A, "t", LEASE, retries=1) is None
        assert ledger.start(A, "other", LEASE) is None
        assert not ledger.renew(A, "t", LEASE)
        assert not ledger.release(A, "t", 1.0)
        assert not ledger.finish(A, "t")
        assert not ledger.finish(A, None)
        assert not ledger.fail(A, {"code": "x"}, "/f/a.txt")
        assert not ledger.requeue(A)
        assert not ledger.adopt(A, "a.txt", "/x/a.txt", moves=False)
        with pytest.raises(LeaseLostError):
            _publish(store, A, "t", 1)
        assert _claim(ledger, A).outcome == "duplicate"
        assert ledger.due(REQUEUE_AFTER, broker_empty=True, lost_after=0).files == []
        row = ledger.get_file(A)
        assert (row["state"], row["final_path"], row["error"]) == ("done", "/p/a.txt", None)

    def test_failed_leaves_only_through_requeue(self, store: Store, clock: FakeClock):
        ledger = store.ledger
        _claim(ledger, A)
        ledger.start(A, "t", LEASE)
        assert ledger.fail(A, {"code": "bad"}, "/f/a.txt", owner="t")
        clock.advance(10 * LEASE)
        assert ledger.start(A, "t", LEASE, retries=1) is None
        assert ledger.start(A, "other", LEASE) is None
        assert not ledger.finish(A, None)
        assert not ledger.renew(A, "t", LEASE)
        assert not ledger.fail(A, {"code": "again"}, "/f/b.txt")
        assert ledger.due(REQUEUE_AFTER, broker_empty=True, lost_after=0).files == []
        assert ledger.get_file(A)["error"] == {"code": "bad"}
        assert ledger.requeue(A, path="/work/fixed")
        row = ledger.get_file(A)
        assert (row["state"], row["attempts"], row["error"], row["final_path"]) == (
            "queued",
            0,
            None,
            None,
        )
        assert (row["path"], row["task_id"], row["lease_until"]) == ("/work/fixed", None, None)
        assert ledger.start(A, "after-fix", LEASE)["attempts"] == 1

    @pytest.mark.parametrize("state", ["queued", "processing", "split", "stored", "done"])
    def test_requeue_only_from_failed(self, store: Store, state: str):
        ledger = store.ledger
        _claim(ledger, A)
        if state != "queued":
            ledger.start(A, "t", LEASE)
        if state == "split":
            ledger.split(A, "t", _plans(2), "utf-8")
        if state in ("stored", "done"):
            _publish(store, A, "t")
        if state == "done":
            ledger.finish(A, "t")
        before = dict(ledger.get_file(A))
        assert not ledger.requeue(A, path="/elsewhere")
        assert dict(ledger.get_file(A)) == before

    def test_requeue_keeps_stored_chunks_and_restarts_the_others(self, store: Store):
        ledger = store.ledger
        _split(ledger, A, 2)
        ledger.start_chunk(A, 0, "c-0", LEASE)
        _publish(store, A, "c-0", 0, chunk=0)
        ledger.start_chunk(A, 1, "c-1", LEASE)
        assert ledger.fail(A, {"code": "bad"}, None, owner="c-1")  # any chunk's worker
        assert ledger.requeue(A)
        states = [(c["state"], c["task_id"], c["attempts"]) for c in ledger.chunk_rows(A)]
        assert states == [("stored", "c-0", 1), ("queued", None, 0)]

    def test_fail_with_an_owner_only_while_it_holds_the_file(self, ledger: Ledger):
        _claim(ledger, A)
        ledger.start(A, "holder", LEASE)
        assert not ledger.fail(A, {"code": "x"}, None, owner="other")
        assert ledger.get_file(A)["state"] == "processing"
        assert ledger.fail(A, {"code": "x"}, None, owner="holder")


class TestResendsBackOffPerRow:
    """Invariant 8: the reconciler re-sends a row only when its time came, twice as late each
    time; a broker that lost its messages is answered at once; ``ingest`` rows are never sent."""

    def test_a_queued_row_is_due_when_its_time_comes_and_then_backs_off(
        self, ledger: Ledger, clock: FakeClock
    ):
        _claim(ledger, A, first_send_after=REQUEUE_AFTER)
        wait = REQUEUE_AFTER  # the claim's first send waits this long
        waits = []
        for _ in range(4):
            clock.advance(wait - 1)
            assert ledger.due(REQUEUE_AFTER).files == []
            clock.advance(1)
            assert ledger.due(REQUEUE_AFTER).files == [A]
            assert ledger.due(REQUEUE_AFTER).files == []  # just sent: not again right away
            row = ledger.get_file(A)
            assert row["enqueued_at"] == clock.now
            wait = row["next_send_at"] - clock.now
            waits.append(wait)
        assert waits == [REQUEUE_AFTER * 2**n for n in range(4)]

    def test_the_backoff_is_capped_at_an_hour(self, store: Store, clock: FakeClock):
        _claim(store.ledger, A)
        _set(store, A, sends=30, next_send_at=clock.now)
        assert store.ledger.due(REQUEUE_AFTER).files == [A]
        assert store.ledger.get_file(A)["next_send_at"] == clock.now + 3600

    def test_each_row_backs_off_on_its_own(self, ledger: Ledger, clock: FakeClock):
        _claim(ledger, A, first_send_after=300)
        clock.advance(300)  # t = 300
        assert ledger.due(REQUEUE_AFTER).files == [A]  # A next at 600, then 1200
        clock.advance(100)  # t = 400
        _claim(ledger, B, first_send_after=300)  # B first at 700, then 1000
        timeline = [(600, [A]), (700, [B]), (1000, [B]), (1199, []), (1200, [A]), (1599, [])]
        start = clock.now - 400
        for at, expected in timeline:
            clock.now = start + at
            assert ledger.due(REQUEUE_AFTER).files == expected, at

    def test_an_empty_broker_gets_waiting_work_again_at_once(
        self, ledger: Ledger, clock: FakeClock
    ):
        """The broker reports an empty queue while work waits: its messages were lost. A row
        sent more than 5 s ago is due at once, then not again until 5 s after that send."""
        _claim(ledger, A)
        ledger.mark_sent(A)
        clock.advance(4)
        assert ledger.due(REQUEUE_AFTER, broker_empty=True).files == []
        clock.advance(1.5)
        assert ledger.due(REQUEUE_AFTER, broker_empty=True).files == [A]
        assert ledger.due(REQUEUE_AFTER, broker_empty=True).files == []
        clock.advance(5.5)
        assert ledger.due(REQUEUE_AFTER, broker_empty=True).files == [A]
        assert ledger.due(REQUEUE_AFTER).files == []  # a full broker: the backoff holds

    def test_live_work_is_never_sent_again(self, ledger: Ledger, clock: FakeClock):
        _claim(ledger, A)
        ledger.start(A, "holder", LEASE)
        clock.advance(LEASE - 1)
        assert ledger.due(REQUEUE_AFTER, broker_empty=True, lost_after=0).files == []

    def test_an_expired_lease_is_due_once_then_backs_off(self, ledger: Ledger, clock: FakeClock):
        _claim(ledger, A)
        ledger.start(A, "died", LEASE)
        clock.advance(LEASE + 1)
        assert ledger.due(REQUEUE_AFTER).files == [A]
        assert ledger.due(REQUEUE_AFTER).files == []
        clock.advance(REQUEUE_AFTER)
        assert ledger.due(REQUEUE_AFTER).files == [A]
        ledger.start(A, "next", LEASE)  # taken: the backoff starts over
        row = ledger.get_file(A)
        assert (row["sends"], row["next_send_at"]) == (0, None)

    def test_ingest_rows_are_never_due(self, store: Store, clock: FakeClock):
        """``moves=0`` rows belong to the ``ingest`` that runs them: never sent, whether
        queued, held by a dead ingest, or stored by one."""
        ledger = store.ledger
        for key in (A, B):
            _claim(ledger, key, moves=False)
        clock.advance(10 * REQUEUE_AFTER)
        assert ledger.due(REQUEUE_AFTER, broker_empty=True, lost_after=0).files == []
        ledger.start(A, "ingest-1", LEASE)
        ledger.start(B, "ingest-2", LEASE)
        _publish(store, B, "ingest-2")
        clock.advance(10 * REQUEUE_AFTER)
        due = ledger.due(REQUEUE_AFTER, broker_empty=True, lost_after=0)
        assert (due.files, due.chunks) == ([], [])

    def test_chunks_of_an_ingest_file_are_never_due(self, store: Store, clock: FakeClock):
        ledger = store.ledger
        _claim(ledger, A, moves=False)
        ledger.start(A, "ingest-1", LEASE)
        ledger.split(A, "ingest-1", _plans(2), "utf-8")
        ledger.start_chunk(A, 0, "ingest-1", LEASE)
        clock.advance(10 * REQUEUE_AFTER)
        due = ledger.due(REQUEUE_AFTER, broker_empty=True, lost_after=0)
        assert (due.files, due.chunks) == ([], [])

    def test_chunks_are_due_like_files_and_the_split_file_never(
        self, ledger: Ledger, clock: FakeClock
    ):
        _split(ledger, A, 2)
        ledger.start_chunk(A, 0, "c-0", LEASE)
        assert ledger.due(REQUEUE_AFTER).chunks == []
        clock.advance(REQUEUE_AFTER)  # chunk 1 was never started; chunk 0's lease ran out
        due = ledger.due(REQUEUE_AFTER)
        assert (due.files, sorted(due.chunks)) == ([], [(A, 0), (A, 1)])
        assert ledger.due(REQUEUE_AFTER).chunks == []

    def test_finished_rows_are_never_due(self, store: Store, clock: FakeClock):
        ledger = store.ledger
        _claim(ledger, A)
        ledger.start(A, "t", LEASE)
        _publish(store, A, "t")
        ledger.finish(A, "t")
        _claim(ledger, B)
        ledger.fail(B, {"code": "x"}, None)
        clock.advance(10 * REQUEUE_AFTER)
        due = ledger.due(REQUEUE_AFTER, broker_empty=True, lost_after=0)
        assert (due.files, due.chunks) == ([], [])

    def test_mark_sent_touches_only_queued_rows(self, ledger: Ledger, clock: FakeClock):
        _claim(ledger, A)
        ledger.start(A, "t", LEASE)
        before = ledger.get_file(A)["enqueued_at"]
        clock.advance(7)
        ledger.mark_sent(A)
        assert ledger.get_file(A)["enqueued_at"] == before


class TestAdopt:
    """Bytes an interrupted ``ingest`` left are carried on by a watched drop or another ingest."""

    def test_an_abandoned_ingest_row_is_adopted(self, ledger: Ledger, clock: FakeClock):
        _claim(ledger, A, moves=False)
        ledger.start(A, "ingest-1", LEASE)
        assert not ledger.adopt(A, "a.txt", "/work/a", moves=True)  # that ingest still runs
        clock.advance(LEASE + 1)
        assert ledger.adopt(A, "a.txt", "/work/a", moves=True)
        row = ledger.get_file(A)
        assert (row["moves"], row["path"]) == (1, "/work/a")
        assert ledger.due(REQUEUE_AFTER).files == [A]

    def test_a_watched_row_is_never_adopted(self, ledger: Ledger):
        _claim(ledger, A)
        assert not ledger.adopt(A, "a.txt", "/x/a.txt", moves=False)
        assert ledger.get_file(A)["moves"] == 1
