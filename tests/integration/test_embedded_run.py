"""`newsingest run` on the embedded defaults: real watchdog observer, real Celery worker processes,
kombu's SQLite broker and the SQLite store, in a temporary working directory."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.dumps import HARBOUR, ORCHARD, seed_like_dump
from tests.integration.procs import NewsingestProcess, slow_copy, wait_until
from worker.settings import Settings
from worker.store import Store

pytestmark = pytest.mark.integration


@pytest.fixture
def running(tmp_path: Path):
    """A `newsingest run` in tmp_path with its defaults (./inbox, ./data)."""
    run = NewsingestProcess(
        ["run", "--concurrency", "2"],
        cwd=tmp_path,
        env={"NEWSINGEST_SETTLE_SECONDS": "1"},
        name="run",
    )
    settings = Settings(inbox=tmp_path / "inbox", data_dir=tmp_path / "data")
    run.wait_for("worker.process_ready")
    yield run, settings
    run.stop()


def _store(settings: Settings) -> Store:
    return Store.from_url(settings.resolved_store_url)


def test_dropped_file_becomes_records_and_is_moved(running) -> None:
    """A plain (non-atomic) copy into the inbox ends with its articles stored, the file in
    processed/, and a log story for the file that carries its hash and task id."""
    run, settings = running
    data = seed_like_dump().encode()
    slow_copy(data, settings.inbox / "seed like.txt")

    processed = settings.processed_dir / "seed like.txt"
    wait_until(processed.exists, timeout=60, what="the file to reach processed/")
    store = _store(settings)
    records = wait_until(lambda: list(store.iter_articles()), what="records")

    assert processed.read_bytes() == data
    assert list(settings.inbox.iterdir()) == []
    assert list(settings.work_dir.iterdir()) == []
    assert [r.title for r in records] == [HARBOUR.title, ORCHARD.title]
    assert [r.image_credit for r in records] == ["AP", "AFP"]
    assert records[0].image_caption == HARBOUR.caption_line
    assert records[0].body == "\n\n".join(HARBOUR.paragraphs)
    assert records[0].language == "en"
    assert store.status()["files"]["done"] == 1

    story = [e for e in run.events() if e.get("file") == "seed like.txt"]
    steps = [e["event"] for e in story]
    for step in ("file.queued", "file.parsed", "file.enriched", "file.stored", "file.done"):
        assert step in steps, f"{step} missing from {steps}"
    assert {e["sha256"] for e in story} == {records[0].sources[0].sha256}
    task_ids = {e.get("task_id") for e in story}
    assert len(task_ids) == 1 and None not in task_ids
    store.close()


def test_same_bytes_again_make_no_second_job(running) -> None:
    """The same bytes under another name are recorded as a duplicate file: no job, no records."""
    run, settings = running
    data = seed_like_dump().encode()
    (settings.inbox / "first.txt").write_bytes(data)
    wait_until((settings.processed_dir / "first.txt").exists, what="first file processed")
    (settings.inbox / "second name.txt").write_bytes(data)
    wait_until((settings.processed_dir / "second name.txt").exists, what="duplicate moved")

    store = _store(settings)
    status = store.status()
    assert status["duplicate_files"] == 1
    assert status["files"]["done"] == 1
    assert status["articles"] == 2
    duplicate_events = [e for e in run.events() if e.get("event") == "file.duplicate"]
    assert [e["file"] for e in duplicate_events] == ["second name.txt"]
    assert duplicate_events[0]["first_seen_as"] == "first.txt"
    # exactly one task ran for these bytes
    assert sum(e.get("event") == "file.done" for e in run.events()) == 1
    store.close()


def test_files_already_in_the_inbox_are_taken_and_ctrl_c_stops_cleanly(tmp_path: Path) -> None:
    """Files present before start-up are processed; SIGINT ends `run` with status 0."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "waiting.txt").write_text(seed_like_dump(), encoding="utf-8")
    run = NewsingestProcess(
        ["run"], cwd=tmp_path, env={"NEWSINGEST_SETTLE_SECONDS": "0.5"}, name="run"
    )
    processed = tmp_path / "data" / "processed" / "waiting.txt"
    try:
        wait_until(processed.exists, timeout=90, what="the waiting file to be processed")
    finally:
        code = run.stop(signal.SIGINT)
    assert code == 0
    assert any(e.get("event") == "watch.stopped" for e in run.events())
