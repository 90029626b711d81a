"""File operations of the pipeline: taking files from the inbox safely, hashing, clash-free moves,
error reports beside failed files, and sweeping the leftovers of a crash."""

from __future__ import annotations

import errno
import hashlib
import itertools
import json
import os
import shutil
import stat
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from worker import faults
from worker.errors import FileChangedError, NotRegularFileError

_COPY_BYTES = 1 << 20
# Hidden names of work in progress: ``sweep_partials`` removes what a crash left of them.
TAKING_PREFIX = ".taking-"
PARTIAL_SUFFIX = ".partial"
# A leftover must be this old before ``sweep_partials`` removes it: a copy still being written (by
# a worker moving a file across volumes while the watcher restarts) changes its mtime every write.
SWEEP_MIN_AGE_SECONDS = 900.0
# How an inbox entry is opened: never through a symlink (O_NOFOLLOW), never blocking on a FIFO
# or a device (O_NONBLOCK: the fstat check then refuses it), never inherited by a child process.
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_OPEN_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class TakenFile(NamedTuple):
    """What ``copy_into_work`` read: the hash and size of the bytes copied, and the ``fstat`` of
    the descriptor they were read from (its ``st_dev``, ``st_ino``, ``st_size`` and
    ``st_mtime_ns`` identify this drop, see ``file_identity``)."""

    sha256: str
    size: int
    stat: os.stat_result


def copy_into_work(path: Path, work_dir: Path, *, inbox: Path | None = None) -> TakenFile:
    """Copy the regular file at ``path`` to ``work_dir/<sha256>``, reading it exactly once.

    The path is opened without following a symlink and without blocking, and what was opened is
    checked with ``fstat``: a symlink, FIFO, socket, device or folder swapped in after the file was
    noticed is refused before a byte is read. The bytes are hashed while they are copied into a
    hidden ``.taking-<uuid>`` file in ``work_dir``, which is fsynced and then renamed to its hash;
    a crash mid-copy leaves only that hidden file (see ``sweep_partials``). If
    ``work_dir/<sha256>`` exists already it holds these very bytes: the copy is dropped.

    With ``inbox`` given, ``path`` must lie inside it and every folder between the two is opened
    without following symlinks too, so a sub-folder swapped for a link cannot lead outside.

    Raises:
        NotRegularFileError: the path is not a regular file (nothing was read).
        FileChangedError: the file changed while it was read (still being written?): nothing is
            left in ``work_dir``; take it again once it is complete.
        OSError: the path vanished (``FileNotFoundError``), may not be read
            (``PermissionError``), or the copy failed (disk full); nothing is left in ``work_dir``.
    """
    fd = _open_regular(path, inbox)
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            raise NotRegularFileError(f"{path.name} is {_kind(before.st_mode)}, not a regular file")
        work_dir.mkdir(parents=True, exist_ok=True)
        partial = work_dir / f"{TAKING_PREFIX}{uuid.uuid4().hex}"
        try:
            digest, size = _copy_hashing(fd, partial)
            after = os.fstat(fd)
            if size != before.st_size or (after.st_size, after.st_mtime_ns) != (
                before.st_size,
                before.st_mtime_ns,
            ):
                raise FileChangedError(
                    f"{path.name} changed while it was read ({before.st_size} bytes when opened, "
                    f"{size} read, {after.st_size} now)"
                )
            _link_or_drop(partial, work_dir / digest)
            _fsync_dir(work_dir)
        finally:
            partial.unlink(missing_ok=True)
    finally:
        os.close(fd)
    return TakenFile(digest, size, before)


def file_identity(st: os.stat_result) -> str:
    """``"dev:ino:size:mtime_ns"``: this drop of a file, told apart from a later one at the same
    path (a new inode, or new bytes in the same inode change its size or mtime)."""
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


