"""Crash points: a process SIGKILLed at each named window of a file's life, then restarted, leaves
the store, the ledger and the folders exactly as a run without the crash.

The windows are the named points of ``worker/faults.py``: the test process arms one with
``NEWSINGEST_FAULT`` for the watcher and the worker it starts; the first process to reach it dies
there (once: ``NEWSINGEST_FAULT_DIR``). The test then kills the rest of that process's node as a
crash would (the worker's whole tree for a worker point) and starts replacements without the
fault. Recovery goes the way it would in production: leases run out, the reconciler re-sends, the
watcher re-takes the inbox file and resumes its drop.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import redis

from tests.dumps import SHAPES, STORIES, render_dump
from tests.integration.procs import NewsingestProcess, oneshot_records, wait_until
from worker.settings import Settings
from worker.store import Store

pytestmark = pytest.mark.integration

PER_CHUNK = 2
WATCHER_POINTS = ("take.mid_copy", "take.after_copy", "claim.after_commit", "take.after_move")
WORKER_POINTS = (
    "publish.after_commit",
    "split.after_commit",
    "chunk.after_last_flip",
    "finish.before_move",
    "finish.after_move",
)


def _dumps() -> dict[str, bytes]:
    """Small files, a big one split into chunks, the same bytes under two names, and an article
    that two files share (its sources merge across the crash)."""
    dumps: dict[str, bytes] = {}
    for number in range(4):
        stories = [
            dataclasses.replace(s, title=f"{s.title}, edition {number}")
            for s in (STORIES[number % 4], STORIES[(number + 1) % 4])
        ]
        dumps[f"small {number}.txt"] = render_dump(stories, [SHAPES[number], "bare"]).encode()
    big = [
        dataclasses.replace(STORIES[n % 4], title=f"{STORIES[n % 4].title}, chunk story {n}")
        for n in range(7)
    ]
    dumps["big.txt"] = render_dump(big, [SHAPES[n % len(SHAPES)] for n in range(7)]).encode()
    dumps["twin a.txt"] = render_dump([STORIES[2]], ["full"]).encode()
    dumps["twin b.txt"] = dumps["twin a.txt"]
    dumps["shares one.txt"] = render_dump([STORIES[3], STORIES[2]], ["marker", "full"]).encode()
    return dumps


def _comparable(records: list[dict]) -> tuple[set[tuple], set[frozenset[str]]]:
    """Each record's text and every place it was seen, and the duplicate groups (which version
    is canonical depends on which file came first; the groups do not)."""
    texts = {
        (
            r["id"],
            r["title"],
            r["body"],
            tuple(sorted((s["file"], s["index"], s["line"]) for s in r["sources"])),
        )
        for r in records
    }
    groups: dict[str, set[str]] = {}
    for r in records:
        groups.setdefault(r["duplicate_of"] or r["id"], set()).add(r["id"])
    return texts, {frozenset(group) for group in groups.values()}


@pytest.fixture(scope="module")
def reference(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[set[tuple], set[frozenset[str]]]:
    """The records of a calm run: a one-shot `ingest` on the embedded default."""
    folder = tmp_path_factory.mktemp("calm")
    status, records = oneshot_records(
        folder,
        _dumps(),
        env={"NEWSINGEST_CHUNK_ARTICLES": str(PER_CHUNK), **_CHEAP_ENRICHERS},
    )
    assert status == 0
    return _comparable(records)


_CHEAP_ENRICHERS = {"NEWSINGEST_ENRICHERS": '["language","credit","stats","lead"]'}


@pytest.mark.parametrize("point", WATCHER_POINTS + WORKER_POINTS)
def test_crash_at_point_then_restart(
    point: str,
    tmp_path: Path,
    redis_url: str,
    postgres_url: str,
    reference: tuple[set[tuple], set[frozenset[str]]],
) -> None:
    """Kill -9 at ``point``, restart, and everything ends as in the calm run."""
    redis.Redis.from_url(redis_url).flushdb()  # no message of an earlier test in the way
    settings = Settings(
        inbox=tmp_path / "inbox",
        data_dir=tmp_path / "data",
        broker_url=redis_url,
        store_url=postgres_url,
    )
    settings.ensure_dirs()
    fired = tmp_path / "fired"
    fired.mkdir()
    env = {
        "NEWSINGEST_BROKER_URL": redis_url,
        "NEWSINGEST_STORE_URL": postgres_url,
        "NEWSINGEST_INBOX": str(settings.inbox),
        "NEWSINGEST_DATA_DIR": str(settings.data_dir),
        "NEWSINGEST_SETTLE_SECONDS": "0.3",
        "NEWSINGEST_CHUNK_ARTICLES": str(PER_CHUNK),
        "NEWSINGEST_LEASE_SECONDS": "3",
        "NEWSINGEST_RECONCILE_SECONDS": "0.5",
        "NEWSINGEST_RESCAN_SECONDS": "1",
        **_CHEAP_ENRICHERS,
    }
    faulty = {**env, "NEWSINGEST_FAULT": point, "NEWSINGEST_FAULT_DIR": str(fired)}
    dumps = _dumps()
    for name, data in dumps.items():
        (settings.inbox / name).write_bytes(data)

    watcher = NewsingestProcess(["watch"], tmp_path, faulty, "watch-1")
    worker = NewsingestProcess(["worker", "--concurrency", "2"], tmp_path, faulty, "worker-1")
    wait_until(lambda: (fired / point).exists(), timeout=90, what=f"the fault {point} to fire")
    if point in WATCHER_POINTS:
        wait_until(lambda: watcher.process.poll() is not None, timeout=10, what="watcher death")
        watcher.kill_tree()
        watcher = NewsingestProcess(["watch"], tmp_path, env, "watch-2")
    else:  # the child died at the point; the node goes down with it
        worker.kill_tree()
        worker = NewsingestProcess(["worker", "--concurrency", "2"], tmp_path, env, "worker-2")

    store = Store.from_url(settings.resolved_store_url)
    distinct = len(set(dumps.values()))
    try:
        wait_until(
            lambda: (
                store.status()["files"]["done"] == distinct
                and not any(settings.inbox.iterdir())
                and not any(settings.work_dir.iterdir())
            ),
            timeout=90,
            what=f"every file done after a crash at {point}",
        )
    finally:
        worker.stop()
        watcher.stop()

    stored = _comparable(
        [dataclasses.asdict(r) for r in store.iter_articles(include_duplicates=True)]
    )
    status = store.status()
    store.close()
    assert stored == reference
    assert sorted(p.name for p in settings.processed_dir.iterdir()) == sorted(dumps)
    assert list(settings.failed_dir.iterdir()) == []
    assert status["files"] == {
        "queued": 0,
        "processing": 0,
        "split": 0,
        "stored": 0,
        "done": distinct,
        "failed": 0,
    }
    assert status["duplicate_files"] == len(dumps) - distinct  # one drop per arrival
