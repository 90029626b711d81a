"""Inbox rules: which names wait, which files are complete, and how a file is taken."""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from worker import faults
from worker.errors import FileChangedError, NotRegularFileError
from worker.files import (
    TAKING_PREFIX,
    copy_into_work,
    destination,
    file_identity,
    holds,
    move,
    places,
    safe_name,
    unlink_if_same,
    write_error_report,
)
from worker.log import get_logger
from worker.store import Claim, Store

log = get_logger("newsingest.watch")

# Names that are still being written or belong to another program: they wait until renamed.
PARTIAL_PATTERNS = ("*.part", "*.tmp", "*.crdownload", "*~", ".~lock*", "*.swp")


def is_ignored(path: Path) -> bool:
    name = path.name
    return name.startswith(".") or any(fnmatch.fnmatch(name, p) for p in PARTIAL_PATTERNS)


def is_candidate(path: Path) -> bool:
    """A regular file to take, once complete: not waiting for a rename, never a symlink."""
    return not is_ignored(path) and not path.is_symlink() and path.is_file()


def iter_inbox(inbox: Path) -> Iterator[Path]:
    """Every candidate file in the inbox and its sub-folders; symlinks are never followed."""
    for root, dirs, names in os.walk(inbox, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            path = Path(root) / name
            if is_candidate(path):
                yield path


@dataclass
class _Pending:
    size: int
    mtime_ns: int
    stable_since: float
    moved_in: bool = False  # renamed into the inbox: complete at once
    closed_at: float | None = None  # closed after writing, at this time
    reopened: bool = False  # written again after a close: an appending writer, trust only time


class SettleTracker:
    """Decides when a file is complete. Events only add hints; each check looks at the file.

    A file is complete when it was renamed in; or when it was closed after writing and then stayed
    unchanged for ``close_quiet`` (a writer that appends and closes once a second must not look
    finished between two lines); or when it stayed unchanged in size and mtime for
    ``settle_seconds``. An empty file waits ``empty_settle_seconds``: it is usually a placeholder
    that a downloader fills later.
    """

    def __init__(
        self,
        settle_seconds: float,
        empty_settle_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settle_seconds = settle_seconds
        self.close_quiet = 0.75 * settle_seconds
        self.empty_settle_seconds = max(empty_settle_seconds, settle_seconds)
        self._clock = clock
        self._pending: dict[Path, _Pending] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def note(self, path: Path, *, complete: bool = False, moved_in: bool = False) -> None:
        """A hint that ``path`` changed: ``complete`` if it was closed after writing,
        ``moved_in`` if it was renamed into the inbox."""
        try:
            stat = path.stat()
        except OSError:
            self._pending.pop(path, None)
            return
        now = self._clock()
        entry = self._pending.get(path)
        if entry is None or (entry.size, entry.mtime_ns) != (stat.st_size, stat.st_mtime_ns):
            reopened = entry is not None and (entry.closed_at is not None or entry.reopened)
            entry = _Pending(stat.st_size, stat.st_mtime_ns, now, reopened=reopened)
            self._pending[path] = entry
        if moved_in:
            entry.moved_in = True
        if complete:
            entry.closed_at = now

    def ready(self) -> list[Path]:
        """Files complete now; they leave the tracker."""
        now = self._clock()
        done: list[Path] = []
        for path, entry in list(self._pending.items()):
            try:
                stat = path.stat()
            except OSError:
                del self._pending[path]
                continue
            if (entry.size, entry.mtime_ns) != (stat.st_size, stat.st_mtime_ns):
                # still being written: whatever the events said, wait for it to settle again
                reopened = entry.closed_at is not None or entry.reopened
                self._pending[path] = _Pending(
                    stat.st_size, stat.st_mtime_ns, now, reopened=reopened
                )
                continue
            if self._complete(entry, now):
                done.append(path)
                del self._pending[path]
        return done

    def _complete(self, entry: _Pending, now: float) -> bool:
        quiet = now - entry.stable_since
        if entry.size == 0:
            return quiet >= self.empty_settle_seconds
        if entry.moved_in:
            return True
        if entry.closed_at is not None and not entry.reopened:
            return now - entry.closed_at >= self.close_quiet and quiet >= self.close_quiet
        return quiet >= self.settle_seconds


class FileTaker:
    """Takes a complete file from the inbox: copy and hash, ledger claim, then off the inbox.

    The order is what makes a crash at any line heal (``worker/store/ledger.py``, invariants 1
    and 2): the bytes reach ``work/<sha256>`` before the claim commits, and the inbox entry goes
    only after it. Taking the same inbox file again after a crash resumes its drop: no second
    job, no second drop row, no second copy in ``processed/``.
    """

    def __init__(
        self,
        store: Store,
        inbox: Path,
        work_dir: Path,
        processed_dir: Path,
        enqueue: Callable[[str], str],
        failed_dir: Path | None = None,
        first_send_after: float = 300.0,
    ) -> None:
        self.store = store
        self.ledger = store.ledger
        self.inbox = inbox
        self.work_dir = work_dir
        self.processed_dir = processed_dir
        self.failed_dir = failed_dir or processed_dir.parent / "failed"
        self.enqueue = enqueue
        self.first_send_after = first_send_after

    def take(self, path: Path) -> str | None:
        """Returns "queued", "duplicate", "failed" (unreadable), or None if the file was not
        taken (gone, changed while read, or no longer a regular file)."""
        started = time.perf_counter()
        name = safe_name(str(path.relative_to(self.inbox)).replace(os.sep, "__"))
        try:
            taken = copy_into_work(path, self.work_dir, inbox=self.inbox)
        except PermissionError as exc:
            return self._quarantine_unreadable(path, name, exc)
        except (NotRegularFileError, FileChangedError) as exc:
            log.warning("file.not_taken", file=name, reason=exc.code, error=str(exc))
            return None
        except FileNotFoundError as exc:  # gone before we could read it: nothing left to take
            log.warning("file.vanished", file=name, error=str(exc))
            return None
        faults.point("take.after_copy")
        sha256, size = taken.sha256, taken.size
        work_path = self.work_dir / sha256
        claim = self.ledger.claim(
            sha256,
            name,
            str(work_path),
            size,
            identity=file_identity(taken.stat),
            first_send_after=self.first_send_after,
            retry_failed=True,  # the same bytes dropped again after a failure: try again
        )
        faults.point("claim.after_commit")
        fields = {"file": name, "sha256": sha256, "size": size, "drop": claim.drop_id}
        outcome = claim.outcome
        # bytes an interrupted `ingest` left unfinished: this drop carries them on
        abandoned = outcome == "duplicate" and not claim.resumed and claim.file["moves"] == 0
        if abandoned and self.ledger.adopt(sha256, name, str(work_path), moves=True):
            outcome = "queued"
        if outcome == "queued":
            unlink_if_same(path, taken.stat)
            faults.point("take.after_move")
            self.ledger.close_drop(claim.drop_id)
            task_id = self._enqueue(sha256, name)
            log.info(
                "file.queued",
                **fields,
                task_id=task_id,
                resumed=claim.resumed,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )
            return "queued"
        target = self._place_duplicate(claim, name, sha256)
        unlink_if_same(path, taken.stat)
        faults.point("take.after_move")
        self.ledger.close_drop(claim.drop_id)
        log.info(
            "file.duplicate",
            **fields,
            first_seen_as=claim.file["name"],
            state=claim.file["state"],
            moved_to=str(target),
            resumed=claim.resumed,
        )
        return "duplicate"

    def _place_duplicate(self, claim: Claim, name: str, sha256: str) -> Path:
        """Put a copy of a duplicate drop in processed/, at a place reserved once for this drop
        in the ledger, that no other file or drop has (invariant 6). The copy is a file of its
        own (not a hard link to the work copy), so that no finish can mistake it for its own.
        The spare work copy goes when its content is finished."""
        folder = self.processed_dir
        target = Path(
            claim.destination
            or self.ledger.set_drop_destination(claim.drop_id, places(folder, name, sha256))
        )
        work_copy = self.work_dir / sha256
        for _ in range(10):
            if holds(target, sha256):  # placed by an earlier attempt
                break
            if target.exists() or target.is_symlink():  # not ours: reserve another place
                target = Path(
                    self.ledger.set_drop_destination(
                        claim.drop_id, places(folder, name, sha256), replacing=str(target)
                    )
                )
                continue
            spare = self.work_dir / f"{TAKING_PREFIX}drop-{claim.drop_id}"
            shutil.copyfile(work_copy, spare)
            try:
                move(spare, target, sha256=sha256)
                break
            except FileExistsError:  # not ours after all: reserve another place
                spare.unlink(missing_ok=True)
                target = Path(
                    self.ledger.set_drop_destination(
                        claim.drop_id, places(folder, name, sha256), replacing=str(target)
                    )
                )
        if claim.file["state"] in ("done", "failed"):  # nobody needs the work copy any more
            work_copy.unlink(missing_ok=True)
        return target

    def _quarantine_unreadable(self, path: Path, name: str, exc: OSError) -> str | None:
        """A file we may not read cannot be hashed: it goes to failed/ under a key made of its
        name, size and time, so that it is counted and reported like any other failure."""
        stat = path.stat()
        key = hashlib.sha256(f"unreadable\0{name}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
        sha256 = key.hexdigest()
        target = destination(self.failed_dir, name, sha256)
        try:
            move(path, target)
        except OSError as move_error:  # not even movable: leave it, say so once per scan
            log.error("file.unreadable", file=name, error=str(exc), move_error=str(move_error))
            return None
        error = {
            "code": "unreadable",
            "message": f"the watcher may not read this file: {exc.strerror}",
            "line": None,
            "hint": "give the newsingest user read permission, then `newsingest requeue`",
        }
        write_error_report(target, {"file": name, "sha256": sha256, **error})
        self.ledger.claim(sha256, name, str(target), stat.st_size)
        self.ledger.fail(sha256, error, str(target))
        log.error("file.failed", file=name, sha256=sha256, **error, moved_to=str(target))
        return "failed"

    def _enqueue(self, sha256: str, name: str) -> str | None:
        try:
            task_id = self.enqueue(sha256)
        except Exception as exc:  # the broker is away: the reconciler sends it later
            log.error("file.enqueue_failed", file=name, sha256=sha256, error=str(exc))
            return None
        self.ledger.mark_sent(sha256)
        return task_id
