"""New records delivered as they are committed (worker/outbox.py), on real Redis and PostgreSQL.

A watcher (whose relay dies once between an XADD and the move of its cursor) and two workers
(one of which dies once right after a publish commits) take dumps with repeated and edited
stories; a consumer group on the Redis stream then reads every stored record exactly once, in
commit order. `tail --follow` prints records as they commit, on PostgreSQL (LISTEN) and SQLite.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis

from tests.dumps import BRIDGE, HARBOUR, LIBRARY, ORCHARD, render_dump
from tests.integration.procs import NewsingestProcess, wait_until
from tests.stories_near import STORY_VERSIONS
from worker.store import Store

pytestmark = pytest.mark.integration


def _dumps() -> dict[str, bytes]:
    """Six dumps: new stories, exact repeats of earlier ones and edited versions."""
    versions = [story for group in STORY_VERSIONS[:3] for story in group[:3]]
    return {
        "one.txt": render_dump([HARBOUR, ORCHARD, *versions[:2]]).encode(),
        "two.txt": render_dump([ORCHARD, LIBRARY, versions[3]]).encode(),
        "three.txt": render_dump([BRIDGE, *versions[2:4]]).encode(),
        "four.txt": render_dump(versions[4:7]).encode(),
        "five.txt": render_dump([HARBOUR, *versions[7:]]).encode(),
        "six.txt": render_dump([LIBRARY, BRIDGE]).encode(),
    }


def test_every_record_reaches_the_stream_once_through_a_worker_kill_and_a_relay_crash(
    tmp_path: Path, redis_url: str, postgres_url: str
) -> None:
    key = f"newsingest:articles:test-{uuid.uuid4().hex[:8]}"
    fired = tmp_path / "fired"
    fired.mkdir()
    env = {
        "NEWSINGEST_BROKER_URL": redis_url,
        "NEWSINGEST_STORE_URL": postgres_url,
        "NEWSINGEST_INBOX": str(tmp_path / "inbox"),
        "NEWSINGEST_DATA_DIR": str(tmp_path / "data"),
        "NEWSINGEST_SETTLE_SECONDS": "0.3",
        "NEWSINGEST_LEASE_SECONDS": "3",
        "NEWSINGEST_RECONCILE_SECONDS": "0.5",
        "NEWSINGEST_STREAM_KEY": key,
        "NEWSINGEST_FAULT_DIR": str(fired),
    }
    watcher = NewsingestProcess(
        ["watch"], tmp_path, {**env, "NEWSINGEST_FAULT": "relay.after_deliver"}, "watch"
    )
    workers = [
        NewsingestProcess(
            ["worker", "--concurrency", "1"],
            tmp_path,
            {**env, "NEWSINGEST_FAULT": "publish.after_commit"} if i == 0 else env,
            f"worker{i}",
        )
        for i in range(2)
    ]
    store = Store.from_url(postgres_url)
    client = redis.Redis.from_url(redis_url)
    restarted: list[NewsingestProcess] = []
    try:
        watcher.wait_for("watch.started")
        for worker in workers:
            worker.wait_for("worker.process_ready", timeout=120)
        inbox = tmp_path / "inbox"
        for name, data in _dumps().items():
            (inbox / f".{name}.part").write_bytes(data)
            (inbox / f".{name}.part").rename(inbox / name)

        # the relay dies (kill -9) after its first XADD, before its cursor moved: start the
        # watcher again, as compose's restart policy would
        wait_until(lambda: watcher.process.poll() is not None, 120, "the relay's crash")
        assert watcher.process.returncode == -9
        restarted.append(NewsingestProcess(["watch"], tmp_path, env, "watch-again"))
        wait_until(lambda: store.status()["files"]["done"] == len(_dumps()), 180, "every file done")
        assert (fired / "publish.after_commit").exists(), "the worker kill did not happen"
        stored = [r.id for r in store.iter_articles(include_duplicates=True)]
        wait_until(lambda: client.xlen(key) >= len(stored), 60, "the stream to catch up")

        client.xgroup_create(key, "readers", id="0")
        entries = client.xreadgroup("readers", "one", {key: ">"}, count=10_000)[0][1]
        ids = [fields[b"id"].decode() for _, fields in entries]
        assert sorted(ids) == sorted(stored)  # every record, none twice
        seqs = [int(fields[b"seq"]) for _, fields in entries]
        assert seqs == sorted(seqs) == list(range(1, len(stored) + 1))  # commit order
        by_id = {r.id: r for r in store.iter_articles(include_duplicates=True)}
        for _, fields in entries:
            record = by_id[fields[b"id"].decode()]
            assert fields[b"title"].decode() == record.title
            assert (fields[b"duplicate_of"].decode() or None) == record.duplicate_of
            assert json.loads(fields[b"countries"]) == (record.countries or [])
        assert any(r.duplicate_of for r in by_id.values())  # versions were announced too
        redelivered = [e for e in restarted[0].events() if e.get("event") == "relay.delivered"]
        assert redelivered and redelivered[0]["first_seq"] == 1  # the batch sent again
    finally:
        for process in [*restarted, *workers, watcher]:
            process.stop()
        client.delete(key)
        client.close()
        store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_tail_follow_prints_records_as_they_commit(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    env_store = {}
    if backend == "postgresql":
        env_store["NEWSINGEST_STORE_URL"] = request.getfixturevalue("postgres_url")
    env = {
        "NEWSINGEST_DATA_DIR": str(tmp_path / "data"),
        "NEWSINGEST_LOG_FORMAT": "json",
        "NEWSINGEST_CONFIG": "/nonexistent/newsingest.toml",
        **env_store,
    }
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    first.write_text(render_dump([HARBOUR, ORCHARD]), encoding="utf-8")
    second.write_text(render_dump([ORCHARD, LIBRARY, BRIDGE]), encoding="utf-8")

    def ingest(path: Path) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "worker", "ingest", str(path)],
            env=_env(env),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]

    ingest(first)
    follower = subprocess.Popen(
        [sys.executable, "-m", "worker", "tail", "--follow", "-n", "1", "--interval", "5"],
        env=_env(env),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert json.loads(follower.stdout.readline())["title"] == ORCHARD.title  # the last one
        ingest(second)
        later = [json.loads(follower.stdout.readline()) for _ in range(2)]
        assert [line["title"] for line in later] == [LIBRARY.title, BRIDGE.title]
        assert [line["_seq"] for line in later] == [3, 4]
    finally:
        follower.terminate()
        follower.wait(30)
    assert follower.returncode == 0, follower.stderr.read()[-2000:]


def _env(extra: dict[str, str]) -> dict[str, str]:
    import os

    return {**{k: v for k, v in os.environ.items() if not k.startswith("NEWSINGEST_")}, **extra}
