"""Watcher.sweep: what crashes leave in work/ is tidied, and nothing claimable is ever deleted."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from worker.settings import Settings
from worker.store import Store
from worker.watch import Watcher


@pytest.fixture
def watcher(tmp_path: Path):
    settings = Settings(inbox=tmp_path / "inbox", data_dir=tmp_path / "data")
    store = Store.from_url(settings.resolved_store_url)
    yield Watcher(settings, store, enqueue=lambda sha256: "t")
    store.close()


def _copy(watcher: Watcher, data: bytes, age: float = 0.0) -> Path:
    path = watcher.settings.work_dir / hashlib.sha256(data).hexdigest()
    path.write_bytes(data)
    if age:
        old = time.time() - age
        os.utime(path, (old, old))
    return path


def test_unclaimed_old_copy_goes_back_to_the_inbox(watcher: Watcher) -> None:
    """A work copy no row claims after a minute (its claim was lost) is re-dropped, not deleted."""
    orphan = _copy(watcher, b"Title\n\nBody\n", age=120)
    watcher.sweep()
    assert not orphan.exists()
    back = list(watcher.settings.inbox.iterdir())
    assert [p.name for p in back] == [f"recovered-{orphan.name[:12]}"]
    assert back[0].read_bytes() == b"Title\n\nBody\n"


def test_young_unclaimed_copy_is_left_for_its_claim(watcher: Watcher) -> None:
    """A fresh copy may be a take in progress: it stays."""
    fresh = _copy(watcher, b"Title\n\nBody\n")
    watcher.sweep()
    assert fresh.exists()
    assert list(watcher.settings.inbox.iterdir()) == []


def test_copies_of_finished_content_go_and_live_ones_stay(watcher: Watcher) -> None:
    """A copy of done (or failed) content is spare; a queued file's copy is its bytes."""
    ledger = watcher.store.ledger
    done = _copy(watcher, b"Done\n\nBody\n", age=120)
    live = _copy(watcher, b"Live\n\nBody\n", age=120)
    for path in (done, live):
        ledger.claim(path.name, path.name, str(path), path.stat().st_size)
    row = ledger.start(done.name, "t-1", 30)
    assert row is not None
    ledger.fail(done.name, {"code": "x"}, None)
    watcher.sweep()
    assert not done.exists()
    assert live.exists()


def test_young_copy_of_failed_content_stays(watcher: Watcher) -> None:
    """A fresh copy may be a `requeue` about to commit: even if its row still says failed, it
    stays until it is a minute old."""
    ledger = watcher.store.ledger
    fresh = _copy(watcher, b"Again\n\nBody\n")
    ledger.claim(fresh.name, fresh.name, str(fresh), fresh.stat().st_size)
    ledger.fail(fresh.name, {"code": "x"}, None)
    watcher.sweep()
    assert fresh.exists()


def test_orphan_whose_original_is_still_in_the_inbox_is_not_recovered(watcher: Watcher) -> None:
    """A take whose claim failed leaves the copy and the original: the copy goes, the original
    is taken again, and the bytes are not dropped a second time."""
    data = b"Twice\n\nBody\n"
    orphan = _copy(watcher, data, age=120)
    (watcher.settings.inbox / "dump.txt").write_bytes(data)
    watcher.sweep()
    assert not orphan.exists()
    assert [p.name for p in watcher.settings.inbox.iterdir()] == ["dump.txt"]


def test_interrupted_copies_go_at_start(watcher: Watcher) -> None:
    """A hidden .taking-* file is what a crash mid-copy left: removed when the watcher starts."""
    partial = watcher.settings.work_dir / ".taking-0123"
    partial.write_bytes(b"half")
    watcher.sweep()
    assert partial.exists()  # not while running: it may be a copy in progress
    watcher.sweep(at_start=True)
    assert not partial.exists()
