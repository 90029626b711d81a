"""Quarantine races in worker/driver.py found in review: a failed/ place taken by another file,
and a worker that lost its lease failing a file another worker had stored. A real SQLite store
and real folders under tmp_path; the other worker's steps are done by hand, with the ledger on a
fake clock so that leases run out without sleeping.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers_unit import FakeClock, sha
from worker.driver import FileDriver, Run, classify
from worker.enrich import EnrichPipeline
from worker.pipeline import Resources
from worker.settings import Settings
from worker.store import LeaseLostError, Ledger, PublishCounts, Store

DATA = b"Title\n\nBody paragraph.\n"
BROKEN = b"\x00\x01 a broken latest.txt"
BINARY = {"code": "binary_file", "message": "NUL bytes", "line": None}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def resources(tmp_path: Path, clock: FakeClock) -> Iterator[Resources]:
    """A SQLite store whose ledger runs on the fake clock, and folders under tmp_path (no
    enrichers: no article is parsed here)."""
    settings = Settings(inbox=tmp_path / "inbox", data_dir=tmp_path / "data")
    settings.ensure_dirs()
    store = Store.from_url(settings.resolved_store_url)
    store.ledger = Ledger(store.engine, clock=clock)
    yield Resources(settings, store, EnrichPipeline([]))
    store.close()


def _started(resources: Resources, data: bytes, name: str, owner: str):
    """``data`` claimed from its work copy as ``name`` and started by ``owner``: the row."""
    ledger = resources.store.ledger
    digest = sha(data)
    work = resources.settings.work_dir / digest
    work.write_bytes(data)
    ledger.claim(digest, name, str(work), len(data))
    row = ledger.start(digest, owner, resources.settings.lease_seconds)
    assert row is not None
    return row


def test_a_failure_whose_place_in_failed_is_taken_gets_another(resources: Resources) -> None:
    """A worker quarantining a broken latest.txt whose chosen place failed/latest.txt was taken
    meanwhile by another broken latest.txt (and its report) puts its file and report at a fresh
    place, leaving the other file's report as it was."""
    ledger, failed = resources.store.ledger, resources.settings.failed_dir
    row = _started(resources, BROKEN, "latest.txt", "task-2")
    digest = row["sha256"]
    ledger.choose_final_path(digest, str(failed / "latest.txt"))  # chosen while free...
    (failed / "latest.txt").write_bytes(b"the first broken latest.txt")  # ...taken by another
    (failed / "latest.txt.error.json").write_text(json.dumps({"sha256": "first"}))

    error: Exception | None = None
    try:
        FileDriver(resources)._fail(row, BINARY, Run("task-2"), 0.0)
    except Exception as exc:
        error = exc

    report = json.loads((failed / "latest.txt.error.json").read_text())
    assert report["sha256"] == "first", "the other file's error report was overwritten"
    assert (failed / "latest.txt").read_bytes() == b"the first broken latest.txt"
    assert error is None, f"the file can never be quarantined: {error!r} -> {classify(error)}"
    current = ledger.get_file(digest)
    assert current is not None and current["state"] == "failed"
    placed = Path(current["final_path"])
    assert placed != failed / "latest.txt"
    assert placed.read_bytes() == BROKEN
    own = json.loads(placed.with_name(placed.name + ".error.json").read_text())
    assert (own["sha256"], own["code"]) == (digest, "binary_file")


def test_a_late_holder_cannot_fail_a_file_another_worker_stored(
    resources: Resources, clock: FakeClock
) -> None:
    """Worker A stalls past its lease; B takes the file over, stores its articles and moves it to
    processed/; A then finds its copy missing and quarantines: the row stays B's, stored, and
    nothing of A's lands in failed/."""
    ledger, settings = resources.store.ledger, resources.settings
    row_a = _started(resources, DATA, "x.txt", "task-A")
    digest = row_a["sha256"]
    clock.advance(settings.lease_seconds + 1)  # A stalls (paused VM, store unreachable)
    assert ledger.start(digest, "task-B", settings.lease_seconds) is not None
    with resources.store.engine.begin() as conn:
        ledger.mark_stored(conn, digest, "task-B", PublishCounts(1, 1, 0), "utf-8")
    Path(row_a["path"]).rename(settings.processed_dir / "x.txt")  # B moved it, not yet done

    missing = {"code": "file_changed", "message": "the claimed file is missing", "line": None}
    with contextlib.suppress(LeaseLostError):  # A may say it lost the file, or say nothing
        FileDriver(resources)._fail(row_a, missing, Run("task-A"), 0.0)

    row = ledger.get_file(digest)
    assert row is not None
    assert (row["state"], row["task_id"]) == ("stored", "task-B"), (
        "a late holder quarantined a file whose articles another worker stored"
    )
    assert (settings.processed_dir / "x.txt").read_bytes() == DATA
    assert list(settings.failed_dir.iterdir()) == []
    assert ledger.finish(digest, "task-B")


def test_a_finish_retried_after_a_new_work_copy_keeps_one_file(
    resources: Resources, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by a chaos run: a worker moved a stored file to processed/ and died before marking
    it done; a drop of the same bytes then made a new work copy (another inode); the worker that
    finishes the file must see that its reserved place already holds these bytes, drop the spare
    copy, and not put the file in processed/ a second time."""
    settings, ledger = resources.settings, resources.store.ledger
    row = _started(resources, DATA, "dump.txt", "task-1")
    digest = row["sha256"]
    with resources.store.engine.begin() as conn:
        ledger.mark_stored(conn, digest, "task-1", PublishCounts(1, 1, 0), "utf-8")
    driver = FileDriver(resources)

    class Crash(BaseException):
        pass

    def die(*_: object) -> bool:
        raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(ledger, "finish", die)
        with pytest.raises(Crash):
            driver.process_file(digest, Run("task-1"))
    assert (settings.processed_dir / "dump.txt").read_bytes() == DATA
    (settings.work_dir / digest).write_bytes(DATA)  # a take of the same bytes: a new inode
    clock.advance(2 * settings.lease_seconds)

    summary = driver.process_file(digest, Run("task-2"))

    assert summary is not None and summary.state == "done"
    assert sorted(p.name for p in settings.processed_dir.iterdir()) == ["dump.txt"]
    assert list(settings.work_dir.iterdir()) == []
