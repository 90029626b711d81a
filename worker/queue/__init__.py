"""Celery wiring: the app, its safe configuration and the thin tasks."""

from worker.queue.app import QUEUE, TASK_PROCESS_FILE, create_app, queue_depth

__all__ = ["QUEUE", "TASK_PROCESS_FILE", "create_app", "queue_depth"]
