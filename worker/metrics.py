"""Prometheus metrics: the watcher's view of the store, each worker's count of its own work.

Two sources, two kinds of number (the README's Metrics section lists them):

- The watcher reads the store at each scrape (``StoreCollector``): files by state, articles,
  duplicates, failures by code, queue depth, the age of the oldest pending file. Gauges of what
  the store holds: right whoever did the work, and right at once after any restart.
- Each worker counts what its pool processes did: counters and per-stage histograms. The pool
  processes are forked children of the worker's main process, which serves the endpoint, so this
  uses prometheus_client's multiprocess mode: every child writes its values to files in a
  directory private to the worker, which the main process merges at each scrape.

Metrics never stop ingestion: a port in use is a warning and the process goes on without an
endpoint; an error while counting is a warning and the task goes on.

prometheus_client is imported on first use, never when this module is imported: it picks its
multiprocess mode when it is first imported (from ``PROMETHEUS_MULTIPROC_DIR``), and `newsingest
worker` must set that before (``prepare_multiprocess``). No Celery here: the Celery signals that
call ``child_started`` / ``child_exited`` are wired in ``worker/queue/tasks.py``.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, ParamSpec

from worker.log import get_logger

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Histogram
    from prometheus_client.core import Metric

    from worker.settings import Settings
    from worker.store import PublishCounts, Store

log = get_logger("newsingest.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# What worker/timings.py's stage_ms measures: the stages of a file or chunk, in order.
STAGES = ("read", "parse", "enrich", "sign", "publish", "finish")
# From a small file's parse (milliseconds) to a 200-article chunk's enrichment on a busy machine
# (a minute or more) and up to the task time limit.
STAGE_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
)
Role = Literal["watcher", "worker"]
P = ParamSpec("P")

_server: Any = None  # this process's endpoint (a WSGI server), kept so a forked child can close it


# --- the endpoint ---------------------------------------------------------------------------------


def serve(registry: CollectorRegistry, settings: Settings, role: Role) -> bool:
    """Serve ``registry`` on ``settings.metrics_port`` in a daemon thread; False when it cannot
    (port in use, address not on this host): a warning, and the caller goes on without metrics.
    A second worker on one host (host networking) meets this on the first one's port."""
    global _server
    host, port = settings.metrics_host, settings.metrics_port
    try:
        from prometheus_client import start_http_server

        server, _ = start_http_server(port, addr=host, registry=registry)
    except Exception as exc:  # OSError mostly; whatever it is, ingestion must go on
        log.warning("metrics.unavailable", role=role, host=host, port=port, error=str(exc))
        return False
    _server = server
    log.info("metrics.serving", role=role, host=host, port=port)
    return True


# --- the watcher: the store's view, read at scrape time -------------------------------------------


