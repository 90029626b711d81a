"""Where a file's time went: each stage's milliseconds, gathered for its ``file.done`` event.

The driver opens a collection around the work of one task (``collecting``); the stages record
into it as they log their own ``duration_ms`` (``stage_ms``). Outside a collection (a benchmark
calling a stage directly) recording does nothing. A context variable, so that the stages need no
extra argument and two threads never mix their figures.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from worker import metrics

_current: ContextVar[dict[str, float] | None] = ContextVar("newsingest_timings", default=None)


@contextmanager
def collecting() -> Iterator[dict[str, float]]:
    """Collect the stage timings of the work done inside; yields the dict they go into.

    Inside another collection, into that one: ``ingest`` of a big dump runs each chunk's entry
    point inside the file's, and its ``file.done`` gives the whole file's time."""
    outer = _current.get()
    timings: dict[str, float] = {} if outer is None else outer
    token = _current.set(timings)
    try:
        yield timings
    finally:
        _current.reset(token)


def record(stage: str, ms: float) -> None:
    """Add ``ms`` to ``stage`` in the current collection, if there is one."""
    timings = _current.get()
    if timings is not None:
        timings[stage] = round(timings.get(stage, 0.0) + ms, 1)


def stage_ms(stage: str, started: float) -> float:
    """Milliseconds since ``started`` (a ``time.perf_counter()``), recorded for ``stage``: the
    value for the stage's own ``duration_ms``. Also observed in the stage's Prometheus histogram,
    inside a collection or not: one measurement for the logs and the metrics."""
    seconds = time.perf_counter() - started
    ms = round(seconds * 1000, 1)
    record(stage, ms)
    metrics.observe_stage(stage, seconds)
    return ms


def current() -> dict[str, float]:
    """A copy of the current collection ({} outside one)."""
    return dict(_current.get() or {})
