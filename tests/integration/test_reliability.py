"""Scenarios of issue 8 on the real topology (watcher and workers on Redis and PostgreSQL), each
a way the "nothing lost, stuck or doubled" promise used to break."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from tests.dumps import SHAPES, STORIES, render_dump
from tests.integration.procs import NewsingestProcess, wait_until
from worker.settings import Settings
from worker.store import Store

pytestmark = pytest.mark.integration

CHEAP = {"NEWSINGEST_ENRICHERS": '["language","credit","stats","lead"]'}


def _dump(tag: str, count: int = 2) -> bytes:
    stories = [
        dataclasses.replace(STORIES[n % 4], title=f"{STORIES[n % 4].title}, {tag} {n}")
        for n in range(count)
    ]
    return render_dump(stories, [SHAPES[n % len(SHAPES)] for n in range(count)]).encode()


@pytest.fixture
def topology(tmp_path: Path, redis_url: str, postgres_url: str):
    """Settings and the environment of a watcher and workers on Redis and PostgreSQL."""
    redis.Redis.from_url(redis_url).flushdb()
    settings = Settings(
        inbox=tmp_path / "inbox",
        data_dir=tmp_path / "data",
        broker_url=redis_url,
        store_url=postgres_url,
    )
    settings.ensure_dirs()
    env = {
        "NEWSINGEST_BROKER_URL": redis_url,
        "NEWSINGEST_STORE_URL": postgres_url,
        "NEWSINGEST_INBOX": str(settings.inbox),
        "NEWSINGEST_DATA_DIR": str(settings.data_dir),
        "NEWSINGEST_SETTLE_SECONDS": "0.3",
        "NEWSINGEST_LEASE_SECONDS": "3",
        "NEWSINGEST_RECONCILE_SECONDS": "0.5",
        **CHEAP,
    }
    return settings, env


def _cli(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NEWSINGEST_")}
    return subprocess.run(
        [sys.executable, "-m", "worker", *args],
        cwd=cwd,
        env={**clean, "NEWSINGEST_LOG_FORMAT": "json", **env},
        capture_output=True,
        text=True,
    )


def test_same_name_again_and_again(tmp_path: Path, topology) -> None:
    """A scraper rewriting ``latest.txt``: new bytes while the first are in flight, then the
    first bytes again, twice. Every drop ends in processed/ under a name of its own, none is
    quarantined, the inbox empties, and the ledger has two contents and four drops."""
    settings, env = topology
    first, second = _dump("first"), _dump("second")
    watcher = NewsingestProcess(["watch"], tmp_path, env, "watch")
    latest = settings.inbox / "latest.txt"
    for data in (first, second, first, first):
        staged = settings.inbox / ".latest.txt.part"
        staged.write_bytes(data)
        staged.rename(latest)  # the atomic drop: taken at once
        wait_until(lambda: not latest.exists(), timeout=30, what="the drop to be taken")
    # only now the worker: both contents finish after every drop has chosen its place
    worker = NewsingestProcess(["worker", "--concurrency", "2"], tmp_path, env, "worker")
    store = Store.from_url(settings.resolved_store_url)
    try:
        wait_until(lambda: store.status()["files"]["done"] == 2, timeout=60, what="both done")
    finally:
        worker.stop()
        watcher.stop()
    status = store.status()
    store.close()
    processed = sorted(p.name for p in settings.processed_dir.iterdir())
    assert len(processed) == 4, processed
    assert "latest.txt" in processed
    assert list(settings.failed_dir.iterdir()) == []
    assert status["files"]["failed"] == 0
    assert status["duplicate_files"] == 2
    events = [e["event"] for e in worker.events() + watcher.events()]
    assert "file.failed" not in events
    assert "file.take_failed" not in events


def test_ingest_beside_a_running_watcher_keeps_its_files(tmp_path: Path, topology) -> None:
    """`ingest` dies half way (kill -9 after its publish) on a store that a watcher shares: the
    reconciler never sends the row `ingest` owns, no worker moves the user's file, and running
    `ingest` again finishes it in place."""
    settings, env = topology
    watcher = NewsingestProcess(["watch"], tmp_path, env, "watch")
    worker = NewsingestProcess(["worker", "--concurrency", "1"], tmp_path, env, "worker")
    mine = tmp_path / "mine" / "report.txt"
    mine.parent.mkdir()
    mine.write_bytes(_dump("mine"))
    fired = tmp_path / "fired"
    fired.mkdir()
    crashed = _cli(
        ["ingest", str(mine)],
        tmp_path,
        {**env, "NEWSINGEST_FAULT": "publish.after_commit", "NEWSINGEST_FAULT_DIR": str(fired)},
    )
    assert crashed.returncode == -9, crashed.stderr[-2000:]
    store = Store.from_url(settings.resolved_store_url)
    row = store.ledger.get_file(_sha(mine))
    assert row is not None and row["state"] == "stored" and row["moves"] == 0
    # leases of 3 s, reconciling every 0.5 s: give the reconciler many chances to get it wrong
    wait_until(lambda: _lease_expired(store, mine), timeout=10, what="the ingest lease to expire")
    time.sleep(3)
    assert mine.exists(), "a worker moved the user's own file"
    resent = [e for e in watcher.events() if e["event"] == "file.requeued"]
    assert not [e for e in resent if e.get("sha256") == _sha(mine)]

    again = _cli(["ingest", "--json", str(mine)], tmp_path, env)
    worker.stop()
    watcher.stop()
    assert again.returncode == 0, again.stderr[-2000:]
    assert mine.exists()
    assert store.ledger.get_file(_sha(mine))["state"] == "done"
    assert list(settings.processed_dir.iterdir()) == []
    store.close()


def test_configuration_error_pauses_work_instead_of_failing_files(tmp_path: Path, topology) -> None:
    """A near-duplicate setting changed without `rebuild-index`: files wait (queued, no attempt
    used, nothing in failed/), each retry is logged as a retry (not a signal handler error),
    and once the index is rebuilt they are done."""
    settings, env = topology
    seeded = _cli(["ingest", str(_write(tmp_path / "seed.txt", _dump("seed")))], tmp_path, env)
    assert seeded.returncode == 0, seeded.stderr[-2000:]
    changed = {**env, "NEWSINGEST_NEAR_DUP_SHINGLE_WORDS": "4"}
    watcher = NewsingestProcess(["watch"], tmp_path, changed, "watch")
    worker = NewsingestProcess(["worker", "--concurrency", "1"], tmp_path, changed, "worker")
    _write(settings.inbox / "waits.txt", _dump("waits"))
    store = Store.from_url(settings.resolved_store_url)
    try:
        worker.wait_for("work.paused", timeout=60)
        worker.wait_for("task.retry", timeout=30)
        row = store.ledger.get_file(hashlib.sha256(_dump("waits")).hexdigest())
        assert row["state"] == "queued" and row["attempts"] == 0, dict(row)
        assert list(settings.failed_dir.iterdir()) == []
        rebuilt = _cli(["rebuild-index"], tmp_path, changed)
        assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
        wait_until(lambda: store.status()["files"]["done"] == 2, timeout=90, what="resumed")
    finally:
        worker.stop()
        watcher.stop()
        store.close()
    log = worker.log_path.read_text()
    assert "TypeError" not in log
    assert "Signal handler" not in log


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{path.name}.part")
    staged.write_bytes(data)
    staged.rename(path)
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _lease_expired(store: Store, path: Path) -> bool:
    row = store.ledger.get_file(_sha(path))
    return row is not None and (row["lease_until"] or 0) < time.time()


def test_a_file_that_kills_its_worker_every_time_is_quarantined(tmp_path: Path, topology) -> None:
    """A crash loop (here: the pool process SIGKILLed each time it starts the file, as an
    out-of-memory kill would) ends after max_attempts crashes with the file in failed/ as
    too_many_attempts, and the worker goes on with the next file."""
    settings, env = topology
    watcher = NewsingestProcess(["watch"], tmp_path, env, "watch")
    deadly = {**env, "NEWSINGEST_FAULT": "file.started", "NEWSINGEST_MAX_ATTEMPTS": "2"}
    worker = NewsingestProcess(["worker", "--concurrency", "1"], tmp_path, deadly, "worker")
    _write(settings.inbox / "deadly.txt", _dump("deadly"))
    store = Store.from_url(settings.resolved_store_url)
    try:
        wait_until(lambda: store.status()["files"]["failed"] == 1, timeout=120, what="quarantine")
    finally:
        worker.stop()
        watcher.stop()
    row = store.ledger.files_in_state("failed")[0]
    store.close()
    assert row["error"]["code"] == "too_many_attempts"
    assert row["attempts"] == 3  # two crashes counted, the third start quarantines
    report = json.loads(Path(row["final_path"] + ".error.json").read_text())
    assert report["code"] == "too_many_attempts"
    assert Path(row["final_path"]).read_bytes() == _dump("deadly")
