"""The one logging set-up: structlog for our events, stdlib records (Celery, kombu) through it too.

JSON lines when stderr is not a terminal (production, docker, CI), the console renderer on one.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Literal

import structlog

LogFormat = Literal["auto", "json", "console"]

_SHARED_PROCESSORS: list[structlog.types.Processor] = [
    # contextvars first: task_id, file and sha256 bound once appear on every event of that task.
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.StackInfoRenderer(),
]


def configure_logging(log_format: LogFormat = "auto", level: str = "INFO") -> None:
    """Configure structlog and the stdlib root logger. Safe to call more than once."""
    use_json = logs_are_json(log_format)
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    final: list[structlog.types.Processor] = [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        structlog.processors.format_exc_info if use_json else _identity,
        renderer,
    ]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED_PROCESSORS,
        processors=final,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    logging.captureWarnings(True)  # library warnings become log events too, not stray stderr text
    root.setLevel(level.upper())
    # billiard's pool logs under "multiprocessing" with propagation off ("Process
    # 'ForkPoolWorker-1' pid:7 exited with 'signal 9'"): without a handler of its own that went
    # to stderr as plain text through logging's last resort, in the middle of the JSON lines.
    multiprocessing_logger = logging.getLogger("multiprocessing")
    multiprocessing_logger.handlers[:] = [handler]
    multiprocessing_logger.propagate = False
    # Celery's own chatter at INFO is mostly per-message noise; our task events replace it.
    for noisy in ("celery.worker.strategy", "celery.app.trace", "kombu", "amqp"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))

    structlog.configure(
        processors=[
            *_SHARED_PROCESSORS,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # not cached: tests (structlog.testing.capture_logs) and re-configuration must take effect
        cache_logger_on_first_use=False,
    )


def logs_are_json(log_format: LogFormat) -> bool:
    """Whether ``configure_logging`` writes JSON lines: asked by whatever else would draw on
    stderr (``ingest``'s progress bar), which must then keep off it."""
    return log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())


def _identity(
    logger: object, method_name: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    return event_dict


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)


def elapsed_ms(started: float) -> float:
    """Milliseconds since ``started`` (a ``time.perf_counter()``): the ``duration_ms`` field."""
    return round((time.perf_counter() - started) * 1000, 1)
