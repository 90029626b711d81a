"""The Celery application, configured for safety: JSON only, acks late, the ledger deciding.

Nothing outside ``worker.queue`` and ``worker.cli`` imports Celery.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu.exceptions import ChannelError

from worker.queue.broker import EMBEDDED_PREFIX, EMBEDDED_TRANSPORT
from worker.queue.names import QUEUE
from worker.settings import Settings


class NewsingestCelery(Celery):
    """A Celery app that carries the settings it was built from, for the tasks' resources."""

    settings: Settings


def celery_config(settings: Settings) -> dict[str, Any]:
    broker_url = settings.resolved_broker_url
    config: dict[str, Any] = {
        "broker_url": broker_url,
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
        # Building a process's resources (spaCy model, gazetteer: worker_process_init in tasks.py)
        # took 3.4-4.2 s in our tests, over 20 s on a busy machine: killed at 4 s, each
        # replacement then timed out the same way, in a loop. A slow start is fine here.
        "worker_proc_alive_timeout": 120.0,
        "worker_hijack_root_logger": False,  # structlog owns logging
        "worker_redirect_stdouts": False,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
    }
    if broker_url.startswith(EMBEDDED_PREFIX):
        # the same SQLite broker, through our faster-polling subclass of kombu's transport
        config["broker_url"] = broker_url.removeprefix(EMBEDDED_PREFIX)
        config["broker_transport"] = EMBEDDED_TRANSPORT
    elif broker_url.startswith(("redis://", "rediss://")):
        # above the longest task, so that a slow task is not redelivered while it runs
        # (celery#7009); expired unacked messages are swept back every 10 s, not every ~100 s
        visibility = settings.lease_seconds + settings.task_time_limit
        transport = {
            "visibility_timeout": visibility,
            "unacked_restore_interval": 10,
            "unacked_restore_throttle": 1,
        }
        config["broker_transport_options"] = transport
    return config


def create_app(settings: Settings) -> NewsingestCelery:
    app = NewsingestCelery("newsingest", set_as_current=False)
    app.settings = settings
    app.config_from_object(celery_config(settings))
    from worker.queue import tasks

    tasks.register(app)
    return app


def queue_depth(app: Celery) -> int | None:
    """Messages waiting in the broker: 0 for an empty queue, None if the broker cannot be asked.

    Redis deletes a list when its last message is taken, so there an empty queue does not exist
    and a passive declare answers NOT_FOUND: on Redis that is an empty queue, 0 (the answer came
    from Redis, so it was reached). The embedded SQLite broker counts its rows.
    """
    try:
        with app.connection_for_read() as connection:
            channel = connection.default_channel
            try:
                return channel.queue_declare(QUEUE, passive=True).message_count
            except ChannelError:
                if connection.transport.driver_type == "redis":
                    return 0
                raise
    except Exception:
        return None
