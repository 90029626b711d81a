"""The scale-out setup: `newsingest watch` and two `newsingest worker` processes on a real Redis
broker and a real PostgreSQL store, as docker-compose runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.dumps import BRIDGE, HARBOUR, LIBRARY, ORCHARD, render_dump, seed_like_dump
from tests.integration.procs import NewsingestProcess, oneshot_records, slow_copy, wait_until
from worker.settings import Settings
from worker.store import Store

pytestmark = pytest.mark.integration


def _files() -> dict[str, bytes]:
    return {
        "seed like.txt": seed_like_dump().encode(),
        "more.txt": render_dump([LIBRARY, BRIDGE], ["bare", "marker_20"]).encode(),
        # HARBOUR again, laid out differently: the same text, so the same record
        "overlap.txt": render_dump([BRIDGE, HARBOUR], ["repeated_title", "marker"]).encode(),
        "empty.txt": b"",
    }


@pytest.fixture
def scale_out(tmp_path: Path, redis_url: str, postgres_url: str):
    env = {
        "NEWSINGEST_BROKER_URL": redis_url,
        "NEWSINGEST_STORE_URL": postgres_url,
        "NEWSINGEST_INBOX": str(tmp_path / "inbox"),
        "NEWSINGEST_DATA_DIR": str(tmp_path / "data"),
        "NEWSINGEST_SETTLE_SECONDS": "0.5",
    }
    workers = [
        NewsingestProcess(["worker", "--concurrency", "1"], tmp_path, env, f"worker{i}")
        for i in range(2)
    ]
    watcher = NewsingestProcess(["watch"], tmp_path, env, "watch")
    processes = [watcher, *workers]
    try:
        watcher.wait_for("watch.started")
        for worker in workers:
            worker.wait_for("worker.process_ready", timeout=120)
        settings = Settings(
            inbox=tmp_path / "inbox",
            data_dir=tmp_path / "data",
            broker_url=redis_url,
            store_url=postgres_url,
        )
        yield settings, watcher, workers
    finally:
        for process in processes:
            process.stop()


def _embedded_ids(tmp_path: Path, files: dict[str, bytes]) -> dict[str, str]:
    """Article ids per title from `newsingest ingest` on the embedded SQLite default."""
    status, records = oneshot_records(tmp_path / "embedded", files)
    assert status == 1  # empty.txt fails
    return {r["title"]: r["id"] for r in records}


def test_watch_and_workers_on_redis_and_postgres(scale_out, tmp_path: Path) -> None:
    """Files dropped in the inbox are processed by the workers through Redis into PostgreSQL,
    with the same ids as the embedded default; a bad file goes to failed/ and the rest go on."""
    settings, watcher, workers = scale_out
    files = _files()
    for name, data in files.items():
        slow_copy(data, settings.inbox / name, pieces=2, pause=0.1)

    for name in files:
        folder = settings.failed_dir if name == "empty.txt" else settings.processed_dir
        wait_until((folder / name).exists, timeout=90, what=f"{name} to be finished")

    store = Store.from_url(settings.resolved_store_url)
    assert store.engine.dialect.name == "postgresql"
    records = {r.title: r for r in store.iter_articles()}
    assert set(records) == {HARBOUR.title, ORCHARD.title, LIBRARY.title, BRIDGE.title}
    assert {s.file for s in records[HARBOUR.title].sources} == {"seed like.txt", "overlap.txt"}
    assert {s.file for s in records[BRIDGE.title].sources} == {"more.txt", "overlap.txt"}

    embedded = _embedded_ids(tmp_path, files)
    assert {title: r.id for title, r in records.items()} == embedded

    status = store.status()
    assert status["files"]["done"] == 3
    assert status["files"]["failed"] == 1
    assert status["exact_duplicates"] == 2
    report = json.loads((settings.failed_dir / "empty.txt.error.json").read_text())
    assert report["code"] == "empty_file"
    assert (settings.failed_dir / "empty.txt").read_bytes() == b""

    # both halves logged their part of each file's story, under one task id per file
    done = [e for w in workers for e in w.events() if e.get("event") == "file.done"]
    assert sorted(e["file"] for e in done) == ["more.txt", "overlap.txt", "seed like.txt"]
    queued = {e["file"]: e["task_id"] for e in watcher.events() if e.get("event") == "file.queued"}
    assert {e["file"]: e["task_id"] for e in done} == {
        name: task for name, task in queued.items() if name != "empty.txt"
    }
    store.close()
