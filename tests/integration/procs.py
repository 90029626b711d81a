"""Helpers for integration tests: real `newsingest` processes and waiting on real effects."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


_STARTED: list[NewsingestProcess] = []


def kill_leftovers() -> None:
    """SIGKILL every process a test started and did not stop (a test that failed half way)."""
    for process in _STARTED:
        if process.process.poll() is None:
            process.kill_tree()
    _STARTED.clear()


class NewsingestProcess:
    """A ``newsingest`` command run in the background; its stderr (JSON logs) goes to a file."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str], name: str) -> None:
        self.log_path = cwd / f"{name}.log"
        self._log = self.log_path.open("wb")
        full_env = {**os.environ, "NEWSINGEST_LOG_FORMAT": "json", **env}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "worker", *args],
            cwd=cwd,
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # our signals reach only this tree
        )
        _STARTED.append(self)

    def events(self) -> list[dict[str, Any]]:
        events = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                with contextlib.suppress(json.JSONDecodeError):  # a line cut mid-write
                    events.append(json.loads(line))
        return events

    def wait_for(self, event: str, timeout: float = 60) -> dict[str, Any]:
        """The first log event of this name, once it has been written."""

        def first() -> dict[str, Any] | None:
            return next((e for e in self.events() if e.get("event") == event), None)

        return wait_until(first, timeout, what=f"{event} in {self.log_path.name}")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            code = self.process.wait()
        self._log.close()
        return code

    def kill_tree(self) -> None:
        """SIGKILL the whole process tree: a crash, not a shutdown."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self._log.close()


def oneshot_records(
    folder: Path, files: dict[str, bytes], env: dict[str, str] | None = None
) -> tuple[int, list[dict[str, Any]]]:
    """The embedded default's answer for these files: `newsingest ingest` in ``folder`` (a fresh
    SQLite store there), then `newsingest articles --all`. Returns ingest's exit status and the
    records."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NEWSINGEST_")}
    run_env = {**clean, **(env or {})}
    ingest = subprocess.run(
        [sys.executable, "-m", "worker", "ingest", *sorted(files)],
        cwd=folder,
        env=run_env,
        capture_output=True,
    )
    listing = subprocess.run(
        [sys.executable, "-m", "worker", "articles", "--all"],
        cwd=folder,
        env=run_env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return ingest.returncode, [json.loads(line) for line in listing.splitlines()]


def wait_until(check: Callable[[], T], timeout: float = 60, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


def slow_copy(data: bytes, target: Path, pieces: int = 4, pause: float = 0.2) -> None:
    """Write like `cp` of a big file does: created first, filled in several writes, then closed."""
    step = max(1, len(data) // pieces)
    with target.open("wb") as handle:
        for start in range(0, len(data), step):
            handle.write(data[start : start + step])
            handle.flush()
            time.sleep(pause)
