"""Tests for worker/metrics.py: the watcher's gauges read from a real SQLite store, the workers'
counters and histograms as a file goes through the pipeline, and the endpoint's refusals."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from sqlalchemy import text
from structlog.testing import capture_logs

from tests.dumps import HARBOUR, ORCHARD, render_dump
from tests.helpers_unit import FakeClock
from tests.stories_near import BASE, versions
from worker import metrics
from worker.driver import FileDriver
from worker.metrics import StoreCollector
from worker.pipeline import Resources
from worker.settings import Settings

# HARBOUR twice in one file: one record, an exact duplicate
GOOD = render_dump([HARBOUR, ORCHARD, HARBOUR]).encode("utf-8")
# a story, then a version of it (a few words changed): two records, one linked to the other
STORY, VERSION = versions(BASE[0], 0)[:2]
WITH_VERSION = render_dump([STORY, VERSION]).encode("utf-8")
NO_ARTICLES = b"Just A Title\n\n\n\nAnother Lonely Title\n"


@pytest.fixture
def resources(tmp_path: Path) -> Iterator[Resources]:
    # cheap enrichers: these tests are about counting, not enriching
    settings = Settings(inbox=tmp_path / "inbox", data_dir=tmp_path / "data", enrichers=["stats"])
    built = Resources.build(settings)
    yield built
    built.store.close()


def _ingest(resources: Resources, folder: Path, name: str, data: bytes) -> str:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return FileDriver(resources).ingest(path).state


def _scrape(collector: StoreCollector) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(collector)
    return registry


def test_the_watcher_reports_what_the_store_holds(resources: Resources, tmp_path: Path) -> None:
    folder = tmp_path / "dumps"
    assert _ingest(resources, folder, "good.txt", GOOD) == "done"
    assert _ingest(resources, folder, "versions.txt", WITH_VERSION) == "done"
    assert _ingest(resources, folder, "bad.txt", NO_ARTICLES) == "failed"
    assert _ingest(resources, folder, "again.txt", GOOD) == "duplicate"
    # one file waiting, claimed at t=1000 on the ledger's clock; the scrape comes at t=1060
    store = resources.store
    store.ledger.clock = FakeClock(1000.0)
    store.ledger.claim("f" * 64, "waiting.txt", str(folder / "waiting.txt"), 10)

    registry = _scrape(StoreCollector(store, queue_depth=lambda: 7, clock=lambda: 1060.0))
    value = registry.get_sample_value

    status = store.status()
    for state, count in status["files"].items():
        assert value("newsingest_files", {"state": state}) == count
    assert status["files"]["done"] == 2 and status["files"]["queued"] == 1
    assert value("newsingest_failures", {"code": "no_articles"}) == 1
    assert value("newsingest_articles") == status["articles"] == 3  # HARBOUR, ORCHARD, STORY
    assert value("newsingest_article_versions") == status["near_duplicates"] == 1
    assert value("newsingest_exact_duplicates") == status["exact_duplicates"] == 1
    assert value("newsingest_duplicate_files") == status["duplicate_files"] == 1
    assert value("newsingest_queue_depth") == 7
    assert value("newsingest_oldest_pending_file_age_seconds") == 60.0
    assert value("newsingest_scrape_errors_total", {"source": "store"}) == 0
    assert value("newsingest_scrape_errors_total", {"source": "broker"}) == 0


def test_nothing_pending_is_an_age_of_zero(resources: Resources, tmp_path: Path) -> None:
    assert _ingest(resources, tmp_path / "dumps", "good.txt", GOOD) == "done"
    registry = _scrape(StoreCollector(resources.store, queue_depth=lambda: 0))
    assert registry.get_sample_value("newsingest_oldest_pending_file_age_seconds") == 0.0
    assert registry.get_sample_value("newsingest_failures", {"code": "no_articles"}) is None


def test_a_source_that_cannot_be_read_is_counted_and_the_rest_reported(
    resources: Resources,
) -> None:
    with resources.store.engine.begin() as conn:
        conn.execute(text("DROP TABLE files"))  # the store answers, but not this question
    collector = StoreCollector(resources.store, queue_depth=lambda: None)

    with capture_logs() as logs:
        registry = _scrape(collector)
        first = registry.get_sample_value("newsingest_scrape_errors_total", {"source": "store"})
        second = registry.get_sample_value("newsingest_scrape_errors_total", {"source": "broker"})
    assert (first, second) == (1, 2)  # one failed read each, then one more of each
    assert registry.get_sample_value("newsingest_files", {"state": "done"}) is None
    assert registry.get_sample_value("newsingest_queue_depth") is None
    failed = [e for e in logs if e["event"] == "metrics.scrape_failed"]
    assert {e["source"] for e in failed} == {"store", "broker"}
    assert all(e["log_level"] == "warning" for e in failed)


def test_a_worker_counts_its_articles_files_and_stages(
    resources: Resources, tmp_path: Path
) -> None:
    """The counters move by what the pipeline stored, as the watcher's gauges see it."""

    def value(name: str, labels: dict[str, str] | None = None) -> float:
        return REGISTRY.get_sample_value(name, labels or {}) or 0.0

    names = [
        ("newsingest_articles_stored_total", None),
        ("newsingest_article_versions_stored_total", None),
        ("newsingest_exact_duplicates_seen_total", None),
        ("newsingest_files_processed_total", {"outcome": "done"}),
        ("newsingest_files_processed_total", {"outcome": "failed"}),
        ("newsingest_files_failed_total", {"code": "no_articles"}),
    ]
    stages = ("parse", "enrich", "publish")
    before = [value(name, labels) for name, labels in names]
    stages_before = [value("newsingest_stage_duration_seconds_count", {"stage": s}) for s in stages]
    folder = tmp_path / "dumps"
    _ingest(resources, folder, "good.txt", GOOD)
    _ingest(resources, folder, "versions.txt", WITH_VERSION)
    _ingest(resources, folder, "bad.txt", NO_ARTICLES)

    after = [value(name, labels) for name, labels in names]
    assert [a - b for a, b in zip(after, before, strict=True)] == [4, 1, 1, 2, 1, 1]
    for stage, earlier in zip(stages, stages_before, strict=True):
        assert value("newsingest_stage_duration_seconds_count", {"stage": stage}) == earlier + 2


