"""Transient errors: a broker that is down when a file arrives costs time, never the file."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.dumps import HARBOUR, ORCHARD, render_dump
from tests.integration.procs import NewsingestProcess, wait_until
from worker.settings import Settings
from worker.store import Store

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary")
def test_broker_down_when_the_file_arrives(tmp_path: Path, postgres_url: str) -> None:
    """The watcher cannot queue the file (Redis is not running yet): the file stays claimed,
    not failed; once Redis is up, the reconciler sends it again and a worker stores it."""
    port = _free_port()
    broker = f"redis://127.0.0.1:{port}/0"
    env = {
        "NEWSINGEST_BROKER_URL": broker,
        "NEWSINGEST_STORE_URL": postgres_url,
        "NEWSINGEST_INBOX": str(tmp_path / "inbox"),
        "NEWSINGEST_DATA_DIR": str(tmp_path / "data"),
        "NEWSINGEST_SETTLE_SECONDS": "0.3",
        "NEWSINGEST_REQUEUE_AFTER_SECONDS": "2",
        "NEWSINGEST_RECONCILE_SECONDS": "1",
        "NEWSINGEST_ENRICHERS": '["language", "stats"]',
    }
    watcher = NewsingestProcess(["watch"], tmp_path, env, "watch")
    watcher.wait_for("watch.started")
    settings = Settings(inbox=tmp_path / "inbox", data_dir=tmp_path / "data")
    (settings.inbox / "news.txt").write_text(render_dump([HARBOUR, ORCHARD]), encoding="utf-8")
    watcher.wait_for("file.enqueue_failed", timeout=60)
    assert not (settings.failed_dir / "news.txt").exists()

    redis = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        worker = NewsingestProcess(["worker", "--concurrency", "1"], tmp_path, env, "worker")
        wait_until(
            (settings.processed_dir / "news.txt").exists, timeout=90, what="the file processed"
        )
        worker.stop()
        watcher.stop()
    finally:
        redis.terminate()
        redis.wait(10)
    store = Store.from_url(postgres_url)
    assert {r.title for r in store.iter_articles()} == {HARBOUR.title, ORCHARD.title}
    assert store.status()["files"]["failed"] == 0
    assert any(e.get("event") == "file.requeued" for e in watcher.events())
    store.close()
