"""Races around taking a file and sweeping work/, found in review: each one lost or doubled a
drop. Real folders under tmp_path and a real SQLite store; what a worker does meanwhile is done
by hand (a move to processed/, a state written), at the moment the race needs it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from tests.helpers_unit import sha
from worker.enrich import EnrichPipeline
from worker.pipeline import Resources, requeue_failed
from worker.settings import Settings
from worker.store import Store
from worker.store.schema import drops, files
from worker.watch import Watcher
from worker.watch.inbox import iter_inbox

DATA = b"Title\n\nBody paragraph.\n"
OTHER = b"Other\n\nA different dump under the same name.\n"
SERVER_MTIME_NS = 1_700_000_000_000_000_000  # curl -R / wget -N keep the server's mtime


@pytest.fixture
def resources(tmp_path: Path) -> Iterator[Resources]:
    """A SQLite store and folders under tmp_path (no enrichers: no article is parsed here)."""
    settings = Settings(inbox=tmp_path / "inbox", data_dir=tmp_path / "data")
    settings.ensure_dirs()
    res = Resources(settings, Store.from_url(settings.resolved_store_url), EnrichPipeline([]))
    yield res
    res.store.close()


@pytest.fixture
def watcher(resources: Resources) -> Watcher:
    """A watcher (not running) on that store; its messages go nowhere."""
    return Watcher(resources.settings, resources.store, enqueue=lambda sha256: "t")


def _drops(watcher: Watcher) -> int:
    with watcher.store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(drops)).scalar_one()


def _processed(watcher: Watcher) -> dict[str, bytes]:
    folder = watcher.settings.processed_dir
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _worker_finishes(watcher: Watcher, sha256: str, name: str) -> None:
    """What a worker does with a queued file, in short: its work copy moves to processed/ under
    ``name`` and the row is done."""
    processed = watcher.settings.processed_dir / name
    os.replace(watcher.settings.work_dir / sha256, processed)
    with watcher.store.engine.begin() as conn:
        conn.execute(
            update(files)
            .where(files.c.sha256 == sha256)
            .values(state="done", final_path=str(processed))
        )


def _bytes_anywhere(watcher: Watcher, data: bytes) -> list[Path]:
    roots = (watcher.settings.data_dir, watcher.settings.inbox)
    return [p for root in roots for p in root.rglob("*") if p.is_file() and p.read_bytes() == data]


def _failed_file(watcher: Watcher) -> Path:
    """DATA claimed, started, and quarantined in failed/x.txt (the row ``failed``)."""
    ledger = watcher.store.ledger
    digest = sha(DATA)
    work = watcher.settings.work_dir / digest
    work.write_bytes(DATA)
    ledger.claim(digest, "x.txt", str(work), len(DATA))
    assert ledger.start(digest, "task-1", 30) is not None
    target = watcher.settings.failed_dir / "x.txt"
    work.rename(target)
    assert ledger.fail(digest, {"code": "too_many_attempts"}, str(target))
    return target


def _store_away(*args: Any, **kwargs: Any) -> Any:
    raise OperationalError("UPDATE files", {}, Exception("server closed the connection"))


def test_a_second_file_with_the_same_identity_is_a_drop_of_its_own(
    watcher: Watcher, tmp_path: Path
) -> None:
    """The same bytes downloaded again with the server's mtime, into an inode with the number of
    the first download's (ext4 reuses a freed one at once; here a hard link kept aside makes it
    certain), after the first was taken and finished, are a new duplicate drop placed in
    processed/, not a resumed take of the first that removes them from the inbox."""
    inbox = watcher.settings.inbox
    first = inbox / "latest.txt"
    first.write_bytes(DATA)
    os.utime(first, ns=(SERVER_MTIME_NS, SERVER_MTIME_NS))
    kept = tmp_path / "same-inode"
    os.link(first, kept)  # the inode outlives its inbox entry, as a reused number would
    assert watcher.taker.take(first) == "queued"
    assert not first.exists()
    _worker_finishes(watcher, sha(DATA), "latest.txt")

    second = inbox / "latest.txt"
    os.link(kept, second)  # same device, inode, size and mtime as the first drop
    kept.unlink()
    watcher.taker.take(second)

    assert not second.exists()  # it left the inbox...
    assert _drops(watcher) == 2, "the second arrival recorded no drop"  # ...as a drop of its own
    placed = _processed(watcher)
    assert list(placed.values()) == [DATA, DATA], f"the second arrival is nowhere: {placed}"


def test_a_duplicate_whose_place_is_taken_meanwhile_gets_another(
    watcher: Watcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A duplicate drop whose chosen place in processed/ is taken, between the choice and the
    link, by a worker finishing another file of the same name still ends in processed/ (at a
    fresh place), and the other file is left as it is."""
    inbox = watcher.settings.inbox
    monday = inbox / "monday.txt"  # the content was processed before, under another name
    monday.write_bytes(DATA)
    assert watcher.taker.take(monday) == "queued"
    _worker_finishes(watcher, sha(DATA), "monday.txt")
    latest = inbox / "latest.txt"  # the scraper's latest.txt happens to repeat Monday's bytes
    latest.write_bytes(DATA)
    ledger = watcher.store.ledger
    choose = ledger.set_drop_destination
    taken: list[str] = []

    def choose_then_a_worker_takes_the_place(*args: Any, **kwargs: Any) -> str:
        chosen = choose(*args, **kwargs)
        if not taken:  # a worker finishes the previous latest.txt (other bytes) right there
            Path(chosen).write_bytes(OTHER)
            taken.append(chosen)
        return chosen

    monkeypatch.setattr(ledger, "set_drop_destination", choose_then_a_worker_takes_the_place)
    outcome = watcher.taker.take(latest)

    assert taken, "the drop chose no place in processed/"
    assert Path(taken[0]).read_bytes() == OTHER  # the worker's file is not replaced
    placed = _processed(watcher)
    copies = sorted(name for name, data in placed.items() if data == DATA)
    assert (outcome, len(copies)) == ("duplicate", 2), (
        f"the duplicate drop vanished: processed/ has {sorted(placed)}, "
        f"inbox has {sorted(p.name for p in inbox.iterdir())}"
    )
    assert not latest.exists()


