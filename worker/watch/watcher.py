"""The watcher: watchdog events and periodic scans feed the settle tracker; complete files are
taken and enqueued; the reconciler re-sends work whose message or worker was lost."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.events import (
    DirMovedEvent,
    FileClosedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from worker.log import get_logger
from worker.settings import Settings
from worker.store import Store
from worker.watch.inbox import FileTaker, SettleTracker, is_candidate, iter_inbox

log = get_logger("newsingest.watch")

_TICK_SECONDS = 0.25


class _Hints(FileSystemEventHandler):
    """Collects paths from watchdog's thread; the watcher loop does the work in its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paths: dict[Path, set[str]] = {}  # path → what happened: changed, closed, moved
        self._rescan = False

    def on_any_event(self, event: FileSystemEvent) -> None:
        if isinstance(event, DirMovedEvent):  # a folder of dumps moved in: look inside
            with self._lock:
                self._rescan = True
            return
        if event.is_directory or event.event_type in ("deleted", "opened", "closed_no_write"):
            return
        if isinstance(event, FileMovedEvent):
            path, what = Path(_text(event.dest_path)), "moved"
        else:
            closed = isinstance(event, FileClosedEvent)
            path, what = Path(_text(event.src_path)), "closed" if closed else "changed"
        with self._lock:
            self._paths.setdefault(path, set()).add(what)

    def drain(self) -> tuple[dict[Path, set[str]], bool]:
        with self._lock:
            paths, self._paths = self._paths, {}
            rescan, self._rescan = self._rescan, False
        return paths, rescan


def _text(path: str | bytes) -> str:
    return path.decode() if isinstance(path, bytes) else path


class Watcher:
    """Watches ``settings.inbox`` until ``stop()``; safe to run in a thread."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        enqueue: Callable[[str], str],
        enqueue_chunk: Callable[[str, int], str] | None = None,
    ) -> None:
        settings.ensure_dirs()
        self.settings = settings
        self.store = store
        self.inbox = settings.inbox.resolve()
        self.tracker = SettleTracker(settings.settle_seconds, settings.empty_settle_seconds)
        self.taker = FileTaker(
            store,
            self.inbox,
            settings.work_dir,
            settings.processed_dir,
            enqueue,
            failed_dir=settings.failed_dir,
        )
        self.enqueue = enqueue
        self.enqueue_chunk = enqueue_chunk
        self._hints = _Hints()
        self._stop = threading.Event()
        self._observer: BaseObserver | None = None

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        observer_cls = PollingObserver if self.settings.polling_observer else Observer
        self._observer = observer_cls()
        self._observer.schedule(self._hints, str(self.inbox), recursive=True)
        self._observer.start()
        log.info(
            "watch.started",
            inbox=str(self.inbox),
            observer=type(self._observer).__name__,
            settle_seconds=self.settings.settle_seconds,
            rescan_seconds=self.settings.rescan_seconds,
        )
        next_scan = 0.0  # scan at once: files already in the inbox are taken too
        next_reconcile = 0.0
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                paths, rescan = self._hints.drain()
                if rescan or now >= next_scan:
                    self.scan()
                    next_scan = now + self.settings.rescan_seconds
                for path, happened in paths.items():
                    if path.is_relative_to(self.inbox) and is_candidate(path):
                        self.tracker.note(
                            path, complete="closed" in happened, moved_in="moved" in happened
                        )
                for path in self.tracker.ready():
                    self._take(path)
                if now >= next_reconcile:
                    # at start-up, anything still queued may have lost its message with a
                    # broker that keeps nothing: send it again (a second message is harmless)
                    self.reconcile(0.0 if next_reconcile == 0.0 else None)
                    next_reconcile = now + self.settings.reconcile_seconds
                self._stop.wait(_TICK_SECONDS)
        finally:
            self._observer.stop()
            self._observer.join()
            log.info("watch.stopped")

    def scan(self) -> int:
        """Note every file in the inbox; the tracker decides when each is complete."""
        count = 0
        for path in iter_inbox(self.inbox):
            self.tracker.note(path)
            count += 1
        if count:
            log.debug("watch.scanned", files=count)
        return count

    def _take(self, path: Path) -> None:
        try:
            self.taker.take(path)
        except Exception:  # one bad file never stops the watcher
            log.exception("file.take_failed", file=path.name)

    def reconcile(self, requeue_after: float | None = None) -> None:
        """Re-send work whose message may be lost: the ledger, not the broker, is the truth."""
        if requeue_after is None:
            requeue_after = self.settings.requeue_after_seconds
        try:
            due = self.store.due_for_enqueue(requeue_after)
            due_chunks = self.store.due_chunks(requeue_after) if self.enqueue_chunk else []
        except Exception as exc:
            log.error("reconcile.failed", error=str(exc))
            return
        for sha256 in due:
            self._resend("file.requeued", sha256, functools.partial(self.enqueue, sha256))
        for sha256, number in due_chunks:
            self._resend(
                "chunk.requeued",
                sha256,
                functools.partial(self.enqueue_chunk, sha256, number),  # type: ignore[arg-type]
                chunk=number,
            )

    def _resend(self, event: str, sha256: str, send: Callable[[], str], **fields: object) -> None:
        try:
            task_id = send()
        except Exception as exc:
            log.error("file.enqueue_failed", sha256=sha256, error=str(exc), **fields)
        else:
            log.warning(
                event,
                sha256=sha256,
                task_id=task_id,
                reason="not finished in time: lost message or worker",
                **fields,
            )
