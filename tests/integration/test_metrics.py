"""Prometheus metrics from real processes: `newsingest run` serves the watcher's endpoint on its
metrics port and the worker's (merged from its forked pool processes) on the next; scraped over
HTTP, they agree with the store. A port already taken costs the metrics, never the ingestion."""

from __future__ import annotations

import contextlib
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.dumps import HARBOUR, ORCHARD, render_dump
from tests.integration.procs import NewsingestProcess, wait_until
from worker.settings import Settings
from worker.store import Store

pytestmark = pytest.mark.integration

GOOD = render_dump([HARBOUR, ORCHARD, HARBOUR]).encode("utf-8")  # 2 stories, 1 exact duplicate
NO_ARTICLES = b"Just A Title\n\n\n\nAnother Lonely Title\n"
ENV = {"NEWSINGEST_SETTLE_SECONDS": "0.5"}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _two_free_ports() -> int:
    """A port P with P and P + 1 both free now (bound to port 0 to pick one)."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with contextlib.suppress(OSError), socket.socket() as following:
            following.bind(("127.0.0.1", port + 1))
            return port
    raise AssertionError("no two consecutive free ports")


def _scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        body = reply.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(inbox=tmp_path / "inbox", data_dir=tmp_path / "data")


def _drop_and_wait(settings: Settings) -> None:
    settings.inbox.mkdir(parents=True, exist_ok=True)
    (settings.inbox / "good.txt").write_bytes(GOOD)
    (settings.inbox / "no articles.txt").write_bytes(NO_ARTICLES)
    wait_until((settings.processed_dir / "good.txt").exists, timeout=120, what="good.txt done")
    wait_until(
        (settings.failed_dir / "no articles.txt.error.json").exists,
        timeout=120,
        what="the bad file quarantined",
    )


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[NewsingestProcess, int]]:
    port = _two_free_ports()
    run = NewsingestProcess(
        ["run", "--concurrency", "2", "--metrics-port", str(port)],
        cwd=tmp_path,
        env=ENV,
        name="run",
    )
    yield run, port
    run.stop()


def _wait_for_both_roles(run: NewsingestProcess, event: str) -> None:
    """Until ``run`` logged ``event`` for its watcher and for its worker."""
    wait_until(
        lambda: (
            {e.get("role") for e in run.events() if e.get("event") == event}
            == {"watcher", "worker"}
        ),
        timeout=240,
        what=f"{event} from the watcher and the worker",
    )


def test_scraped_metrics_agree_with_the_store(running, settings: Settings) -> None:
    run, port = running
    _wait_for_both_roles(run, "metrics.serving")
    serving = {e["role"]: e for e in run.events() if e.get("event") == "metrics.serving"}
    assert (serving["watcher"]["port"], serving["worker"]["port"]) == (port, port + 1)
    run.wait_for("worker.process_ready", timeout=240)
    _drop_and_wait(settings)

    # the worker counts a file just after its ledger row is done: wait for the counts to land
    worker = wait_until(
        lambda: (
            (samples := _scrape(port + 1))
            and _value(samples, "newsingest_files_processed_total", outcome="done") == 1
            and _value(samples, "newsingest_files_processed_total", outcome="failed") == 1
            and samples
        ),
        timeout=60,
        what="the worker's counts",
    )
    watcher = wait_until(
        lambda: (
            (samples := _scrape(port))
            and _value(samples, "newsingest_queue_depth") == 0
            and samples
        ),
        timeout=60,
        what="an empty queue",
    )
    store = Store.from_url(settings.resolved_store_url)
    status = store.status()
    store.close()

    # the watcher: what the store holds
    for state, count in status["files"].items():
        assert _value(watcher, "newsingest_files", state=state) == count, state
    assert status["files"]["done"] == 1 and status["files"]["failed"] == 1
    assert _value(watcher, "newsingest_failures", code="no_articles") == 1
    assert _value(watcher, "newsingest_articles") == status["articles"] == 2
    assert _value(watcher, "newsingest_exact_duplicates") == status["exact_duplicates"] == 1
    assert _value(watcher, "newsingest_article_versions") == 0
    assert _value(watcher, "newsingest_oldest_pending_file_age_seconds") == 0
    assert _value(watcher, "newsingest_scrape_errors_total", source="store") == 0
    assert _value(watcher, "process_resident_memory_bytes") > 0

    # the worker: what its pool processes did, merged by its main process
    assert _value(worker, "newsingest_articles_stored_total") == 2
    assert _value(worker, "newsingest_exact_duplicates_seen_total") == 1
    assert _value(worker, "newsingest_article_versions_stored_total") == 0
    assert _value(worker, "newsingest_files_failed_total", code="no_articles") == 1
    for stage in ("parse", "enrich", "publish"):
        count = _value(worker, "newsingest_stage_duration_seconds_count", stage=stage)
        assert count is not None and count >= 1, stage
        assert _value(worker, "newsingest_stage_duration_seconds_sum", stage=stage) > 0
    assert not [e for e in run.events() if e.get("event") == "metrics.record_failed"]


def test_a_port_in_use_costs_the_metrics_not_the_ingestion(
    tmp_path: Path, settings: Settings
) -> None:
    port = _two_free_ports()
    with socket.socket() as first, socket.socket() as second:
        for held, number in ((first, port), (second, port + 1)):
            held.bind(("127.0.0.1", number))
            held.listen()
        run = NewsingestProcess(
            ["run", "--concurrency", "1"],
            cwd=tmp_path,
            env={**ENV, "NEWSINGEST_METRICS_PORT": str(port)},
            name="run",
        )
        try:
            _wait_for_both_roles(run, "metrics.unavailable")
            unavailable = [e for e in run.events() if e.get("event") == "metrics.unavailable"]
            assert {e["port"] for e in unavailable} == {port, port + 1}
            assert all(e["level"] == "warning" and e["error"] for e in unavailable)
            _drop_and_wait(settings)
        finally:
            code = run.stop()
    store = Store.from_url(settings.resolved_store_url)
    assert store.status()["articles"] == 2
    store.close()
    assert code == 0
    assert not [e for e in run.events() if e.get("event") == "metrics.serving"]