def test_a_failed_claim_is_not_taken_twice(
    watcher: Watcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim that fails once (a store blip) leaves the work copy and the inbox file; a sweep
    a minute later, before the next inbox scan, does not put the copy back into the inbox
    beside the original: the arrival is one drop, queued once."""
    inbox = watcher.settings.inbox
    dump = inbox / "dump.txt"
    dump.write_bytes(DATA)
    with monkeypatch.context() as patch:
        patch.setattr(watcher.store.ledger, "claim", _store_away)
        with pytest.raises(OperationalError):
            watcher.taker.take(dump)  # the watcher logs file.take_failed and forgets the path
    copy = watcher.settings.work_dir / sha(DATA)
    assert copy.exists() and dump.exists()
    old = time.time() - 61  # a minute later; the next full scan (every 60 s) has not come yet
    os.utime(copy, (old, old))

    watcher.sweep()
    for path in list(iter_inbox(inbox)):  # then the scan takes what is in the inbox
        watcher.taker.take(path)

    drop_count = _drops(watcher)
    assert drop_count == 1, f"one arrival, {drop_count} drops; processed/: {_processed(watcher)}"
    assert list(inbox.iterdir()) == []


def test_a_requeue_that_fails_to_commit_keeps_the_file(
    watcher: Watcher, resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user's requeue whose ledger update fails (the store away) leaves the quarantined file
    in failed/, still failed, and the watcher's next sweep deletes no last copy of it."""
    target = _failed_file(watcher)
    with monkeypatch.context() as patch:
        patch.setattr(watcher.store.ledger, "requeue", _store_away)
        with pytest.raises(OperationalError):
            requeue_failed(resources, target)
    watcher.sweep()  # the running watcher's next tick

    assert _bytes_anywhere(watcher, DATA), "the quarantined file's bytes are gone"
    assert target.read_bytes() == DATA
    row = watcher.store.ledger.get_file(sha(DATA))
    assert row is not None and row["state"] == "failed"


def test_a_sweep_racing_a_requeue_keeps_the_queued_copy(
    watcher: Watcher, resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user's requeue that runs to completion while the watcher's sweep is under way (after
    the sweep began, before it reached work/'s entries) leaves the queued file's work copy in
    place: the sweep does not act on a state it read before the requeue."""
    target = _failed_file(watcher)
    work = watcher.settings.work_dir
    scandir = os.scandir
    raced: list[str | None] = []

    def list_work_after_a_requeue(path: Any = ".") -> Any:
        if not raced and Path(path) == work:  # the sweep reaches work/: the user requeues now
            raced.append(requeue_failed(resources, target))
        return scandir(path)

    with monkeypatch.context() as patch:
        patch.setattr(os, "scandir", list_work_after_a_requeue)
        watcher.sweep()

    assert raced == [sha(DATA)], "the requeue did not run while the sweep was under way"
    row = watcher.store.ledger.get_file(sha(DATA))
    assert row is not None and row["state"] == "queued"
    assert _bytes_anywhere(watcher, DATA), "the queued file's work copy was deleted by the sweep"
    assert Path(row["path"]).read_bytes() == DATA


def test_the_same_bytes_dropped_again_after_a_failure_are_tried_again(tmp_path: Path) -> None:
    """A user who drops a quarantined file again (after fixing what was wrong elsewhere) asks
    for another try: the drop queues the content again instead of filing it as a duplicate."""
    from worker.settings import Settings
    from worker.store import Store
    from worker.watch import Watcher

    settings = Settings(inbox=tmp_path / "inbox", data_dir=tmp_path / "data")
    store = Store.from_url(settings.resolved_store_url)
    sent: list[str] = []
    watcher = Watcher(settings, store, enqueue=lambda digest: sent.append(digest) or "t")
    data = b"Title\n\nBody paragraph.\n"
    first = settings.inbox / "dump.txt"
    first.write_bytes(data)
    assert watcher.taker.take(first) == "queued"
    digest = sent[0]
    assert store.ledger.start(digest, "task-1", 30) is not None
    assert store.ledger.fail(digest, {"code": "no_articles"}, None)

    again = settings.inbox / "dump again.txt"
    again.write_bytes(data)
    assert watcher.taker.take(again) == "queued"
    row = store.ledger.get_file(digest)
    assert (row["state"], row["attempts"], row["error"]) == ("queued", 0, None)
    assert sent == [digest, digest]
    assert (settings.work_dir / digest).read_bytes() == data
    store.close()
