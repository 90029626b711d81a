"""A dump of many articles is split into chunks that every worker shares; the file is finished
(moved, counted, logged) exactly once, after its last chunk is stored."""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path

import pytest

from tests.dumps import SHAPES, STORIES, render_dump
from tests.integration.procs import NewsingestProcess, oneshot_records, wait_until
from worker.settings import Settings
from worker.store import Store

pytestmark = pytest.mark.integration

ARTICLES = 30
PER_CHUNK = 4


def _big_dump() -> bytes:
    stories = [
        dataclasses.replace(STORIES[n % 4], title=f"{STORIES[n % 4].title}, number {n}")
        for n in range(ARTICLES)
    ]
    shapes = [SHAPES[n % len(SHAPES)] for n in range(ARTICLES)]
    # the same article twice, in different chunks: one record, two sources, counted once as new
    stories.append(stories[1])
    shapes.append("marker")
    return render_dump(stories, shapes).encode()


def _comparable(records) -> set[tuple]:
    return {
        (r["id"], tuple(sorted((s["index"], s["line"]) for s in r["sources"]))) for r in records
    }


def test_a_big_dump_is_shared_by_the_workers(tmp_path: Path, redis_url, postgres_url) -> None:
    """30 + 1 articles in chunks of 4 over two workers on Redis and PostgreSQL: every article
    stored once with its place, the file done once, the same records as a one-shot ingest."""
    env = {
        "NEWSINGEST_BROKER_URL": redis_url,
        "NEWSINGEST_STORE_URL": postgres_url,
        "NEWSINGEST_INBOX": str(tmp_path / "inbox"),
        "NEWSINGEST_DATA_DIR": str(tmp_path / "data"),
        "NEWSINGEST_SETTLE_SECONDS": "0.5",
        "NEWSINGEST_CHUNK_ARTICLES": str(PER_CHUNK),
        "NEWSINGEST_ENRICHERS": '["language", "stats"]',
    }
    workers = [
        NewsingestProcess(["worker", "--concurrency", "1"], tmp_path, env, f"worker{i}")
        for i in range(2)
    ]
    watcher = NewsingestProcess(["watch"], tmp_path, env, "watch")
    for worker in workers:
        worker.wait_for("worker.process_ready", timeout=120)
    watcher.wait_for("watch.started")
    settings = Settings(
        inbox=tmp_path / "inbox", data_dir=tmp_path / "data", store_url=postgres_url
    )
    data = gzip.compress(_big_dump())
    (settings.inbox / "big.txt.gz").write_bytes(data)
    wait_until((settings.processed_dir / "big.txt.gz").exists, timeout=120, what="big file done")
    for process in (watcher, *workers):
        process.stop()

    store = Store.from_url(settings.resolved_store_url)
    row = store.ledger.files_in_state("done")[0]
    assert (row["found"], row["new"], row["duplicates"]) == (ARTICLES + 1, ARTICLES, 1)
    chunks = store.ledger.chunk_rows(row["sha256"])
    assert len(chunks) == -(-(ARTICLES + 1) // PER_CHUNK)
    assert {c["state"] for c in chunks} == {"stored"}
    records = [dataclasses.asdict(r) for r in store.iter_articles(include_duplicates=True)]
    assert len(records) == ARTICLES
    store.close()

    events = [e for w in workers for e in w.events()]
    stored_by = {e["chunk"]: e["task_id"] for e in events if e.get("event") == "chunk.stored"}
    assert sorted(stored_by) == list(range(len(chunks)))
    assert sum(e.get("event") == "file.done" for e in events) == 1
    # both workers took chunks
    assert all(any(e.get("event") == "chunk.stored" for e in w.events()) for w in workers)

    # a one-shot ingest of the same file (chunked in-process) gives the same records
    status, oneshot = oneshot_records(
        tmp_path / "oneshot",
        {"big.txt.gz": data},
        {"NEWSINGEST_CHUNK_ARTICLES": str(PER_CHUNK), "NEWSINGEST_ENRICHERS": '["stats"]'},
    )
    assert status == 0
    assert _comparable(oneshot) == _comparable(records)
