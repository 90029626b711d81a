"""What ``newsingest status`` shows, gathered in one place: plain data, no rich and no Celery.

``status`` answers monitoring scripts that poll it, so this stays as light as the command: the
store's queries and the broker's depth counted without a Celery app (``queue/connection.py``).

Workers are seen through the ledger, not Celery's remote control (``control.ping``): a ping
needs a Celery app (over a second of imports on every poll) and a broadcast exchange, which the
embedded SQLite transport does not have, so it would see nobody on the default set-up. The
ledger knows, on every broker, which holders have live leases: the worker processes busy now.
Idle workers hold nothing and are not counted.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from worker.settings import Settings
from worker.store import Store
from worker.store.store import MinuteCount

ARTICLES_WINDOW_MINUTES = 5  # articles_per_minute: this many minutes, the current one last


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    """One reading of the pipeline's state."""

    at: float  # epoch seconds when it was taken
    files: dict[str, int]  # by ledger state
    duplicate_files: int
    articles: int
    near_duplicates: int
    exact_duplicates: int
    recent_failures: list[dict[str, Any]]  # newest first: file, sha256, code, message, path
    queue_depth: int | None  # None: the broker could not be asked
    oldest_pending_age_s: float | None  # None: nothing pending
    articles_per_minute: list[MinuteCount]
    busy: list[dict[str, Any]]  # work held under a live lease: holder, file, chunk, lease_left_s

    @property
    def workers_busy(self) -> int:
        return len({held["holder"] for held in self.busy})

    def as_dict(self) -> dict[str, Any]:
        """The ``status --json`` object: the keys it always had, then the newer figures."""
        return {
            "files": self.files,
            "duplicate_files": self.duplicate_files,
            "articles": self.articles,
            "near_duplicates": self.near_duplicates,
            "exact_duplicates": self.exact_duplicates,
            "recent_failures": self.recent_failures,
            "queue_depth": self.queue_depth,
            "at": datetime.fromtimestamp(self.at, UTC).isoformat(),
            "oldest_pending_age_s": (
                None if self.oldest_pending_age_s is None else round(self.oldest_pending_age_s, 1)
            ),
            "articles_per_minute": [dataclasses.asdict(m) for m in self.articles_per_minute],
            "workers": {"busy": self.workers_busy, "work": self.busy},
        }


def take_snapshot(
    store: Store,
    settings: Settings,
    *,
    now: float | None = None,
    minutes: int = ARTICLES_WINDOW_MINUTES,
    recent_failures: int = 5,
) -> StatusSnapshot:
    """Read every figure once: a handful of queries on the store, one look at the broker."""
    from worker.queue.connection import queue_depth

    now = time.time() if now is None else now
    report = store.status(recent_failures)
    return StatusSnapshot(
        at=now,
        files=report["files"],
        duplicate_files=report["duplicate_files"],
        articles=report["articles"],
        near_duplicates=report["near_duplicates"],
        exact_duplicates=report["exact_duplicates"],
        recent_failures=report["recent_failures"],
        queue_depth=queue_depth(settings),
        oldest_pending_age_s=store.oldest_pending_age(now),
        articles_per_minute=store.articles_by_minute(minutes, now),
        busy=store.busy_holders(now),
    )
