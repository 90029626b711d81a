"""Tests for worker/watch/inbox.py: ignore rules, inbox walk, settling, and taking a file."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from tests.dumps import HARBOUR, ORCHARD, render_dump
from tests.helpers_unit import FakeClock, sha, sqlite_store
from worker import faults
from worker.store import Store
from worker.store.schema import drops
from worker.watch import inbox as inbox_module
from worker.watch.inbox import FileTaker, SettleTracker, is_ignored, iter_inbox

DUMP = render_dump([HARBOUR, ORCHARD]).encode("utf-8")


def _grow(path: Path, data: bytes) -> None:
    """Append bytes and make sure the mtime moves even on a coarse-clock file system."""
    with path.open("ab") as handle:
        handle.write(data)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


class TestIsIgnored:
    @pytest.mark.parametrize(
        "name",
        [
            ".hidden.txt",
            "dump.txt.part",
            "dump.tmp",
            "dump.txt.crdownload",
            "dump.txt~",
            ".~lock.dump.txt#",
            "dump.txt.swp",
        ],
    )
    def test_hidden_and_partial_names_wait(self, name: str):
        """Hidden files and partial-download names are ignored until renamed."""
        assert is_ignored(Path("inbox") / name)

    @pytest.mark.parametrize("name", ["dump.txt", "dump", "part.txt", "tmp-notes.txt", "a~b.txt"])
    def test_ordinary_names_are_taken(self, name: str):
        """Ordinary names, even ones containing "part" or "tmp" or "~", are not ignored."""
        assert not is_ignored(Path("inbox") / name)


class TestIterInbox:
    def test_walks_subfolders_and_skips_ignored_and_symlinks(self, tmp_path: Path):
        """Every real file in the inbox and its sub-folders, sorted; no partials, hidden files,
        hidden folders or symlinks (to files or folders)."""
        inbox = tmp_path / "inbox"
        (inbox / "sub" / "deeper").mkdir(parents=True)
        (inbox / ".hidden").mkdir()
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "secret.txt").write_text("x")
        for rel in [
            "b.txt",
            "a.txt",
            "sub/c.txt",
            "sub/deeper/d.txt",
            ".hidden/e.txt",
            "f.part",
            "sub/g.tmp",
        ]:
            (inbox / rel).write_text("x")
        (inbox / "link.txt").symlink_to(inbox / "a.txt")
        (inbox / "linkdir").symlink_to(outside, target_is_directory=True)
        found = [p.relative_to(inbox).as_posix() for p in iter_inbox(inbox)]
        assert found == ["a.txt", "b.txt", "sub/c.txt", "sub/deeper/d.txt"]

    def test_empty_inbox(self, tmp_path: Path):
        """An empty inbox yields nothing."""
        assert list(iter_inbox(tmp_path)) == []


class TestSettleTracker:
    def test_growing_file_is_not_ready(self, tmp_path: Path):
        """A file that keeps growing never settles, however much time passes between checks."""
        clock = FakeClock(1000.0)
        tracker = SettleTracker(2.0, clock=clock)
        path = tmp_path / "a.txt"
        path.write_bytes(b"abc")
        tracker.note(path)
        for _ in range(3):
            clock.advance(1.5)
            _grow(path, b"more")
            assert tracker.ready() == []
        assert len(tracker) == 1

    def test_unchanged_file_ready_once_after_settle_seconds(self, tmp_path: Path):
        """A file unchanged for settle_seconds is ready, once; before that it is not."""
        clock = FakeClock(1000.0)
        tracker = SettleTracker(2.0, clock=clock)
        path = tmp_path / "a.txt"
        path.write_bytes(b"abc")
        tracker.note(path)
        clock.advance(1.9)
        assert tracker.ready() == []
        clock.advance(0.1)
        assert tracker.ready() == [path]
        assert tracker.ready() == []
        assert len(tracker) == 0

    def test_settle_restarts_after_a_change(self, tmp_path: Path):
        """A change resets the settle clock: ready settle_seconds after the last change."""
        clock = FakeClock(1000.0)
        tracker = SettleTracker(2.0, clock=clock)
        path = tmp_path / "a.txt"
        path.write_bytes(b"abc")
        tracker.note(path)
        clock.advance(1.5)
        _grow(path, b"d")
        assert tracker.ready() == []
        clock.advance(1.5)
        assert tracker.ready() == []
        clock.advance(0.5)
        assert tracker.ready() == [path]

    def test_moved_in_is_ready_at_once(self, tmp_path: Path):
        """A file renamed into the inbox is complete without waiting."""
        tracker = SettleTracker(60.0, clock=FakeClock(1000.0))
        path = tmp_path / "a.txt"
        path.write_bytes(b"abc")
        tracker.note(path, moved_in=True)
        assert tracker.ready() == [path]

    def test_close_hint_is_ready_after_a_short_quiet(self, tmp_path: Path):
        """Closed after writing: ready once quiet for 3/4 of settle_seconds, not before."""
        clock = FakeClock(1000.0)
        tracker = SettleTracker(60.0, clock=clock)
        path = tmp_path / "a.txt"
        path.write_bytes(b"abc")
        tracker.note(path)
        tracker.note(path, complete=True)
        assert tracker.ready() == []
        clock.advance(44.9)
        assert tracker.ready() == []
        clock.advance(0.1)
        assert tracker.ready() == [path]

    def test_appending_writer_that_closes_each_line_is_not_taken_early(self, tmp_path: Path):
        """A writer that appends a line a second, closing the file each time, is not taken
        while it writes, and is taken settle_seconds after its last line."""
        clock = FakeClock(1000.0)
        tracker = SettleTracker(2.0, clock=clock)
        path = tmp_path / "a.txt"
        for second in range(20):
            _grow(path, f"line {second}\n".encode())
            tracker.note(path)
            tracker.note(path, complete=True)
            assert tracker.ready() == [], f"taken early at second {second}"
            clock.advance(1.0)
            assert tracker.ready() == [], f"taken early after second {second}"
        clock.advance(1.0)
        assert tracker.ready() == [path]

    def test_complete_hint_cancelled_by_a_later_change(self, tmp_path: Path):
        """If the file changes after the close hint, it waits to settle again."""
        clock = FakeClock(1000.0)
        tracker = SettleTracker(2.0, clock=clock)
        path = tmp_path / "a.txt"
        path.write_bytes(b"abc")
        tracker.note(path, complete=True)
        _grow(path, b"late bytes")
        assert tracker.ready() == []
        clock.advance(2.0)
        assert tracker.ready() == [path]

    def test_empty_file_not_made_ready_by_close_hint(self, tmp_path: Path):
        """A zero-byte file closed by a `touch` is not ready at once; it waits like any other."""
        clock = FakeClock(1000.0)
        tracker = SettleTracker(2.0, clock=clock)
        path = tmp_path / "empty.txt"
        path.touch()
        tracker.note(path, complete=True)
        assert tracker.ready() == []
        clock.advance(1.0)
        tracker.note(path, complete=True)
        assert tracker.ready() == []

    def test_placeholder_filled_later_is_taken_once_full(self, tmp_path: Path):
        """An empty placeholder waits empty_settle_seconds; filled before that, it is taken
        when full, once; left empty, it is taken in the end (and fails as empty)."""
        clock = FakeClock(1000.0)
        tracker = SettleTracker(2.0, empty_settle_seconds=30.0, clock=clock)
        filled, left = tmp_path / "filled.txt", tmp_path / "left.txt"
        filled.touch()
        left.touch()
        tracker.note(filled)
        tracker.note(left)
        clock.advance(10.0)
        assert tracker.ready() == []
        filled.write_bytes(b"the dump, at last")
        tracker.note(filled, complete=True)
        clock.advance(1.5)
        assert tracker.ready() == [filled]
        clock.advance(18.5)
        assert tracker.ready() == [left]

    def test_vanished_file_leaves_tracker(self, tmp_path: Path):
        """A file removed before it settles is dropped, not reported."""
        clock = FakeClock(1000.0)
        tracker = SettleTracker(1.0, clock=clock)
        path = tmp_path / "a.txt"
        path.write_bytes(b"abc")
        tracker.note(path)
        path.unlink()
        clock.advance(5)
        assert tracker.ready() == []
        assert len(tracker) == 0


class Recorder:
    """An enqueue callable that records what it was asked to send."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[str] = []
        self.fail = fail

    def __call__(self, sha256: str) -> str:
        if self.fail:
            raise ConnectionError("broker away")
        self.sent.append(sha256)
        return f"task-{len(self.sent)}"


