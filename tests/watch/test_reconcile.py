"""Watcher.reconcile: lost work is sent again from the ledger, each row on its own backoff."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from tests.helpers_unit import FakeClock
from worker.settings import Settings
from worker.store import ChunkPlan, Ledger, Store
from worker.watch import Watcher

LEASE = 30.0


class Sender:
    """enqueue / enqueue_chunk stand-ins that record what was sent."""

    def __init__(self) -> None:
        self.files: list[str] = []
        self.chunks: list[tuple[str, int]] = []
        self.fail = False

    def file(self, sha256: str) -> str:
        if self.fail:
            raise ConnectionError("broker away")
        self.files.append(sha256)
        return f"t-{len(self.files)}"

    def chunk(self, sha256: str, number: int) -> str:
        self.chunks.append((sha256, number))
        return f"c-{len(self.chunks)}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def setup(tmp_path: Path, clock: FakeClock):
    """A watcher (not running) on a SQLite store whose ledger runs on the fake clock, a sender,
    and a mutable broker queue depth (None: unknown)."""
    settings = Settings(inbox=tmp_path / "inbox", data_dir=tmp_path / "data")
    store = Store.from_url(settings.resolved_store_url)
    store.ledger = Ledger(store.engine, clock=clock)
    sender = Sender()
    depth: list[int | None] = [None]
    watcher = Watcher(
        settings, store, sender.file, sender.chunk, queue_depth=lambda: depth[0]
    )  # fmt: skip
    yield watcher, store.ledger, sender, depth
    store.close()


def _sha(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _claim(ledger: Ledger, name: str, **kw) -> str:
    sha256 = _sha(name)
    ledger.claim(sha256, name, f"/work/{sha256}", 1, first_send_after=300.0, **kw)
    ledger.mark_sent(sha256)
    return sha256


def test_a_dead_workers_file_is_sent_again_once(setup, clock: FakeClock) -> None:
    """A file whose worker died is sent again when its lease runs out, and not at every pass
    after that (the row backs off)."""
    watcher, ledger, sender, _ = setup
    key = _claim(ledger, "a.txt")
    ledger.start(key, "died", LEASE)
    watcher.reconcile()
    assert sender.files == []
    clock.now += LEASE + 1
    with capture_logs() as logs:
        watcher.reconcile()
        watcher.reconcile()
    assert sender.files == [key]
    assert [e["event"] for e in logs] == ["file.requeued"]


def test_an_empty_broker_gets_waiting_work_at_once(setup, clock: FakeClock) -> None:
    """The broker says its queue is empty while a file waits queued: its message was lost, and
    the file is sent again a few seconds after its last send, not requeue_after later."""
    watcher, ledger, sender, depth = setup
    key = _claim(ledger, "a.txt")
    depth[0] = 3
    clock.now += 10
    watcher.reconcile()
    assert sender.files == []
    depth[0] = 0
    watcher.reconcile()
    assert sender.files == [key]


def test_at_start_everything_waiting_is_sent(setup, clock: FakeClock) -> None:
    """A restarted watcher sends every waiting row again (its predecessor may have claimed a
    file and died before sending it), but not live work, finished files or ingest's files."""
    watcher, ledger, sender, _ = setup
    waiting = _claim(ledger, "waiting.txt")
    live = _claim(ledger, "live.txt")
    ledger.start(live, "worker", LEASE)
    finished = _claim(ledger, "failed.txt")
    ledger.fail(finished, {"code": "x"}, None)
    _claim(ledger, "ingest.txt", moves=False)
    watcher.reconcile(at_start=True)
    assert sender.files == [waiting]


def test_chunks_are_sent_with_the_chunk_sender(setup, clock: FakeClock) -> None:
    """A split file's chunks that were never started are sent with enqueue_chunk."""
    watcher, ledger, sender, _ = setup
    key = _claim(ledger, "big.txt")
    ledger.start(key, "splitter", LEASE)
    plans = [
        ChunkPlan(n, "/work/part", "", "utf-8", n * 10, n * 10 + 10, n, n + 1, 1) for n in range(2)
    ]
    ledger.split(key, "splitter", plans, "utf-8")
    clock.now += 300
    watcher.reconcile()
    assert (sender.files, sorted(sender.chunks)) == ([], [(key, 0), (key, 1)])


def test_a_broker_error_is_logged_and_the_row_waits_for_its_next_time(
    setup, clock: FakeClock
) -> None:
    """A re-send the broker refuses is logged; the row is not retried at every pass but at its
    next send time (or at once when the broker, back, reports an empty queue)."""
    watcher, ledger, sender, _ = setup
    key = _claim(ledger, "a.txt")
    ledger.start(key, "died", LEASE)
    clock.now += LEASE + 1
    sender.fail = True
    with capture_logs() as logs:
        watcher.reconcile()
    (error,) = [e for e in logs if e["event"] == "file.enqueue_failed"]
    assert error["sha256"] == key
    sender.fail = False
    watcher.reconcile()
    assert sender.files == []  # backed off: sent again at its next time
    clock.now += watcher.settings.requeue_after_seconds
    watcher.reconcile()
    assert sender.files == [key]
