"""Celery wiring: the app, its safe configuration and the thin tasks."""

from worker.queue.app import create_app, queue_depth
from worker.queue.names import QUEUE, TASK_PROCESS_CHUNK, TASK_PROCESS_FILE, TASK_REENRICH

__all__ = [
    "QUEUE",
    "TASK_PROCESS_CHUNK",
    "TASK_PROCESS_FILE",
    "TASK_REENRICH",
    "create_app",
    "queue_depth",
]
