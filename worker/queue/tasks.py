"""Celery tasks: thin wiring from a message to the driver (``worker/driver.py``).

A task's id is its lease holder's name; its retry number tells the ledger that a retry is not a
crash. Errors are sorted by ``driver.classify``: a file's own fault is quarantined by the driver;
transient and configuration errors are handed back and retried here; a lost lease means another
worker has the file, so the message is simply done.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import structlog
from celery import Celery, Task, signals

from worker.driver import FileDriver, Run, classify, retry_delay
from worker.log import configure_logging, get_logger
from worker.models import FileSummary
from worker.pipeline import Resources, reenrich_articles
from worker.queue.names import TASK_PROCESS_CHUNK, TASK_PROCESS_FILE, TASK_REENRICH

log = get_logger("newsingest.tasks")


class PipelineTask(Task):
    """Holds the process's resources: built once per worker process, after the fork."""

    _resources: Resources | None = None

    @property
    def resources(self) -> Resources:
        if PipelineTask._resources is None:
            PipelineTask._resources = Resources.build(self.app.settings)
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
        # load enrichers (models) once per child, before the first message, not inside a task
        started = time.perf_counter()
        try:
            PipelineTask._resources = Resources.build(app.settings)
        except Exception as exc:  # the store is away: the first task builds them, or retries
            log.error("worker.resources_unavailable", error=str(exc), kind=classify(exc))
            return
        log.info(
            "worker.process_ready",
            enrichers=PipelineTask._resources.enrich.names,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )

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
