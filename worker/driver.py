"""The driver: one file's life, from a claimed ledger row to ``done`` or ``failed``.

The Celery tasks and ``newsingest ingest`` both run files through ``FileDriver``; they differ only
by the ``Run`` they pass (who holds the lease, whether the file moves, how chunks are run), so
the two paths cannot drift apart.

A file's life: ``start`` (lease) → verify its bytes → parse and plan → publish whole, or ``split``
into chunks that any worker takes → the publish that stores the last piece leaves the file
``stored`` → ``finish``: move to ``processed/`` (only watched files move) → ``done``. A file that
cannot be used goes to ``failed/`` with a report. While a piece of work runs, a heartbeat renews
its lease, so a crash is noticed within one lease (``lease_seconds``), not after a timeout.

Crash windows are named (``worker/faults.py``) and each is tested: whatever line a process dies
at, the next holder of the lease finishes the same work with the same result.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import structlog
from sqlalchemy.engine import RowMapping

from worker import faults, metrics, timings
from worker.errors import ConfigurationError, DumpError, FileChangedError, TransientError
from worker.files import holds, move, places, sha256_file, write_error_report
from worker.log import elapsed_ms, get_logger
from worker.models import FileSummary
from worker.parse import prepare_dump, remove_scratch
from worker.pipeline import (
    Resources,
    log_unplaced,
    plan_dump,
    publish_articles,
    publish_chunk,
    summary_from_ledger,
)
from worker.store import LeaseLostError, PublishCounts

log = get_logger("newsingest.driver")

EnqueueChunk = Callable[[str, int], object]
# a full or failing disk is the machine's problem: wait, never quarantine a file for it
_RESOURCE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.ENOMEM, errno.EMFILE})
ErrorKind = Literal["permanent", "transient", "configuration", "lease_lost", "unexpected"]


@dataclass(frozen=True, slots=True)
class Run:
    """Who is driving, and how.

    Attributes:
        owner: the lease holder's id (the Celery task id, or ``ingest-<uuid>``).
        retries: the holder's retry number: a retry takes its own lease back without counting
            an attempt.
        moves: watched files move to ``processed/``/``failed/``; ``ingest`` leaves them in place.
        enqueue_chunk: how a split file's chunks reach the workers; None runs them here, one
            after the other (``ingest``).
    """

    owner: str
    retries: int = 0
    moves: bool = True
    enqueue_chunk: EnqueueChunk | None = None


def classify(exc: BaseException) -> ErrorKind:
    """What to do about an error: quarantine, retry, pause, let go, or treat as a crash."""
    from kombu.exceptions import OperationalError as BrokerError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from sqlalchemy.exc import DBAPIError, OperationalError

    if isinstance(exc, DumpError):
        return "permanent"
    if isinstance(exc, ConfigurationError):
        return "configuration"
    if isinstance(exc, LeaseLostError):
        return "lease_lost"
    transient = (
        TransientError,
        OperationalError,
        BrokerError,
        RedisConnectionError,
        RedisTimeoutError,
        ConnectionError,
        TimeoutError,
    )
    if isinstance(exc, transient):
        return "transient"
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return "transient"
    if isinstance(exc, OSError) and exc.errno in _RESOURCE_ERRNOS:  # the machine, not the file
        return "transient"
    return "unexpected"


class Heartbeat:
    """Renews a lease every third of its length from a thread, while the work runs.

    A renewal that fails (the store away for a moment) is retried at the next beat; one that
    finds the lease gone marks ``lost``: the publish will then refuse to commit.
    """

    def __init__(self, renew: Callable[[], bool], lease_seconds: float) -> None:
        self._renew = renew
        self._every = max(lease_seconds / 3, 0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="lease-heartbeat", daemon=True)
        self.lost = False

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self._every):
            try:
                held = self._renew()
            except Exception as exc:  # the store away: try again at the next beat
                log.warning("lease.renew_failed", error=str(exc))
                continue
            if not held:
                self.lost = True
                log.warning("lease.lost")
                return


def _collecting_timings(method: Callable[..., FileSummary | None]) -> Any:
    """Gather the stage timings of one driver entry point for its ``file.done`` event."""

    @functools.wraps(method)
    def collect(*args: Any, **kwargs: Any) -> FileSummary | None:
        with timings.collecting():
            return method(*args, **kwargs)

    return collect


class FileDriver:
    """Runs files and chunks through the pipeline for one process's ``Resources``."""

    def __init__(
        self, resources: Resources, on_stored: Callable[[int], object] | None = None
    ) -> None:
        """``on_stored``: told, after each commit, how many articles (sightings) it stored: a
        whole file's or one chunk's. How ``ingest`` shows progress without this knowing how."""
        self.resources = resources
        self.on_stored = on_stored
        self.settings = resources.settings
        self.store = resources.store
        self.ledger = resources.store.ledger

    # --- entry points -----------------------------------------------------------------------

    @_collecting_timings
    def process_file(self, sha256: str, run: Run) -> FileSummary | None:
        """Drive a claimed file as far as this process can take it.

        Returns None when there is nothing to do here (done, split, or held by another).

        Raises:
            Whatever is not the file's own fault (see ``classify``), after handing the file back
            when the error is transient or a configuration problem.
        """
        started = time.perf_counter()
        lease = self.settings.lease_seconds
        row = self.ledger.start(sha256, run.owner, lease, run.retries)
        first_start = row is not None and row["attempts"] == 1 and run.retries == 0
        if first_start and row["enqueued_at"] is not None:
            # from the message's sending to its start: the broker hop and the wait for a worker
            # (a takeover, or a retry after a hand-back, starts long after the sending: that is not
            # the queue's time)
            timings.record("queue", max(0.0, (time.time() - row["enqueued_at"]) * 1000))
        if row is None:
            current = self.ledger.get_file(sha256)
            state = current["state"] if current else None
            if state == "split" and run.enqueue_chunk is None and not current["moves"]:
                return self._run_chunks_here(sha256, run)  # an earlier `ingest` split it
            log.info("file.skipped", sha256=sha256, state=state, reason="not takeable")
            return None
        with (
            structlog.contextvars.bound_contextvars(file=row["name"], sha256=sha256),
            self._holding(sha256, run.owner),
        ):
            return self._process_started(row, run, started)

    @_collecting_timings
    def process_chunk(self, sha256: str, number: int, run: Run) -> FileSummary | None:
        """Store one chunk of a split file; the run that stores the last one finishes the file."""
        started = time.perf_counter()
        lease = self.settings.lease_seconds
        file = self.ledger.get_file(sha256)
        chunk = self.ledger.start_chunk(sha256, number, run.owner, lease, run.retries)
        if file is None or chunk is None:
            log.info("chunk.skipped", sha256=sha256, chunk=number, reason="not takeable")
            return None
        with (
            structlog.contextvars.bound_contextvars(file=file["name"], sha256=sha256, chunk=number),
            self._holding(sha256, run.owner, number),
        ):
            if chunk["attempts"] > self.settings.max_attempts:
                error = _too_many_attempts(chunk["attempts"], number)
                return self._fail(file, error, run, started)
            try:
                counts = publish_chunk(self.resources, file, chunk, run.owner)
            except DumpError as exc:
                return self._fail(file, exc.report(), run, started)
            if self.on_stored is not None:
                self.on_stored(chunk["articles"])
            if not counts.file_complete:
                return None
        faults.point("chunk.after_last_flip")
        # the flip made this run the file's holder: finish it under the file's lease (its
        # events carry the file, as every other event of its story does)
        with structlog.contextvars.bound_contextvars(file=file["name"], sha256=sha256):
            return self._finish_held(sha256, run, started)

    def _finish_held(self, sha256: str, run: Run, started: float) -> FileSummary | None:
        row = self.ledger.get_file(sha256)
        if row is None or row["state"] != "stored" or row["task_id"] != run.owner:
            return None
        with self._holding(sha256, run.owner):
            return self._finish(row, run, started)

    def ingest(self, path: Path) -> FileSummary:
        """Process a file where it lies (``newsingest ingest``): not moved, chunks run here.

        Bytes done before, or being processed by the watcher's workers right now, are reported
        as a duplicate and not redone.
        """
        with structlog.contextvars.bound_contextvars(file=str(path)):
            try:
                size = path.stat().st_size
                sha256 = sha256_file(path)
            except OSError as exc:
                error = {"code": "unreadable", "message": str(exc), "line": None}
                log.error("file.failed", **error)
                return FileSummary(file=str(path), sha256="", state="failed", error=error)
            with structlog.contextvars.bound_contextvars(sha256=sha256):
                return self._ingest(path, sha256, size)

    def _ingest(self, path: Path, sha256: str, size: int) -> FileSummary:
        claim = self.ledger.claim(sha256, path.name, str(path), size, moves=False)
        row = claim.file
        if claim.outcome == "duplicate":
            if row["state"] == "done" or row["moves"]:  # done, or the watcher's work
                log.info("file.duplicate", first_seen_as=row["name"], state=row["state"])
                return summary_from_ledger(dict(row), "duplicate", str(path))
            if row["state"] == "failed":  # the user asks to try again
                self.ledger.requeue(sha256, path=str(path))
            else:  # an earlier `ingest` of these bytes stopped half way: take it over here
                self.ledger.adopt(sha256, path.name, str(path), moves=False)
        run = Run(owner=f"ingest-{uuid.uuid4()}", moves=False)
        try:
            summary = self.process_file(sha256, run)
        except Exception as exc:
            if classify(exc) in ("transient", "configuration"):
                error = {"code": classify(exc), "message": str(exc), "line": None}
                log.error("file.not_processed", **error)
                return FileSummary(file=str(path), sha256=sha256, state="failed", error=error)
            raise
        if summary is None:  # someone else holds these bytes right now
            current = self.ledger.get_file(sha256) or row
            log.info("file.duplicate", first_seen_as=current["name"], state=current["state"])
            return summary_from_ledger(dict(current), "duplicate", str(path))
        return summary

    # --- the steps --------------------------------------------------------------------------

    def _process_started(self, row: RowMapping, run: Run, started: float) -> FileSummary | None:
        settings = self.settings
        sha256 = row["sha256"]
        if row["state"] == "stored":  # articles committed; only the move is left
            return self._finish(row, run, started)
        if row["error"] is not None:  # a quarantine that a crash interrupted: finish it
            return self._fail(row, row["error"], run, started)
        if row["attempts"] > settings.max_attempts:
            return self._fail(row, _too_many_attempts(row["attempts"]), run, started)
        faults.point("file.started")
        path = Path(row["path"])
        scratch = settings.work_dir / f"{sha256}.parts"
        try:
            step = time.perf_counter()
            self._verify(row, path)
            parts = prepare_dump(path, scratch, self.resources.limits)
            timings.stage_ms("read", step)
            plan = plan_dump(parts, settings.chunk_articles, self.resources.limits)
            if plan.articles is not None:
                log_unplaced(plan.unplaced)
                publish_articles(
                    self.resources,
                    sha256,
                    row["name"] if row["moves"] else row["path"],
                    plan.articles,
                    plan.labels,
                    len(plan.unplaced),
                    plan.encoding,
                    run.owner,
                )
                faults.point("publish.after_commit")
                if self.on_stored is not None:
                    self.on_stored(len(plan.articles))
                return self._finish(self.ledger.get_file(sha256) or row, run, started)
        except DumpError as exc:
            return self._fail(row, exc.report(), run, started)

        # A big dump: every worker takes chunks of it; the last chunk stored finishes the file.
        chunks = self.ledger.split(
            sha256, run.owner, plan.chunks, plan.encoding, settings.requeue_after_seconds
        )
        log.info("file.split", chunks=len(chunks), articles=sum(c["articles"] for c in chunks))
        faults.point("split.after_commit")
        pending = [chunk["number"] for chunk in chunks if chunk["state"] != "stored"]
        if run.enqueue_chunk is not None:
            for number in pending:
                run.enqueue_chunk(sha256, number)
            return FileSummary(file=row["name"], sha256=sha256, state="split")
        return self._run_chunks_here(sha256, run, pending)

    def _run_chunks_here(
        self, sha256: str, run: Run, pending: list[int] | None = None
    ) -> FileSummary | None:
        """``ingest``: a split file's chunks, one after the other, in this process."""
        if pending is None:
            rows = self.ledger.chunk_rows(sha256)
            pending = [row["number"] for row in rows if row["state"] != "stored"]
        summary = None
        for number in pending:
            summary = self.process_chunk(sha256, number, run) or summary
        return summary

    def _verify(self, row: RowMapping, path: Path) -> None:
        """The bytes are still the ones claimed."""
        try:
            if sha256_file(path) != row["sha256"]:
                raise FileChangedError("the file changed after it was taken")
        except FileNotFoundError as exc:
            raise FileChangedError("the claimed file is missing") from exc

    def _finish(self, row: RowMapping, run: Run, started: float) -> FileSummary:
        """The file's articles are stored: move it to processed/, clean up, mark it done."""
        sha256 = row["sha256"]
        step = time.perf_counter()
        moved_to: dict[str, Any] = {}
        if row["moves"]:
            final_path = self._place(row, self.settings.processed_dir, "finish.before_move")
            faults.point("finish.after_move")
            moved_to = {"moved_to": str(final_path)}
        remove_scratch(self.settings.work_dir / f"{sha256}.parts")
        self.ledger.finish(sha256, run.owner)
        timings.stage_ms("finish", step)
        summary = summary_from_ledger(dict(self.ledger.get_file(sha256) or row), "done")
        if not row["moves"]:
            summary = _with_file(summary, row["path"])
        log.info(
            "file.done",
            found=summary.found,
            new=summary.new,
            duplicates=summary.duplicates,
            near_duplicates=summary.near_duplicates,
            failed=summary.failed,
            unplaced_lines=summary.unplaced_lines,
            **moved_to,
            timings=timings.current(),
            duration_ms=elapsed_ms(started),
        )
        metrics.observe_file_done()
        return summary

    def _place(self, row: RowMapping, folder: Path, fault: str | None = None) -> Path:
        """Move the work copy into ``folder`` under a place chosen once for it (invariant 6):
        a retried move goes to the same place, and a place that another drop took meanwhile
        (even with the same bytes) is given up for a fresh one, so two drops never share a file.

        Raises:
            TransientError: no free place could be secured (retried later).
        """
        sha256, name = row["sha256"], row["name"]
        work_path = Path(row["path"])
        target = Path(self.ledger.choose_final_path(sha256, places(folder, name, sha256)))
        if fault is not None:
            faults.point(fault)
        for _ in range(10):
            if not work_path.exists():  # moved by an earlier attempt
                if not target.exists():
                    log.warning("file.move_lost", expected=str(target))
                return target
            # The place is reserved for this content alone: holding its bytes, it was filled by
            # an earlier attempt, which died before the work copy went (or a take of the same
            # bytes made a new work copy meanwhile): the work copy is spare.
            if _same_file(work_path, target) or holds(target, sha256):
                work_path.unlink()
                return target
            if not target.exists() and not target.is_symlink():
                try:
                    move(work_path, target, sha256=sha256)
                    return target
                except FileExistsError:
                    pass  # taken between the look and the link
            fresh = places(folder, name, sha256)
            target = Path(self.ledger.choose_final_path(sha256, fresh, replacing=str(target)))
        raise TransientError(f"no free place for {name} in {folder}")

    def _fail(self, row: RowMapping, error: dict, run: Run, started: float) -> FileSummary:
        """Quarantine: the bytes go to failed/ as they arrived, with a report beside them.

        The reason is recorded first, so that a crash anywhere in here is finished by the next
        holder with the same report.

        Raises:
            LeaseLostError: another process holds the file now: it decides.
        """
        sha256, name = row["sha256"], row["name"]
        if not self.ledger.note_error(sha256, error, run.owner):
            raise LeaseLostError(sha256)
        moved_to: dict[str, Any] = {}
        target: Path | None = None
        if row["moves"]:
            target = self._place(row, self.settings.failed_dir)
            report = {"file": name, "sha256": sha256, **error, "attempts": row["attempts"]}
            write_error_report(target, report)  # at its own place: never another file's report
            moved_to = {"moved_to": str(target)}
        remove_scratch(self.settings.work_dir / f"{sha256}.parts")
        if not self.ledger.fail(sha256, error, str(target) if target else None, owner=run.owner):
            raise LeaseLostError(sha256)
        log.error("file.failed", **error, **moved_to, duration_ms=elapsed_ms(started))
        metrics.observe_file_failed(error.get("code"))
        file = name if row["moves"] else row["path"]
        return FileSummary(file=file, sha256=sha256, state="failed", error=error)

    @contextmanager
    def _holding(self, sha256: str, owner: str, chunk: int | None = None) -> Iterator[None]:
        """While a file (or one chunk of it) is worked on: its lease renewed by a heartbeat.

        On a transient or configuration error the work is handed back (not counted as an
        attempt) before the error goes up to be retried; on a shutdown that cancels the task, it
        is handed back to be taken at once (its message returns to the queue).
        """
        lease, ledger = self.settings.lease_seconds, self.ledger
        if chunk is None:
            renew = functools.partial(ledger.renew, sha256, owner, lease)
            release = functools.partial(ledger.release, sha256, owner)
        else:
            renew = functools.partial(ledger.renew_chunk, sha256, chunk, owner, lease)
            release = functools.partial(ledger.release_chunk, sha256, chunk, owner)
        try:
            with Heartbeat(renew, lease):
                yield
        except (SystemExit, KeyboardInterrupt):  # the worker is stopping: hand back at once
            with contextlib.suppress(Exception):
                release(0.0)
            raise
        except Exception as exc:
            kind = classify(exc)
            if kind in ("transient", "configuration"):
                delay = retry_delay(kind, 0)
                try:
                    release(delay)
                except Exception as release_error:  # the store is away: the lease runs out
                    log.warning("lease.release_failed", error=str(release_error))
            raise


def retry_delay(kind: ErrorKind, retries: int) -> float:
    """Seconds before work handed back is tried again: a configuration error waits for a fix,
    a transient one backs off exponentially (2 s, 4 s … 5 min)."""
    if kind == "configuration":
        return 30.0
    return float(min(2 ** (retries + 1), 300))


def _too_many_attempts(attempts: int, chunk: int | None = None) -> dict[str, object]:
    where = f" (chunk {chunk})" if chunk is not None else ""
    return {
        "code": "too_many_attempts",
        "message": f"started {attempts} times{where} without finishing (crash or timeout)",
        "line": None,
        "hint": "look for a worker crash in the logs for this file, then `newsingest requeue`",
    }


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _with_file(summary: FileSummary, file: str) -> FileSummary:
    import dataclasses

    return dataclasses.replace(summary, file=file)


__all__ = ["FileDriver", "Heartbeat", "PublishCounts", "Run", "classify", "retry_delay"]
