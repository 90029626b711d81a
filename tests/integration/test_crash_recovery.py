"""Nothing lost: a worker killed with SIGKILL in the middle of the inbox, then replaced, leaves the
same store as a run without the crash."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.dumps import SHAPES, STORIES, render_dump
from tests.integration.procs import NewsingestProcess, oneshot_records, wait_until
from worker.settings import Settings
from worker.store import Store

pytestmark = pytest.mark.integration

FILES = 24


def _dumps() -> dict[str, bytes]:
    """Distinct files, each a few of our stories made unique by the file's number."""
    dumps = {}
    for number in range(FILES):
        stories = [
            dataclasses.replace(s, title=f"{s.title}, part {number}")
            for s in (STORIES[number % 4], STORIES[(number + 1) % 4])
        ]
        shapes = [SHAPES[number % len(SHAPES)], SHAPES[(number + 3) % len(SHAPES)]]
        dumps[f"dump {number:02}.txt"] = render_dump(stories, shapes).encode()
    # one article that two files share, so that sources have to merge across the crash
    dumps["shared.txt"] = render_dump([STORIES[0]]).encode()
    dumps["shared again.txt"] = render_dump([STORIES[1], STORIES[0]]).encode()
    return dumps


def _reference(tmp_path: Path, dumps: dict[str, bytes]) -> set[tuple]:
    """What the store holds after a run without any crash (`ingest` on the embedded default)."""
    status, records = oneshot_records(tmp_path / "reference", dumps)
    assert status == 0
    return {_comparable(record) for record in records}


def _comparable(record: dict) -> tuple:
    sources = tuple(sorted((s["file"], s["index"], s["line"]) for s in record["sources"]))
    return (record["id"], record["title"], record["body"], record["image_credit"], sources)


def test_worker_killed_mid_inbox_then_replaced(tmp_path: Path, redis_url, postgres_url) -> None:
    """SIGKILL the whole worker (main process and children) after its first file; a new worker
    and the reconciler finish the rest; the store equals the crash-free reference."""
    env = {
        "NEWSINGEST_BROKER_URL": redis_url,
        "NEWSINGEST_STORE_URL": postgres_url,
        "NEWSINGEST_INBOX": str(tmp_path / "inbox"),
        "NEWSINGEST_DATA_DIR": str(tmp_path / "data"),
        "NEWSINGEST_SETTLE_SECONDS": "0.3",
        # short leases so that the test sees recovery in seconds, not minutes
        "NEWSINGEST_LEASE_SECONDS": "4",
        "NEWSINGEST_TASK_TIME_LIMIT": "3",
        "NEWSINGEST_REQUEUE_AFTER_SECONDS": "4",
        "NEWSINGEST_RECONCILE_SECONDS": "1",
    }
    dumps = _dumps()
    settings = Settings(
        inbox=tmp_path / "inbox",
        data_dir=tmp_path / "data",
        broker_url=redis_url,
        store_url=postgres_url,
    )
    settings.ensure_dirs()
    for name, data in dumps.items():
        (settings.inbox / name).write_bytes(data)

    watcher = NewsingestProcess(["watch"], tmp_path, env, "watch")
    doomed = NewsingestProcess(["worker", "--concurrency", "2"], tmp_path, env, "doomed")
    doomed.wait_for("file.done", timeout=90)
    doomed.kill_tree()

    survivor = NewsingestProcess(["worker", "--concurrency", "2"], tmp_path, env, "survivor")
    store = Store.from_url(settings.resolved_store_url)
    try:
        wait_until(
            lambda: store.status()["files"]["done"] == len(dumps),
            timeout=120,
            what="every file done after the crash",
        )
    finally:
        survivor.stop()
        watcher.stop()

    stored = {
        _comparable(dataclasses.asdict(r)) for r in store.iter_articles(include_duplicates=True)
    }
    assert stored == _reference(tmp_path, dumps)
    assert sorted(p.name for p in settings.processed_dir.iterdir()) == sorted(dumps)
    assert list(settings.work_dir.iterdir()) == []
    assert store.status()["files"]["failed"] == 0
    store.close()
