"""``newsingest`` processes for the bench scripts: start one in its own session with its JSON log
lines going to a file, follow that log as it grows, wait for events, stop it, and make sure that
nothing it started is left running (also on an exception, Ctrl-C or SIGTERM of the bench).

The pattern of ``Process`` in bench/pipeline_throughput.py (itself like tests/integration/procs.py,
copied: bench must not import tests), with an incremental log reader that notes when each line
was first seen, the process-tree helpers that the memory bench needs, and the small one-article
dumps that bench/latency.py and bench/memory.py drop (each one new work: never the same bytes, nor
the same text, twice).
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
POLL_SECONDS = 0.02
CLEAN_EXIT = (0, -signal.SIGINT, -signal.SIGTERM, 130, 143)

_started: list[Process] = []  # every Process not yet reaped: killed (group-wide) at exit


@dataclass
class Event:
    """One JSON log line: its fields, and the wall time (``time.time()``) we first read it."""

    fields: dict[str, Any]
    seen: float

    @property
    def name(self) -> str:
        return str(self.fields.get("event", ""))

    @property
    def timestamp(self) -> float:
        """The event's own ``timestamp`` (structlog's ISO 8601 UTC) as epoch seconds; the time
        we saw the line when it has none or an unreadable one."""
        value = self.fields.get("timestamp")
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                pass
        return self.seen

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)


class Process:
    """A ``newsingest`` command in its own session (process group); stdout and stderr (the JSON
    log lines) go to ``cwd/NAME.log``, which ``poll`` reads incrementally."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str], name: str) -> None:
        self.name = name
        self.log_path = cwd / f"{name}.log"
        self._log = self.log_path.open("wb")
        self._reader = self.log_path.open("rb")
        self._partial = b""
        self._events: list[Event] = []
        self.started_at = time.time()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "worker", *args],
            cwd=cwd,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # our signals, and a Ctrl-C of ours, reach only what we send
        )
        self.pid = self.process.pid
        _started.append(self)

    # --- the log ---------------------------------------------------------------------------

    def poll(self) -> list[Event]:
        """Read the lines written since the last call; return their events (JSON lines only)."""
        chunk = self._reader.read()
        if not chunk:
            return []
        now = time.time()
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()  # an incomplete last line waits for its end
        new = []
        for line in lines:
            if line.startswith(b"{"):
                try:
                    fields = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(fields, dict):
                    new.append(Event(fields, now))
        self._events.extend(new)
        return new

    def events(self, name: str | None = None, **match: Any) -> list[Event]:
        """The events read so far (after reading what is new), by name and field values."""
        self.poll()
        return [
            e
            for e in self._events
            if (name is None or e.name == name) and all(e.get(k) == v for k, v in match.items())
        ]

    def outcome(self, name: str, sha256: str | None = None) -> Event | None:
        """The ``file.done`` or ``file.failed`` event of the inbox file ``name`` (or of these
        bytes), if logged yet. Matched by the ``file`` field, else by ``sha256`` or the name
        ``moved_to``: the ``file.done`` of a split file, logged by its last chunk, has no
        ``file`` field."""
        for event in self.events():
            if event.name not in ("file.done", "file.failed"):
                continue
            moved_to = event.get("moved_to")
            if (
                event.get("file") == name
                or (sha256 is not None and event.get("sha256") == sha256)
                or (isinstance(moved_to, str) and Path(moved_to).name == name)
            ):
                return event
        return None

    def tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def wait_for(
        self, name: str, count: int = 1, timeout: float = 120, **match: Any
    ) -> list[Event]:
        """Wait until ``count`` events ``name`` (with these field values) are in the log."""

        def enough() -> list[Event] | None:
            events = self.events(name, **match)
            if len(events) >= count:
                return events
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited ({self.process.returncode}):\n{self.tail()}"
                )
            return None

        return wait_until(enough, timeout, f"{count} x {name} {match or ''} in {self.name}.log")

    # --- stopping --------------------------------------------------------------------------

    def stop(self, sig: int = signal.SIGINT, timeout: float = 60) -> int:
        """Send ``sig`` and wait; SIGKILL the whole group after ``timeout``. Whatever is left of
        the group afterwards (a pool child that outlived its parent) is killed too."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill_group()
            code = self.process.wait()
        self.kill_group()
        self._close()
        return code

    def kill_group(self) -> None:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def _close(self) -> None:
        self._log.close()
        self._reader.close()
        if self in _started:
            _started.remove(self)


def wait_until(check: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(POLL_SECONDS)


@contextmanager
def running(processes: list[Process], notes: list[str] | None = None) -> Iterator[list[Process]]:
    """Stop ``processes`` in order on leaving (the watcher first: nothing new is queued while the
    workers stop); an unclean exit status is added to ``notes``."""
    try:
        yield processes
    finally:
        for process in processes:
            code = process.stop()
            if code not in CLEAN_EXIT and notes is not None:
                notes.append(f"{process.name} exited with {code} (log: {process.log_path})")


def _kill_leftovers() -> None:
    for process in list(_started):
        if process.process.poll() is None:
            process.process.send_signal(signal.SIGTERM)
        process.kill_group()


def install_cleanup() -> None:
    """Kill every process group we started when this interpreter exits, and turn a SIGTERM of
    the bench into an exception, so that the ``finally`` clauses (``running``) run as on Ctrl-C."""
    atexit.register(_kill_leftovers)

    def terminate(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)


# --- process trees ------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (from ``/proc/PID/task/*/children``), sorted."""
    found: set[int] = set()
    for path in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found.update(int(p) for p in path.read_text().split())
        except OSError:
            continue
    return sorted(found)


