"""File operations of the pipeline: hashing, clash-free moves, error reports beside failed files."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any


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


def move(source: Path, target: Path) -> None:
    """Move ``source`` to ``target`` without ever overwriting a different file.

    Across file systems (inbox and data on separate volumes) the bytes are copied to a hidden
    temporary name first and only then renamed: a crash mid-copy leaves no partial ``target``.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        raise FileExistsError(target)
    try:
        os.link(source, target)  # atomic and fails on a clash, unlike rename
    except FileExistsError:
        raise  # someone else took the name meanwhile: never replace their file
    except OSError:  # another file system, or one without hard links
        _copy_into_place(source, target)
    os.unlink(source)


def _copy_into_place(source: Path, target: Path) -> None:
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
    try:
        with source.open("rb") as reader, partial.open("xb") as writer:
            shutil.copyfileobj(reader, writer, 1 << 20)
            writer.flush()
            os.fsync(writer.fileno())
        shutil.copystat(source, partial)
        if target.exists():
            raise FileExistsError(target)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def write_error_report(failed_file: Path, report: dict[str, Any]) -> Path:
    """``NAME.error.json`` beside the failed file."""
    path = failed_file.with_name(failed_file.name + ".error.json")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
