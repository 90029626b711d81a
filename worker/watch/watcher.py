"""The watcher: watchdog events and periodic scans feed the settle tracker; complete files are
taken and enqueued; the reconciler re-sends work whose message or worker was lost."""

from __future__ import annotations

import functools
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

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

from worker.files import move, sha256_file, sweep_partials, unique_destination
from worker.log import get_logger
from worker.settings import Settings
from worker.store import Store
from worker.store.ledger import LOST_AFTER_SECONDS
from worker.watch.inbox import FileTaker, SettleTracker, is_candidate, iter_inbox

log = get_logger("newsingest.watch")

_TICK_SECONDS = 0.25
_HEX64 = re.compile(r"[0-9a-f]{64}")


class _Hints(FileSystemEventHandler):
    """Collects paths from watchdog's thread; the watcher loop does the work in its own, woken
    by ``arrived`` as soon as there is something to look at."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paths: dict[Path, set[str]] = {}  # path → what happened: changed, closed, moved
        self._rescan = False
        self.arrived = threading.Event()

    def on_any_event(self, event: FileSystemEvent) -> None:
        if isinstance(event, DirMovedEvent):  # a folder of dumps moved in: look inside
            if event.dest_path:  # (a folder moved out of the inbox has none)
                with self._lock:
                    self._rescan = True
                self.arrived.set()
            return
        if event.is_directory or event.event_type in ("deleted", "opened", "closed_no_write"):
            return
        if isinstance(event, FileMovedEvent):
            # a rename inside the inbox, or (dest only) a file moved in from elsewhere: complete
            # at once either way. A file moved out of the inbox has no dest: nothing to take.
            if not event.dest_path:
                return
            path, what = Path(_text(event.dest_path)), "moved"
        else:
            closed = isinstance(event, FileClosedEvent)
            path, what = Path(_text(event.src_path)), "closed" if closed else "changed"
        with self._lock:
            self._paths.setdefault(path, set()).add(what)
        self.arrived.set()

    def drain(self) -> tuple[dict[Path, set[str]], bool]:
        with self._lock:
            paths, self._paths = self._paths, {}
            rescan, self._rescan = self._rescan, False
        return paths, rescan


def _text(path: str | bytes) -> str:
    return path.decode() if isinstance(path, bytes) else path


def _observer(polling: bool) -> BaseObserver:
    """watchdog's observer for this platform, or the polling one when asked.

    On Linux, inotify with full move events: a file moved into the inbox from another folder
    (the standard atomic drop: write elsewhere, then ``mv``) arrives as a move, not as a create
    (watchdog's default, for a move whose source it does not watch), so it is taken at once
    instead of after ``settle_seconds``. Where inotify cannot be used (watchdog falls back to
    polling on a libc without it), watchdog's own choice, as everywhere else."""
    if polling:
        return PollingObserver()
    if Observer.__module__ == "watchdog.observers.inotify":
        return Observer(generate_full_events=True)  # type: ignore[call-arg]
    return Observer()


class Watcher:
    """Watches ``settings.inbox`` until ``stop()``; safe to run in a thread."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        enqueue: Callable[[str], str],
        enqueue_chunk: Callable[[str, int], str] | None = None,
        queue_depth: Callable[[], int | None] | None = None,
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
            first_send_after=settings.requeue_after_seconds,
        )
        self.enqueue = enqueue
        self.enqueue_chunk = enqueue_chunk
        self.queue_depth = queue_depth
        self._hints = _Hints()
        self._stop = threading.Event()
        self._observer: BaseObserver | None = None

    def stop(self) -> None:
        self._stop.set()
        self._hints.arrived.set()

    def run(self) -> None:
        self._observer = _observer(self.settings.polling_observer)
        self._observer.schedule(self._hints, str(self.inbox), recursive=True)
        self._observer.start()
        self.sweep(at_start=True)
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
                    self.reconcile(at_start=next_reconcile == 0.0)
                    self.sweep()
                    next_reconcile = now + self.settings.reconcile_seconds
                # at once when an event comes in (a renamed-in file is taken within
                # milliseconds), else at the next tick, for the settle checks and timers
                self._hints.arrived.wait(_TICK_SECONDS)
                self._hints.arrived.clear()
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

    def reconcile(self, *, at_start: bool = False) -> None:
        """Re-send work whose message or worker was lost: the ledger, not the broker, is the
        truth. Each row backs off on its own (``Ledger.due``); a broker that reports an empty
        queue while work waits has lost its messages, and gets them again at once. At start-up
        everything waiting is sent again: a watcher that died may have claimed a file and not
        sent it (a second message is harmless)."""
        try:
            depth = self.queue_depth() if self.queue_depth is not None else None
            due = self.store.ledger.due(
                self.settings.requeue_after_seconds,
                broker_empty=at_start or depth == 0,
                lost_after=0.0 if at_start else LOST_AFTER_SECONDS,
            )
        except Exception as exc:
            log.error("reconcile.failed", error=str(exc))
            return
        for sha256 in due.files:
            self._resend("file.requeued", sha256, functools.partial(self.enqueue, sha256))
        if self.enqueue_chunk is None:
            return
        for sha256, number in due.chunks:
            self._resend(
                "chunk.requeued",
                sha256,
                functools.partial(self.enqueue_chunk, sha256, number),
                chunk=number,
            )

    def sweep(self, *, at_start: bool = False) -> None:
        """Tidy work/ after crashes: copies and scratch folders of finished content go; a copy
        that no ledger row claims a minute after it was made (the claim was lost: a power cut
        before SQLite synced it, or the inbox file was removed in between) goes back to the
        inbox, to be taken again, rather than being lost. At start-up, interrupted copies go
        too (only this watcher makes them)."""
        work = self.settings.work_dir
        try:
            if at_start:
                for folder in (work, self.settings.processed_dir, self.settings.failed_dir):
                    sweep_partials(folder, min_age_seconds=0 if folder == work else 60)
            quiet_since = time.time() - 60
            for entry in os.scandir(work):
                sha256 = entry.name.removesuffix(".parts")
                # young entries may belong to a take or a requeue still under way: leave them
                if not _HEX64.fullmatch(sha256) or entry.stat().st_mtime >= quiet_since:
                    continue
                row = self.store.ledger.get_file(sha256)
                if row is not None and row["state"] not in ("done", "failed"):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                elif row is None and not self._in_inbox(sha256, entry.stat().st_size):
                    back = unique_destination(self.inbox, f"recovered-{sha256[:12]}", sha256)
                    move(Path(entry.path), back, sha256=sha256)
                    log.warning("work.recovered", sha256=sha256, moved_to=str(back))
                    continue
                else:  # finished content, or a copy whose original is still in the inbox
                    os.unlink(entry.path)
                log.info("work.swept", sha256=sha256, state=row and row["state"], path=entry.name)
        except Exception as exc:  # housekeeping never stops the watcher
            log.error("work.sweep_failed", error=str(exc))

    def _in_inbox(self, sha256: str, size: int) -> bool:
        """Whether the inbox holds these bytes (a take whose claim failed leaves both)."""
        for path in iter_inbox(self.inbox):
            try:
                if path.stat().st_size == size and sha256_file(path) == sha256:
                    return True
            except OSError:
                continue
        return False

    def _resend(
        self,
        event: Literal["file.requeued", "chunk.requeued"],
        sha256: str,
        send: Callable[[], str],
        **fields: object,
    ) -> None:
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