def start_ticks(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (``/proc/PID/stat`` field 22)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(text[text.rindex(")") + 2 :].split()[19])


def started_after(pid: int, ancestor: int) -> float | None:
    """Seconds between the start of ``ancestor`` and that of ``pid`` (10 ms resolution)."""
    mine, theirs = start_ticks(pid), start_ticks(ancestor)
    if mine is None or theirs is None:
        return None
    return (mine - theirs) / os.sysconf("SC_CLK_TCK")


# --- one-article dumps --------------------------------------------------------------------------

ARTICLE_SEPARATOR = "\n\n\n\n"  # three blank lines

# Used when there is no seed sample: a title line, a blank line, body paragraphs separated by one
# blank line, with people, places, organisations, a credit and a quote for the enrichers to find.
OWN_ARTICLE = """Ministers Agree on New Rail Link Between Lisbon and Madrid

Portugal and Spain agreed on Tuesday to build a high-speed rail link between Lisbon and Madrid, \
the two governments said in a joint statement after talks in Badajoz.

Spanish Transport Minister Ana Garcia said the line would cut the journey to under three hours. \
"This is the most important step for our two countries in a generation," she told reporters.

The European Commission is expected to pay for a third of the work, officials in Brussels said. \
Construction could start in 2027, according to Reuters."""


def seed_articles(seed: Path | None) -> list[str]:
    """The articles of the seed dump (as text), or the built-in one when there is no seed."""
    if seed is not None and seed.is_file():
        text = seed.read_text(encoding="utf-8-sig")
        articles = [a.strip("\n") for a in text.split(ARTICLE_SEPARATOR) if a.strip()]
        if articles:
            return articles
    return [OWN_ARTICLE]


def one_article_dump(articles: list[str], number: int, tag: str) -> bytes:
    """Dump ``number``: one article of ``articles`` (taken in turn) with a last paragraph that
    names the drop, so that its bytes and its text are new every time."""
    article = articles[number % len(articles)]
    extra = f"This is bench drop {number} of {tag}, added so that every drop is new work."
    return f"{article}\n\n{extra}\n".encode()
