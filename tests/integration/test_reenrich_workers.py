"""`newsingest reenrich` through real workers on Redis and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dumps import BRIDGE, HARBOUR, ORCHARD, render_dump
from tests.integration.procs import NewsingestProcess, wait_until
from worker.store import Store

pytestmark = pytest.mark.integration


def test_reenrich_goes_through_the_workers(tmp_path: Path, redis_url, postgres_url) -> None:
    """Records stored with only `language` get `stats` and `countries` from a worker after
    `newsingest reenrich`; nothing is parsed again and the ids stay."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("NEWSINGEST_")}
    env = {
        "NEWSINGEST_BROKER_URL": redis_url,
        "NEWSINGEST_STORE_URL": postgres_url,
        "NEWSINGEST_DATA_DIR": str(tmp_path / "data"),
        "NEWSINGEST_INBOX": str(tmp_path / "inbox"),
    }
    dump = tmp_path / "seed.txt"
    dump.write_text(render_dump([HARBOUR, ORCHARD, BRIDGE]), encoding="utf-8")
    subprocess.run(
        [sys.executable, "-m", "worker", "ingest", str(dump)],
        env={**base, **env, "NEWSINGEST_ENRICHERS": '["language"]'},
        check=True,
        capture_output=True,
    )
    store = Store.from_url(postgres_url)
    before = {r.id for r in store.iter_articles()}
    assert all(r.word_count is None for r in store.iter_articles())

    rich = {**env, "NEWSINGEST_ENRICHERS": '["language", "stats", "countries"]'}
    worker = NewsingestProcess(["worker", "--concurrency", "1"], tmp_path, rich, "worker")
    worker.wait_for("worker.process_ready", timeout=120)
    subprocess.run(
        [sys.executable, "-m", "worker", "reenrich"],
        env={**base, **rich},
        check=True,
        capture_output=True,
    )
    wait_until(
        lambda: all(r.word_count for r in store.iter_articles()), timeout=60, what="re-enriched"
    )
    worker.stop()
    assert {r.id for r in store.iter_articles()} == before
    assert all(r.countries is not None for r in store.iter_articles())
    assert any(e.get("event") == "articles.reenriched" for e in worker.events())
    assert not any(e.get("event") == "file.parsed" for e in worker.events())
    store.close()
