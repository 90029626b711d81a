"""Celery wiring: the app, its safe configuration and the thin tasks.

The names are imported on first use: ``from worker.queue import QUEUE`` or the broker's queue
depth must not import Celery (see ``connection.py``).
"""

from __future__ import annotations

import importlib
from typing import Any

from worker.queue.names import QUEUE, TASK_PROCESS_CHUNK, TASK_PROCESS_FILE, TASK_REENRICH

__all__ = [
    "QUEUE",
    "TASK_PROCESS_CHUNK",
    "TASK_PROCESS_FILE",
    "TASK_REENRICH",
    "create_app",
    "queue_depth",
]

_LAZY = {"create_app": "worker.queue.app", "queue_depth": "worker.queue.app"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'worker.queue' has no attribute {name!r}")
