"""The Celery application, configured for safety: JSON only, acks late, the ledger deciding.

Nothing outside ``worker.queue`` and ``worker.cli`` imports Celery.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from worker.queue.connection import broker_options, message_count
from worker.queue.names import QUEUE
from worker.settings import Settings


class NewsingestCelery(Celery):
    """A Celery app that carries the settings it was built from, for the tasks' resources."""

    settings: Settings


def celery_config(settings: Settings) -> dict[str, Any]:
    config: dict[str, Any] = {
        **broker_options(settings),
        # pickle plus write access to the broker is remote code execution: JSON only
        "accept_content": ["json"],
        "task_serializer": "json",
        "result_serializer": "json",
        "event_serializer": "json",
        "task_ignore_result": True,  # results live in our own store
        # at-least-once delivery; the ledger and idempotent upserts make the effect exactly-once
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,  # a SIGKILLed child's message comes back (celery#1628)
        "worker_prefetch_multiplier": 1,
        "task_default_queue": QUEUE,
        "task_time_limit": settings.task_time_limit,
        "task_soft_time_limit": settings.task_time_limit * 0.9,
        "broker_connection_retry_on_startup": True,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        # `newsingest worker` stops on SIGTERM/SIGINT with Celery's cold shutdown: a running task
        # gets this long to finish, then is cancelled and its message goes back to the queue
        # (acks late; tasks are idempotent and the ledger re-sends what is lost). Short: the
        # promise is a stop within 10 s, and stopping the pool and the processes' exits take
        # another 3-5 s on a loaded machine. An idle worker does not wait at all (soft shutdown
        # on idle would wait the full timeout with nothing to finish).
        "worker_soft_shutdown_timeout": 3.0,
        "worker_enable_soft_shutdown_on_idle": False,
        # A pool process not up within this time is killed and replaced (Celery's default: 4 s).
        # With the enrichers preloaded a child only opens its store connection; without
        # (preload_enrichers false) building its spaCy model and gazetteer took 3.4-4.2 s in our
        # tests, over 20 s on a busy machine: killed at 4 s, each replacement then timed out the
        # same way, in a loop. A slow start is fine here.
        "worker_proc_alive_timeout": 120.0,
        # Pool processes are replaced now and then to bound slow leaks (a fork of the main
        # process, where the enrichers are preloaded: no start-up cost). Memory in KiB, checked
        # after each task against the child's peak resident size (shared pages count).
        "worker_max_tasks_per_child": settings.max_tasks_per_child or None,
        "worker_max_memory_per_child": settings.max_memory_per_child_mb * 1024 or None,
        "worker_hijack_root_logger": False,  # structlog owns logging
        "worker_redirect_stdouts": False,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
    }
    return config


def create_app(settings: Settings) -> NewsingestCelery:
    app = NewsingestCelery("newsingest", set_as_current=False)
    app.settings = settings
    app.config_from_object(celery_config(settings))
    from worker.queue import tasks

    tasks.register(app)
    return app


def queue_depth(app: Celery) -> int | None:
    """Messages waiting in the app's broker, on its pooled connection (see ``message_count``)."""
    try:
        with app.connection_for_read() as connection:
            return message_count(connection)
    except Exception:
        return None
