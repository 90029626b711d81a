"""How soon a real watcher (watchdog observer on a real folder) takes a file, by how it arrived.

``settle_seconds`` is set far above what the tests wait, so a file taken within the wait was
taken by a completeness rule other than the settle timer: that is what is tested, not speed."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from tests.dumps import HARBOUR, ORCHARD, render_dump
from tests.integration.procs import wait_until
from worker.settings import Settings
from worker.store import Store
from worker.watch import Watcher

SETTLE = 120.0  # no file in these tests may be taken by the settle timer
WAIT = 20.0  # far under SETTLE, far over what an event takes on a loaded machine


@pytest.fixture
def watching(tmp_path: Path):
    """A running watcher on tmp_path/inbox, a staging folder beside it (same file system), and
    the names it has queued so far."""
    settings = Settings(
        inbox=tmp_path / "inbox",
        data_dir=tmp_path / "data",
        settle_seconds=SETTLE,
        rescan_seconds=SETTLE,
    )
    store = Store.from_url(settings.resolved_store_url)
    queued: list[str] = []

    def enqueue(sha256: str) -> str:
        queued.append(store.ledger.get_file(sha256)["name"])
        return f"task-{len(queued)}"

    watcher = Watcher(settings, store, enqueue)
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    staging = tmp_path / "staging"
    staging.mkdir()
    time.sleep(0.5)  # the observer is scheduled once run() has started it
    yield settings, staging, queued
    watcher.stop()
    thread.join(timeout=30)
    assert not thread.is_alive()
    store.close()


def test_a_file_moved_in_from_another_folder_is_taken_at_once(watching) -> None:
    """The standard atomic drop: written elsewhere, then renamed into the inbox. inotify reports
    a move whose source it does not watch; it must count as complete, not wait to settle."""
    settings, staging, queued = watching
    written = staging / "ready.txt"
    written.write_text(render_dump([HARBOUR]), encoding="utf-8")
    os.rename(written, settings.inbox / "ready.txt")
    wait_until(lambda: queued == ["ready.txt"], timeout=WAIT, what="the moved-in file queued")


def test_a_plain_write_still_waits_for_its_rules(watching) -> None:
    """Written in place (what `cp` does) and not renamed: not complete at once. A file moved in
    meanwhile is taken, and a file moved out of the inbox (a move with no destination inside)
    disturbs nothing."""
    settings, staging, queued = watching
    (settings.inbox / "being-copied.txt").write_text(render_dump([ORCHARD]), encoding="utf-8")
    (settings.inbox / "leaving.txt").write_text(render_dump([HARBOUR]), encoding="utf-8")
    os.rename(settings.inbox / "leaving.txt", staging / "left.txt")
    written = staging / "moved.txt"
    written.write_text(render_dump([HARBOUR]), encoding="utf-8")
    os.rename(written, settings.inbox / "moved.txt")
    wait_until(lambda: "moved.txt" in queued, timeout=WAIT, what="the moved-in file queued")
    time.sleep(1.0)  # the copy was closed before the move; its quiet time is 3/4 of SETTLE
    assert queued == ["moved.txt"]