def unlink_if_same(path: Path, st: os.stat_result) -> bool:
    """Remove ``path`` if it is still the file ``st`` describes (same device, inode, size and
    mtime), never following a symlink: the inbox entry of a taken file, and not whatever was
    swapped in under its name meanwhile. Returns whether it was removed."""
    try:
        now = path.lstat()
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(now.st_mode) or file_identity(now) != file_identity(st):
        return False
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def sweep_partials(folder: Path, *, min_age_seconds: float = SWEEP_MIN_AGE_SECONDS) -> list[Path]:
    """Remove what interrupted copies left in ``folder`` (not its sub-folders): hidden
    ``.taking-*`` files of ``copy_into_work`` and hidden ``.*.partial`` files of ``move`` and
    ``write_error_report``. Only leftovers unmodified for ``min_age_seconds`` go, so a copy still
    being written by another process is left alone. Returns the paths removed."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return removed
    cutoff = time.time() - min_age_seconds
    for entry in entries:
        name = entry.name
        if not (
            name.startswith(TAKING_PREFIX)
            or (name.startswith(".") and name.endswith(PARTIAL_SUFFIX))
        ):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode) or st.st_mtime > cutoff:
                continue
            os.unlink(entry.path)
        except FileNotFoundError:
            continue  # someone else finished or removed it meanwhile
        removed.append(Path(entry.path))
    return removed


def _open_regular(path: Path, inbox: Path | None) -> int:
    """A descriptor on ``path`` opened with ``_OPEN_FLAGS``; a symlink in the way is refused."""
    try:
        if inbox is None:
            return os.open(path, _OPEN_FLAGS)
        relative = path.relative_to(inbox)
        if not relative.parts or ".." in relative.parts:
            raise NotRegularFileError(f"{path} is not a file inside {inbox}")
        dir_fd = os.open(inbox, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for part in relative.parts[:-1]:
                next_fd = os.open(part, _OPEN_DIR_FLAGS, dir_fd=dir_fd)
                os.close(dir_fd)
                dir_fd = next_fd
            return os.open(relative.parts[-1], _OPEN_FLAGS, dir_fd=dir_fd)
        finally:
            os.close(dir_fd)
    except ValueError as exc:  # relative_to: not under the inbox at all
        raise NotRegularFileError(f"{path} is not a file inside {inbox}") from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a symlink
            raise NotRegularFileError(f"{path.name} is a symbolic link, never followed") from exc
        if exc.errno == errno.ENOTDIR:  # a folder on the way is a symlink (or a file) now
            raise NotRegularFileError(f"a folder on the way to {path.name} is a symlink") from exc
        if exc.errno == errno.ENXIO:  # a Unix socket (or a device without its driver)
            raise NotRegularFileError(f"{path.name} is a socket or a device") from exc
        raise


def _kind(mode: int) -> str:
    for test, what in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISLNK, "a symbolic link"),
    ):
        if test(mode):
            return what
    return "not a regular file"


def _copy_hashing(fd: int, partial: Path) -> tuple[str, int]:
    """Copy everything readable from ``fd`` into the new file ``partial``, fsynced; its sha256
    and size."""
    digest = hashlib.sha256()
    size = 0
    buffer = bytearray(_COPY_BYTES)
    view = memoryview(buffer)
    with partial.open("xb") as writer:
        while count := os.readv(fd, [buffer]):
            chunk = view[:count]
            digest.update(chunk)
            writer.write(chunk)
            size += count
            faults.point("take.mid_copy")
        writer.flush()
        os.fsync(writer.fileno())
    return digest.hexdigest(), size


def _link_or_drop(partial: Path, target: Path) -> None:
    """Give ``partial`` the name ``target`` unless that name exists (then it holds the same
    bytes: content-addressed). The caller removes ``partial`` in both cases."""
    try:
        os.link(partial, target, follow_symlinks=False)
    except FileExistsError:
        return
    except OSError:  # a file system without hard links: rename, which may replace the same bytes
        if not target.exists():
            os.rename(partial, target)


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: not every file system allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def holds(path: Path, sha256: str) -> bool:
    """Whether ``path`` is a regular file with these bytes (never through a symlink)."""
    try:
        if not stat.S_ISREG(path.lstat().st_mode):
            return False
        return sha256_file(path) == sha256
    except OSError:
        return False


def sha256_file(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def safe_name(name: str) -> str:
    """The last part of a name from the inbox: never a path that leaves the folder it goes to."""
    base = Path(name.replace("\\", "/")).name
    return base if base not in ("", ".", "..") else "unnamed"


def destination(folder: Path, name: str, sha256: str) -> Path:
    """Where a file goes in ``processed/`` or ``failed/``: its own name, or on a clash its name
    with the start of its hash added. Deterministic, so a retried move picks the same place."""
    base = safe_name(name)
    target = folder / base
    if not target.exists() and not target.is_symlink():
        return target
    stem, dot, suffix = base.rpartition(".")
    tagged = f"{stem}.{sha256[:12]}.{suffix}" if dot and stem else f"{base}.{sha256[:12]}"
    return folder / tagged


def places(folder: Path, name: str, sha256: str) -> Iterator[str]:
    """Free names for a file in ``folder``, best first: its own, then with the start of its hash
    added, then numbered (the same bytes dropped under one name again and again). Only names
    that nothing has on disk; the ledger skips those another file has reserved."""
    first = folder / safe_name(name)
    stem, dot, suffix = first.name.rpartition(".")
    tagged = f"{stem}.{sha256[:12]}.{suffix}" if dot and stem else f"{first.name}.{sha256[:12]}"
    stem, dot, suffix = tagged.rpartition(".")
    numbered = (
        folder / (f"{stem}-{n}.{suffix}" if dot and stem else f"{tagged}-{n}")
        for n in itertools.count(2)
    )
    for candidate in itertools.chain([first, folder / tagged], numbered):
        if not candidate.exists() and not candidate.is_symlink():
            yield str(candidate)


def unique_destination(folder: Path, name: str, sha256: str) -> Path:
    """The first of ``places``: a name in ``folder`` that nothing has on disk yet."""
    return Path(next(places(folder, name, sha256)))


def move(source: Path, target: Path, *, sha256: str | None = None) -> None:
    """Move ``source`` to ``target`` without ever overwriting a different file.

    Across file systems (inbox and data on separate volumes) the bytes are copied to a hidden
    temporary name first and only then renamed: a crash mid-copy leaves no partial ``target``.

    Idempotent, so a move retried after a crash finishes instead of failing: a ``target`` that
    already holds the bytes of ``source`` (the same inode, or the same size and sha256) means an
    earlier attempt got that far, and only ``source`` is removed. With ``sha256`` (the hash of the
    bytes being moved) given, a ``source`` already gone and a ``target`` with that hash mean the
    move is done. A symlink ``source`` is moved as the link itself, never through it.

    Raises:
        FileExistsError: ``target`` exists with other bytes (or is not a regular file).
        FileNotFoundError: ``source`` is gone (and ``target`` does not hold its bytes).
        NotRegularFileError: ``source`` is not a regular file and must be copied (another volume).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() or target.is_symlink():
        if _already_moved(source, target, sha256):
            return
        if not source.exists() and not source.is_symlink():
            raise FileNotFoundError(errno.ENOENT, "the file to move is gone", str(source))
        raise FileExistsError(errno.EEXIST, "another file has the name", str(target))
    try:
        os.link(source, target, follow_symlinks=False)  # atomic and fails on a clash
    except FileExistsError:
        # someone else took the name meanwhile: never replace their file, unless it is ours
        if _already_moved(source, target, sha256):
            return
        raise
    except FileNotFoundError:
        raise
    except OSError:  # another file system, or one without hard links
        _copy_into_place(source, target, sha256)
    os.unlink(source)