@pytest.fixture
def layout(tmp_path: Path):
    inbox, work, processed = tmp_path / "inbox", tmp_path / "work", tmp_path / "processed"
    inbox.mkdir()
    store = sqlite_store(tmp_path)
    yield store, inbox, work, processed
    store.close()


def _drop_rows(store: Store) -> list[tuple[str, str]]:
    with store.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(select(drops.c.name, drops.c.outcome).order_by(drops.c.id))
        ]


class TestFileTaker:
    def test_first_drop_copied_to_work_and_enqueued(self, layout):
        """A first drop is copied to work/<sha256> (the inbox entry goes only after the claim),
        is enqueued once and is queued in the ledger; no partial copy is left behind."""
        store, inbox, work, processed = layout
        enqueue = Recorder()
        taker = FileTaker(store, inbox, work, processed, enqueue)
        path = inbox / "dump.txt"
        path.write_bytes(DUMP)
        digest = sha(DUMP)
        with capture_logs() as logs:
            assert taker.take(path) == "queued"
        assert not path.exists()
        assert (work / digest).read_bytes() == DUMP
        assert sorted(p.name for p in work.iterdir()) == [digest]
        assert enqueue.sent == [digest]
        row = store.ledger.get_file(digest)
        assert (row["state"], row["name"], row["path"], row["size"]) == (
            "queued",
            "dump.txt",
            str(work / digest),
            len(DUMP),
        )
        assert _drop_rows(store) == [("dump.txt", "queued")]
        queued = [e for e in logs if e["event"] == "file.queued"]
        assert len(queued) == 1
        assert (queued[0]["file"], queued[0]["sha256"], queued[0]["task_id"]) == (
            "dump.txt",
            digest,
            "task-1",
        )

    def test_same_bytes_other_name_is_duplicate(self, layout):
        """The same bytes again under another name go to processed/, are not enqueued, and the
        drops table says duplicate."""
        store, inbox, work, processed = layout
        enqueue = Recorder()
        taker = FileTaker(store, inbox, work, processed, enqueue)
        (inbox / "first.txt").write_bytes(DUMP)
        taker.take(inbox / "first.txt")
        (inbox / "again.txt").write_bytes(DUMP)
        with capture_logs() as logs:
            assert taker.take(inbox / "again.txt") == "duplicate"
        assert not (inbox / "again.txt").exists()
        assert (processed / "again.txt").read_bytes() == DUMP
        assert enqueue.sent == [sha(DUMP)]
        assert _drop_rows(store) == [("first.txt", "queued"), ("again.txt", "duplicate")]
        (event,) = [e for e in logs if e["event"] == "file.duplicate"]
        assert event["first_seen_as"] == "first.txt"
        assert event["sha256"] == sha(DUMP)
        # the first drop's work copy stays: its content is not finished yet
        assert (work / sha(DUMP)).read_bytes() == DUMP

    def test_same_name_dropped_again_and_again_gets_distinct_names(self, layout):
        """The same bytes dropped under one name four times: one job, and each duplicate drop a
        copy of its own in processed/ (name, name.<sha12>, then numbered), none overwritten."""
        store, inbox, work, processed = layout
        enqueue = Recorder()
        taker = FileTaker(store, inbox, work, processed, enqueue)
        digest = sha(DUMP)
        outcomes = []
        for _ in range(4):
            (inbox / "dump.txt").write_bytes(DUMP)
            outcomes.append(taker.take(inbox / "dump.txt"))
        assert outcomes == ["queued", "duplicate", "duplicate", "duplicate"]
        assert enqueue.sent == [digest]
        names = sorted(p.name for p in processed.iterdir())
        assert len(names) == 3
        assert {"dump.txt", f"dump.{digest[:12]}.txt"} <= set(names)
        assert all(p.read_bytes() == DUMP for p in processed.iterdir())
        with store.engine.connect() as conn:
            places = conn.execute(
                select(drops.c.destination).where(drops.c.outcome == "duplicate")
            ).scalars()
            assert sorted(Path(p).name for p in places) == names

    def test_subfolder_name_flattened(self, layout):
        """A file in a sub-folder is named after its relative path, flattened with ``__``."""
        store, inbox, work, processed = layout
        (inbox / "agency").mkdir()
        (inbox / "agency" / "d.txt").write_bytes(DUMP)
        FileTaker(store, inbox, work, processed, Recorder()).take(inbox / "agency" / "d.txt")
        assert store.ledger.get_file(sha(DUMP))["name"] == "agency__d.txt"

    def test_enqueue_error_keeps_claim_and_logs(self, layout):
        """If the broker is away the file is still claimed and in work/, the error is logged,
        and take() does not raise: the reconciler sends it later."""
        store, inbox, work, processed = layout
        taker = FileTaker(store, inbox, work, processed, Recorder(fail=True))
        (inbox / "dump.txt").write_bytes(DUMP)
        digest = sha(DUMP)
        with capture_logs() as logs:
            assert taker.take(inbox / "dump.txt") == "queued"
        assert (work / digest).read_bytes() == DUMP
        row = store.ledger.get_file(digest)
        assert row["state"] == "queued"
        (error,) = [e for e in logs if e["event"] == "file.enqueue_failed"]
        assert error["log_level"] == "error"
        assert error["sha256"] == digest
        assert "broker away" in error["error"]
        (queued,) = [e for e in logs if e["event"] == "file.queued"]
        assert queued["task_id"] is None
        # not marked as enqueued again: the reconciler finds it after requeue_after
        assert row["enqueued_at"] == row["created_at"]

    def test_vanished_file_returns_none(self, layout):
        """A file gone before it is taken gives None and a warning, and no ledger row."""
        store, inbox, work, processed = layout
        with capture_logs() as logs:
            assert (
                FileTaker(store, inbox, work, processed, Recorder()).take(inbox / "gone.txt")
                is None
            )
        assert [e["event"] for e in logs] == ["file.vanished"]
        assert store.status()["files"]["queued"] == 0

    def test_copy_without_claim_is_claimed_by_the_next_take(self, layout):
        """A crash between the copy and the claim (invariant 1: bytes before claims) leaves a
        copy in work/ and the file in the inbox: the next take claims it, once.

        (Before the refactor the claim came first, and this test left a claim without a work
        copy; that state can no longer arise.)"""
        store, inbox, work, processed = layout
        digest = sha(DUMP)
        work.mkdir()
        (work / digest).write_bytes(DUMP)  # what the dead watcher copied
        (inbox / "dump.txt").write_bytes(DUMP)
        enqueue = Recorder()
        taker = FileTaker(store, inbox, work, processed, enqueue)
        assert taker.take(inbox / "dump.txt") == "queued"
        assert (work / digest).read_bytes() == DUMP
        assert not (inbox / "dump.txt").exists()
        assert enqueue.sent == [digest]
        assert _drop_rows(store) == [("dump.txt", "queued")]

    def test_take_again_after_a_crash_after_the_claim_resumes_the_drop(self, layout, monkeypatch):
        """A crash after the claim committed and before the inbox entry went: taking the same
        file again resumes its drop (invariant 2): queued again and sent, no second drop row,
        nothing in processed/."""
        store, inbox, work, processed = layout
        enqueue = Recorder()
        taker = FileTaker(store, inbox, work, processed, enqueue)
        (inbox / "dump.txt").write_bytes(DUMP)
        with crash_at(monkeypatch, "claim.after_commit"), pytest.raises(Crash):
            taker.take(inbox / "dump.txt")
        assert (inbox / "dump.txt").exists()
        with capture_logs() as logs:
            assert taker.take(inbox / "dump.txt") == "queued"
        assert not (inbox / "dump.txt").exists()
        assert enqueue.sent == [sha(DUMP)]
        assert _drop_rows(store) == [("dump.txt", "queued")]
        assert not processed.exists() or list(processed.iterdir()) == []
        (queued,) = [e for e in logs if e["event"] == "file.queued"]
        assert queued["resumed"] is True

    def test_duplicate_taken_again_after_a_crash_keeps_its_destination(self, layout, monkeypatch):
        """A duplicate drop placed in processed/ by a watcher that died before removing the
        inbox entry: taken again, it resumes its drop and its destination (invariants 2 and 6),
        instead of making a second drop with a second copy under a new name."""
        store, inbox, work, processed = layout
        taker = FileTaker(store, inbox, work, processed, Recorder())
        (inbox / "first.txt").write_bytes(DUMP)
        taker.take(inbox / "first.txt")
        (inbox / "again.txt").write_bytes(DUMP)

        def dies(*_: object) -> bool:
            raise Crash("between the copy in processed/ and the inbox unlink")

        with monkeypatch.context() as patch:
            patch.setattr(inbox_module, "unlink_if_same", dies)
            with pytest.raises(Crash):
                taker.take(inbox / "again.txt")
        assert (processed / "again.txt").read_bytes() == DUMP
        assert (inbox / "again.txt").exists()
        assert taker.take(inbox / "again.txt") == "duplicate"
        assert not (inbox / "again.txt").exists()
        assert [p.name for p in processed.iterdir()] == ["again.txt"]
        assert _drop_rows(store) == [("first.txt", "queued"), ("again.txt", "duplicate")]
        assert not [p for p in work.iterdir() if p.name.startswith(".")]


class Crash(BaseException):
    """A process killed at a fault point (a BaseException: no ``except Exception`` stops it)."""


@contextlib.contextmanager
def crash_at(monkeypatch: pytest.MonkeyPatch, name: str):
    """Within the block, reaching the fault point ``name`` raises Crash, once."""
    fired = []

    def point(reached: str) -> None:
        if reached == name and not fired:
            fired.append(reached)
            raise Crash(reached)

    with monkeypatch.context() as patch:
        patch.setattr(faults, "point", point)
        yield