class StoreCollector:
    """Gauges read from the store (and the broker's queue depth) at each scrape.

    A source that cannot be read is left out of that scrape, counted in
    ``newsingest_scrape_errors_total{source}`` and logged; the others are still reported."""

    def __init__(
        self,
        store: Store,
        queue_depth: Callable[[], int | None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.queue_depth = queue_depth
        self.clock = clock
        self.errors = {"store": 0, "broker": 0}
        self._lock = threading.Lock()  # the endpoint serves scrapes on threads of their own

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        try:
            snapshot: dict[str, Any] | None = self.store.metrics_snapshot()
        except Exception as exc:  # the store away: report the rest, try again next scrape
            self._failed("store", str(exc))
            snapshot = None
        if snapshot is not None:
            files = GaugeMetricFamily(
                "newsingest_files", "Files in the ledger, by state.", labels=["state"]
            )
            for state, count in snapshot["files"].items():
                files.add_metric([state], count)
            yield files
            failures = GaugeMetricFamily(
                "newsingest_failures",
                "Quarantined files (in failed/, state failed), by error code.",
                labels=["code"],
            )
            for code, count in sorted(snapshot["failures"].items()):
                failures.add_metric([code], count)
            yield failures
            for name, key, text in (
                ("newsingest_articles", "articles", "Stories stored (records not versions)."),
                (
                    "newsingest_article_versions",
                    "versions",
                    "Records stored as near-duplicate versions of a story.",
                ),
                (
                    "newsingest_exact_duplicates",
                    "exact_duplicates",
                    "Sightings of an article text already stored (no new record).",
                ),
                (
                    "newsingest_duplicate_files",
                    "duplicate_files",
                    "Drops of bytes already ingested (moved to processed/, no job).",
                ),
            ):
                yield GaugeMetricFamily(name, text, value=snapshot[key])
            oldest = snapshot["oldest_pending_at"]
            yield GaugeMetricFamily(
                "newsingest_oldest_pending_file_age_seconds",
                "Seconds since the oldest file not yet done nor failed arrived; 0: none pending.",
                value=0.0 if oldest is None else max(0.0, self.clock() - oldest),
            )
        depth = self.queue_depth()
        if depth is None:
            self._failed("broker", "the broker could not be asked for its queue depth")
        else:
            yield GaugeMetricFamily(
                "newsingest_queue_depth", "Messages waiting in the broker's queue.", value=depth
            )
        errors = CounterMetricFamily(
            "newsingest_scrape_errors",
            "Scrapes that could not read a source (store or broker).",
            labels=["source"],
        )
        with self._lock:
            for source, count in self.errors.items():
                errors.add_metric([source], count)
        yield errors

    def _failed(self, source: str, error: str) -> None:
        with self._lock:
            self.errors[source] += 1
        log.warning("metrics.scrape_failed", source=source, error=error)


def serve_store(settings: Settings, store: Store, queue_depth: Callable[[], int | None]) -> bool:
    """The watcher's endpoint, when ``metrics_port`` is set: the store's gauges and this
    process's own (``process_*``: memory, CPU, open files)."""
    if not settings.metrics_port:
        return False
    from prometheus_client import CollectorRegistry, ProcessCollector

    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    registry.register(StoreCollector(store, queue_depth))
    return serve(registry, settings, "watcher")


# --- the workers: counted where the work is done --------------------------------------------------


@dataclass(frozen=True)
class WorkerMetrics:
    stage_seconds: Histogram
    articles_stored: Counter
    versions_stored: Counter
    exact_duplicates: Counter
    files_processed: Counter
    failures: Counter


@functools.cache
def worker_metrics() -> WorkerMetrics:
    """This process's worker metrics, made on first use (see the module's docstring for why not
    at import), in prometheus_client's default registry."""
    from prometheus_client import Counter, Histogram

    return WorkerMetrics(
        stage_seconds=Histogram(
            "newsingest_stage_duration_seconds",
            "Time of one stage of a file or chunk.",
            ["stage"],
            buckets=STAGE_BUCKETS,
        ),
        articles_stored=Counter(
            "newsingest_articles_stored",
            "New article records stored (stories and versions).",
        ),
        versions_stored=Counter(
            "newsingest_article_versions_stored",
            "Of the new records, those stored as near-duplicate versions of a story.",
        ),
        exact_duplicates=Counter(
            "newsingest_exact_duplicates_seen",
            "Sightings of an article text already stored (no new record).",
        ),
        files_processed=Counter(
            "newsingest_files_processed",
            "Files finished by this worker, by outcome (done or failed).",
            ["outcome"],
        ),
        failures=Counter(
            "newsingest_files_failed",
            "Files quarantined by this worker, by error code.",
            ["code"],
        ),
    )


def _never_raises(record: Callable[P, None]) -> Callable[P, None]:
    """A metric that cannot be counted (its file gone, say) must not fail the file's task."""

    @functools.wraps(record)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            record(*args, **kwargs)
        except Exception as exc:
            log.warning("metrics.record_failed", metric=record.__name__, error=str(exc))

    return guarded


@_never_raises
def observe_stage(stage: str, seconds: float) -> None:
    worker_metrics().stage_seconds.labels(stage=stage).observe(seconds)


@_never_raises
def observe_publish(counts: PublishCounts) -> None:
    metrics = worker_metrics()
    metrics.articles_stored.inc(counts.new)
    metrics.versions_stored.inc(counts.near_duplicates)
    metrics.exact_duplicates.inc(counts.duplicates)


@_never_raises
def observe_file_done() -> None:
    worker_metrics().files_processed.labels(outcome="done").inc()


@_never_raises
def observe_file_failed(code: str | None) -> None:
    metrics = worker_metrics()
    metrics.files_processed.labels(outcome="failed").inc()
    metrics.failures.labels(code=code or "unknown").inc()


def prepare_multiprocess(settings: Settings) -> Path | None:
    """`newsingest worker`, before anything imports prometheus_client: a fresh directory of its
    own for the pool processes' values (removed at exit), in ``PROMETHEUS_MULTIPROC_DIR``, which
    the children inherit through fork. None, with a warning, when metrics are off or cannot be."""
    if not settings.metrics_port:
        return None
    if "prometheus_client" in sys.modules:
        # chosen already, in single-process mode: the children's counts would never be seen
        log.warning(
            "metrics.unavailable",
            role="worker",
            host=settings.metrics_host,
            port=settings.metrics_port,
            error="prometheus_client was imported before its multiprocess mode could be set",
        )
        return None
    try:
        folder = Path(tempfile.mkdtemp(prefix="newsingest-metrics-"))
    except OSError as exc:
        log.warning(
            "metrics.unavailable",
            role="worker",
            host=settings.metrics_host,
            port=settings.metrics_port,
            error=str(exc),
        )
        return None
    os.environ[MULTIPROC_ENV] = str(folder)
    atexit.register(_remove, folder, os.getpid())
    return folder


def _remove(folder: Path, owner: int) -> None:
    if os.getpid() == owner:  # a forked child that ran atexit must not remove the parent's
        shutil.rmtree(folder, ignore_errors=True)


def serve_worker(settings: Settings, folder: Path) -> bool:
    """The worker's endpoint, in its main process: the values of all its pool processes, past
    and present, merged from ``folder``."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    metrics = worker_metrics()
    # Known label values from the start, at 0: a rate() over a series that appears only at the
    # first failure misses that failure.
    for stage in STAGES:
        metrics.stage_seconds.labels(stage=stage)
    for outcome in ("done", "failed"):
        metrics.files_processed.labels(outcome=outcome)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(folder))
    return serve(registry, settings, "worker")


def child_started() -> None:
    """In a new pool process: close the endpoint's listening socket inherited through fork. Only
    the main process answers scrapes; a child holding the socket open would keep the port taken
    after its main process died."""
    global _server
    if _server is not None:
        _server.socket.close()
        _server = None


def child_exited(pid: int) -> None:
    """In a pool process as it exits: prometheus_client's bookkeeping for a dead process (it
    drops the process's live gauges; its counters and histograms stay counted)."""
    if MULTIPROC_ENV in os.environ:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