def _already_moved(source: Path, target: Path, sha256: str | None) -> bool:
    """Whether ``target`` holds the bytes of ``source`` (then ``source`` is removed)."""
    try:
        target_stat = target.lstat()
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(target_stat.st_mode):
        return False
    try:
        source_stat = source.lstat()
    except FileNotFoundError:
        # an earlier attempt removed the source: done if the target holds the expected bytes
        return sha256 is not None and sha256_file(target) == sha256
    if not stat.S_ISREG(source_stat.st_mode):
        return False
    same_inode = (source_stat.st_dev, source_stat.st_ino) == (
        target_stat.st_dev,
        target_stat.st_ino,
    )
    if not same_inode:
        if source_stat.st_size != target_stat.st_size:
            return False
        wanted = sha256 if sha256 is not None else sha256_file(source)
        if sha256_file(target) != wanted:
            return False
    source.unlink(missing_ok=True)
    return True


def _copy_into_place(source: Path, target: Path, sha256: str | None) -> None:
    """Copy a regular ``source`` to ``target`` through a hidden ``.NAME.<uuid>.partial``."""
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}{PARTIAL_SUFFIX}")
    fd = _open_regular(source, None)
    try:
        with os.fdopen(fd, "rb") as reader:
            st = os.fstat(reader.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise NotRegularFileError(
                    f"{source.name} is {_kind(st.st_mode)}, not a regular file"
                )
            with partial.open("xb") as writer:
                shutil.copyfileobj(reader, writer, _COPY_BYTES)
                writer.flush()
                os.fsync(writer.fileno())
            os.utime(partial, ns=(st.st_atime_ns, st.st_mtime_ns))
        try:
            os.link(partial, target, follow_symlinks=False)  # fails on a clash, unlike replace
        except FileExistsError:
            if _already_moved(source, target, sha256):
                return
            raise
        except OSError:  # no hard links on the target's file system
            if target.exists() or target.is_symlink():
                raise FileExistsError(target) from None
            os.replace(partial, target)
        _fsync_dir(target.parent)
    finally:
        partial.unlink(missing_ok=True)


def write_error_report(failed_file: Path, report: dict[str, Any]) -> Path:
    """``NAME.error.json`` beside the failed file."""
    path = failed_file.with_name(failed_file.name + ".error.json")
    # hidden and unique: never taken for a failed file's report, swept if a crash leaves it
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}{PARTIAL_SUFFIX}")
    try:
        tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