def test_a_port_in_use_is_a_warning_not_a_crash(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = Settings(data_dir=tmp_path, metrics_port=port)
        with capture_logs() as logs:
            assert metrics.serve(CollectorRegistry(), settings, "watcher") is False
    (event,) = [e for e in logs if e["event"] == "metrics.unavailable"]
    assert event["log_level"] == "warning"
    assert (event["port"], event["role"]) == (port, "watcher")
    assert event["error"]


def test_the_endpoint_serves_the_registry(resources: Resources, tmp_path: Path) -> None:
    with socket.socket() as probe:  # a free port: bind to 0, read it, let it go
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = resources.settings.model_copy(update={"metrics_port": port})
    _ingest(resources, tmp_path / "dumps", "good.txt", GOOD)
    with capture_logs() as logs:
        assert metrics.serve_store(settings, resources.store, queue_depth=lambda: 0)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
            body = reply.read().decode()
    finally:
        metrics._server.shutdown()
        metrics._server.server_close()
    assert 'newsingest_files{state="done"} 1.0' in body
    assert "newsingest_articles 2.0" in body
    assert "# TYPE newsingest_scrape_errors_total counter" in body
    assert "process_resident_memory_bytes" in body  # the watcher's own process
    (serving,) = [e for e in logs if e["event"] == "metrics.serving"]
    assert (serving["host"], serving["port"], serving["role"]) == ("127.0.0.1", port, "watcher")


def test_metrics_off_serves_nothing(resources: Resources) -> None:
    assert resources.settings.metrics_port == 0
    assert metrics.serve_store(resources.settings, resources.store, lambda: 0) is False
    assert metrics.prepare_multiprocess(resources.settings) is None


def test_multiprocess_mode_needs_to_come_first(tmp_path: Path) -> None:
    """prometheus_client is imported here already, in single-process mode: a worker's children
    would count where nobody reads. Refused with a warning, the worker goes on without metrics."""
    settings = Settings(data_dir=tmp_path, metrics_port=9809)
    with capture_logs() as logs:
        assert metrics.prepare_multiprocess(settings) is None
    assert [e["event"] for e in logs] == ["metrics.unavailable"]


def test_the_exposition_follows_prometheus_naming(resources: Resources) -> None:
    """Counters end in _total, durations in _seconds, every family has help; no camelCase."""
    registry = _scrape(StoreCollector(resources.store, queue_depth=lambda: 0))
    metrics.worker_metrics()  # the worker's families, in the default registry
    for source in (registry, REGISTRY):
        for family in source.collect():
            if not family.name.startswith("newsingest_"):
                continue
            assert family.name == family.name.lower()
            assert family.documentation
            if family.type == "counter":
                assert generate_latest(source).decode().count(f"{family.name}_total") > 0
            if family.type == "histogram":
                assert family.name.endswith("_seconds")
