"""Celery tasks: thin wiring from a message to the driver (``worker/driver.py``).

A task's id is its lease holder's name; its retry number tells the ledger that a retry is not a
crash. Errors are sorted by ``driver.classify``: a file's own fault is quarantined by the driver;
transient and configuration errors are handed back and retried here; a lost lease means another
worker has the file, so the message is simply done.
"""

from __future__ import annotations

import gc
import os
import random
import time
from collections.abc import Callable
from typing import Any

import structlog
from celery import Celery, Task, signals

from worker import metrics
from worker.driver import FileDriver, Run, classify, retry_delay
from worker.enrich import EnrichPipeline, build_pipeline
from worker.log import configure_logging, elapsed_ms, get_logger
from worker.models import FileSummary, ParsedArticle
from worker.pipeline import Resources, reenrich_articles
from worker.queue.names import TASK_PROCESS_CHUNK, TASK_PROCESS_FILE, TASK_REENRICH
from worker.settings import Settings

log = get_logger("newsingest.tasks")


class PipelineTask(Task):
    """Holds the process's resources: the enrichers, built once in the worker's main process
    before its pool forks (``preload``), and the store, opened in each child after the fork
    (connections must never be shared across a fork)."""

    _preloaded: EnrichPipeline | None = None
    _resources: Resources | None = None

    @property
    def resources(self) -> Resources:
        if PipelineTask._resources is None:
            PipelineTask._resources = Resources.build(self.app.settings, PipelineTask._preloaded)
        return PipelineTask._resources

    def drive(self, step: Callable[[FileDriver, Run], FileSummary | None]) -> dict | None:
        """Run one driver step for this message; retry what is worth retrying."""
        run = Run(
            owner=self.request.id,
            retries=self.request.retries,
            enqueue_chunk=lambda sha256, number: (
                self.app.send_task(TASK_PROCESS_CHUNK, args=[sha256, number]).id
            ),
        )
        try:
            summary = step(FileDriver(self.resources), run)
        except Exception as exc:
            kind = classify(exc)
            if kind == "lease_lost":
                log.warning("task.lease_lost", reason=str(exc))
                return None
            if kind in ("transient", "configuration"):
                if kind == "configuration":  # loud: nothing moves until someone fixes it
                    log.error("work.paused", reason=str(exc), hint=getattr(exc, "hint", None))
                delay = retry_delay(kind, self.request.retries) * random.uniform(0.5, 1.0)
                raise self.retry(exc=exc, countdown=delay, max_retries=None) from exc
            raise  # a bug: the lease runs out and the next attempt counts it as a crash
        return None if summary is None else {"state": summary.state, "found": summary.found}


_WARM_UP = ParsedArticle(
    title="Council opens new library in Harbour Town",
    paragraphs=(
        "The city council of Harbour Town opened its new public library on Monday, "
        "Mayor Anna Weber said, after two years of building work.",
        '"It is a place for everyone," Weber told reporters in London.',
    ),
)


def preload(settings: Settings) -> None:
    """Build the enrichers (spaCy model, gazetteer, language model) and import the MinHash code
    here, in the worker's main process, before its pool forks.

    Every child then shares these pages copy-on-write instead of building its own copy (3-5 s
    and ~250 MB each), and is ready as soon as it has opened its store. ``gc.freeze`` moves
    everything built so far out of the collector's reach, so that a child's garbage collections
    do not write to (and so copy) the shared objects' pages.
    """
    started = time.perf_counter()
    import datasketch  # noqa: F401  (0.5 s of imports, shared rather than paid per child)

    PipelineTask._preloaded = build_pipeline(settings)
    # One article through every enricher: what spaCy and the others build on first use is then
    # built here, shared, instead of in each child on its first task (copied pages, latency).
    PipelineTask._preloaded.run([_WARM_UP])
    gc.collect()
    gc.freeze()
    log.info(
        "worker.preloaded",
        enrichers=PipelineTask._preloaded.names,
        frozen_objects=gc.get_freeze_count(),
        duration_ms=elapsed_ms(started),
    )


def register(app: Celery) -> None:
    options: dict[str, Any] = {"base": PipelineTask, "bind": True}

    @app.task(name=TASK_PROCESS_FILE, **options)
    def process_file(self: PipelineTask, sha256: str) -> dict[str, Any] | None:
        return self.drive(lambda driver, run: driver.process_file(sha256, run))

    @app.task(name=TASK_PROCESS_CHUNK, **options)
    def process_chunk(self: PipelineTask, sha256: str, number: int) -> dict[str, Any] | None:
        return self.drive(lambda driver, run: driver.process_chunk(sha256, number, run))

    @app.task(
        name=TASK_REENRICH,
        autoretry_for=(Exception,),
        retry_backoff=2,
        retry_backoff_max=300,
        max_retries=20,
        **options,
    )
    def reenrich(self: PipelineTask, ids: list[str]) -> int:
        return reenrich_articles(self.resources, ids)

    @signals.setup_logging.connect(weak=False)
    def _logging(**_: Any) -> None:
        configure_logging(app.settings.log_format, app.settings.log_level)

    @signals.worker_process_init.connect(weak=False)
    def _build_resources(**_: Any) -> None:
        # the store (and, without preload, the enrichers) for this child, before its first
        # message rather than inside a task
        started = time.perf_counter()
        try:
            PipelineTask._resources = Resources.build(app.settings, PipelineTask._preloaded)
        except Exception as exc:  # the store is away: the first task builds them, or retries
            log.error("worker.resources_unavailable", error=str(exc), kind=classify(exc))
            return
        log.info(
            "worker.process_ready",
            enrichers=PipelineTask._resources.enrich.names,
            preloaded=PipelineTask._preloaded is not None,
            duration_ms=elapsed_ms(started),
        )

    @signals.worker_process_init.connect(weak=False)
    def _metrics_in_child(**_: Any) -> None:
        metrics.child_started()

    @signals.worker_process_shutdown.connect(weak=False)
    def _metrics_child_exited(pid: int | None = None, **_: Any) -> None:
        metrics.child_exited(pid or os.getpid())

    @signals.task_prerun.connect(weak=False)
    def _bind_task(task_id: str, task: Task, **_: Any) -> None:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(task_id=task_id, task_name=task.name)

    @signals.task_postrun.connect(weak=False)
    def _unbind_task(**_: Any) -> None:
        structlog.contextvars.clear_contextvars()

    @signals.task_retry.connect(weak=False)
    def _retry(request: Any = None, reason: Any = None, **_: Any) -> None:
        # Celery sends (sender, request, reason, einfo): all by keyword, any may be missing
        log.warning("task.retry", task_id=getattr(request, "id", None), reason=str(reason))
