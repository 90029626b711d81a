"""Celery tasks: thin wiring from a message to the pipeline's plain functions."""

from __future__ import annotations

import time
from typing import Any

import structlog
from celery import Celery, Task, signals
from sqlalchemy.exc import OperationalError

from worker.errors import TransientError
from worker.log import configure_logging, get_logger
from worker.pipeline import (
    Resources,
    process_queued_chunk,
    process_queued_file,
    reenrich_articles,
)
from worker.queue.names import TASK_PROCESS_CHUNK, TASK_PROCESS_FILE, TASK_REENRICH

log = get_logger("newsingest.tasks")

# The store or broker away is worth waiting for; anything else is the file's own problem.
TRANSIENT = (TransientError, OperationalError, ConnectionError, TimeoutError)


class PipelineTask(Task):
    """Holds the process's resources: built once per worker process, after the fork."""

    _resources: Resources | None = None

    @property
    def resources(self) -> Resources:
        if PipelineTask._resources is None:
            PipelineTask._resources = Resources.build(self.app.settings)
        return PipelineTask._resources


def register(app: Celery) -> None:
    retry_policy: dict[str, Any] = {
        "base": PipelineTask,
        "bind": True,
        "autoretry_for": TRANSIENT,
        "retry_backoff": 2,
        "retry_backoff_max": 300,
        "retry_jitter": True,
        "max_retries": 20,
    }

    def enqueue_chunk(sha256: str, number: int) -> str:
        return app.send_task(TASK_PROCESS_CHUNK, args=[sha256, number]).id

    @app.task(name=TASK_PROCESS_FILE, **retry_policy)
    def process_file(self: PipelineTask, sha256: str) -> dict[str, Any] | None:
        summary = process_queued_file(self.resources, sha256, self.request.id, enqueue_chunk)
        return None if summary is None else {"state": summary.state, "found": summary.found}

    @app.task(name=TASK_PROCESS_CHUNK, **retry_policy)
    def process_chunk(self: PipelineTask, sha256: str, number: int) -> dict[str, Any] | None:
        summary = process_queued_chunk(self.resources, sha256, number, self.request.id)
        return None if summary is None else {"state": summary.state, "found": summary.found}

    @app.task(name=TASK_REENRICH, **retry_policy)
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
        except TRANSIENT as exc:  # the store is away: the first task builds them, or retries
            log.error("worker.resources_unavailable", error=str(exc))
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
    def _retry(request: Any, reason: Any, **_: Any) -> None:
        log.warning("task.retry", task_id=request.id, reason=str(reason))
