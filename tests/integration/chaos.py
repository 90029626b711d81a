"""Chaos harness: the real topology under random crashes must end with the same store as a calm run.

``run(seed, files, duration, topology)``:

1. **Inputs.** ``files`` dump files built from ``tests/dumps.py`` and ``tests/stories_near.py``:
   articles of their own (random word order over the stories' vocabulary, so no two are alike),
   exact duplicates (the stories of ``tests/dumps.py`` and the near-duplicate versions appear in
   several files; now and then an article twice in one file), near duplicates (the five edited
   versions of each story in ``STORY_VERSIONS``), files whose bytes are identical to another's
   under another name, a few CRLF files and BOMs, and files of 4-7 articles that are split into
   chunks (``NEWSINGEST_CHUNK_ARTICLES=3``).
2. **Reference.** The embedded one-shot answer for the same files under the same names
   (``tests/integration/procs.py: oneshot_records``, same chunk size and enrichers).
3. **Chaos.** The real topology as subprocesses: ``redis-postgres`` is ``python -m worker watch``
   plus two ``python -m worker worker --concurrency 2`` on a throwaway Redis and a throwaway
   PostgreSQL (``tests/integration/servers.py``); ``embedded`` is ``python -m worker run`` (SQLite
   broker and store). Files are dropped into the inbox over the first part of ``duration`` (plain
   writes, writes in pieces, and write-then-rename); every few seconds a seeded
   ``random.Random`` injects a fault, each kind once before any is repeated:

   ``redis-postgres``: ``kill_worker`` (SIGKILL a worker's main process; its pool children are
   orphaned, as after an OOM kill; a replacement starts), ``kill_child`` (SIGKILL one prefork
   pool child), ``kill_watcher`` (SIGKILL, restart), ``restart_redis`` (SIGKILL, empty again,
   0-2 s down), ``restart_postgres`` (``pg_ctl stop -m immediate``, 0-2 s down), ``term_worker``
   (SIGTERM, warm shutdown, a replacement starts at once).

   ``embedded``: ``kill_child`` (a pool child of the ``run`` tree's Celery worker), ``kill_run``
   (SIGKILL the whole ``run`` tree, restart), ``term_run`` (SIGTERM, restart once it has exited).

   The harness is also the supervisor (docker-compose's ``restart: unless-stopped``): a process
   that exits on its own is restarted and reported as an unplanned exit.
4. **Settle.** After the last fault, wait until every input's ledger row is ``done`` or ``failed``,
   the inbox and ``data/work`` are empty; then linger a few seconds (a late redelivery that
   changes the store after "done" must be seen), then check once more.
5. **Compare** (:func:`compare`): the same ids, the same content fields, the same near-duplicate
   groups (sets of ids linked through ``duplicate_of``; which version is canonical depends on
   arrival order and is not compared), the same sources (compared by content hash, index and line;
   the file name must be one of the names those bytes were dropped under), no source twice, every
   input file once in ``processed/`` or ``failed/`` with its bytes intact, ``failed/`` empty,
   nothing left in the inbox or ``work/``, the ledger (``Store.status()`` and ``python -m worker
   status --json``) consistent with the inputs and the records.

The :class:`ChaosReport` says what was injected, what was compared, what is lost, doubled, stuck
or wrong, the seconds from the last fault until all was done, and (when not ok) the ledger rows
that are not done and the tail of every process log.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tests.dumps import ARABIC, SHAPES, STORIES, Shape, Story, render_dump
from tests.integration.procs import NewsingestProcess, oneshot_records
from tests.integration.servers import ServerUnavailable, ThrowawayPostgres, ThrowawayRedis
from tests.stories_near import BASE, STORY_VERSIONS

Topology = Literal["redis-postgres", "embedded"]
TOPOLOGIES: tuple[Topology, ...] = ("redis-postgres", "embedded")

FAULTS: dict[str, tuple[str, ...]] = {
    "redis-postgres": (
        "kill_worker",
        "kill_child",
        "kill_watcher",
        "restart_redis",
        "restart_postgres",
        "term_worker",
    ),
    "embedded": ("kill_child", "kill_run", "term_run"),
}

CHUNK_ARTICLES = 3
ENRICHERS = '["language","credit","stats","lead"]'
LEASE_SECONDS = 6.0
REQUEUE_AFTER_SECONDS = 5.0
# Settings every process of a chaos run gets (the reference gets the ones that change records).
SETTINGS = {
    "NEWSINGEST_SETTLE_SECONDS": "0.3",
    "NEWSINGEST_LEASE_SECONDS": str(LEASE_SECONDS),
    "NEWSINGEST_RECONCILE_SECONDS": "1",
    "NEWSINGEST_REQUEUE_AFTER_SECONDS": str(REQUEUE_AFTER_SECONDS),
    "NEWSINGEST_TASK_TIME_LIMIT": "60",
    "NEWSINGEST_RESCAN_SECONDS": "5",
    "NEWSINGEST_CHUNK_ARTICLES": str(CHUNK_ARTICLES),
    "NEWSINGEST_ENRICHERS": ENRICHERS,
    "NEWSINGEST_LOG_FORMAT": "json",
    "NEWSINGEST_CONFIG": "/nonexistent/newsingest.toml",
    # a process that hangs is asked for its stacks with SIGABRT when the wait times out
    "PYTHONFAULTHANDLER": "1",
}
RECORD_SETTINGS = ("NEWSINGEST_CHUNK_ARTICLES", "NEWSINGEST_ENRICHERS", "NEWSINGEST_CONFIG")
# Record fields that must be equal to the reference's. Not compared: duplicate_of and similarity
# (which version of a story is canonical depends on arrival order; the groups are compared
# instead), sources (compared on their own, by content), ingested_at, pipeline_version.
CONTENT_FIELDS = (
    "title",
    "body",
    "image_caption",
    "image_credit",
    "lead",
    "language",
    "word_count",
    "reading_time_s",
    "entities",
    "countries",
    "keywords",
    "quotes",
    "enrich_errors",
)
TERMINAL = ("done", "failed")


class HarnessError(RuntimeError):
    """The harness itself could not do its job (bad inputs, a reference that failed)."""


# --- inputs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputFile:
    name: str
    data: bytes
    how: Literal["write", "pieces", "rename"]  # how it is dropped into the inbox
    at: float  # seconds after the start of the chaos phase

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


_VOCABULARY = sorted(
    {
        word
        for story in BASE
        for paragraph in story.paragraphs
        for word in re.findall(r"[a-z]+", paragraph.lower())
        if len(word) > 2
    }
)
_SHARED: tuple[Story, ...] = (*STORIES, ARABIC)
_VERSIONS: tuple[Story, ...] = tuple(v for group in STORY_VERSIONS for v in group)


def _sentence(rng: random.Random, words: int) -> str:
    picked = [rng.choice(_VOCABULARY) for _ in range(words)]
    return " ".join(picked).capitalize() + "."


def _unique_story(rng: random.Random, number: int) -> Story:
    """An article of its own: words of our stories in random order share no 5-word shingle."""
    title = f"Dispatch {number}: " + " ".join(rng.choice(_VOCABULARY) for _ in range(6)).title()
    paragraphs = tuple(
        " ".join(_sentence(rng, rng.randint(8, 16)) for _ in range(rng.randint(1, 3)))
        for _ in range(rng.randint(2, 4))
    )
    if rng.random() < 0.5:
        caption = _sentence(rng, 9).rstrip(".")
        return Story(
            title, paragraphs, caption=caption, credit=rng.choice(("AP", "AFP", "Reuters"))
        )
    return Story(title, paragraphs)


_NO_CAPTION_SHAPES: tuple[Shape, ...] = ("marker_20", "marker", "bare", "repeated_title")


def _shape_for(story: Story, rng: random.Random) -> Shape:
    """A layout for one sighting of ``story``. The first stored sighting of a text gives the record
    its caption and credit, and which sighting is first depends on arrival order: so every
    sighting of one text gets the same header (the same caption, with or without its credit, or
    none), and only the layouts that parse to that header vary."""
    if story.caption is None:
        return rng.choice(SHAPES)
    header = int(hashlib.sha256(story.title.encode()).hexdigest(), 16) % 3
    if header == 0:
        return "full"
    if header == 1:
        return "no_caption_credit"
    return rng.choice(_NO_CAPTION_SHAPES)


def make_inputs(seed: int, files: int, drop_window: float) -> list[InputFile]:
    """``files`` dump files, deterministic for a seed, with their drop times in ``drop_window``."""
    rng = random.Random(f"inputs-{seed}")
    counter = 0
    made: list[tuple[str, bytes]] = []
    copies = max(1, files // 20) if files >= 4 else 0
    for number in range(files - copies):
        size = rng.choices((1, 2, 3, 4, 5, 7), weights=(2, 4, 4, 2, 1, 1))[0]
        stories: list[Story] = []
        for _ in range(size):
            roll = rng.random()
            if roll < 0.45:
                counter += 1
                stories.append(_unique_story(rng, counter))
            elif roll < 0.75:
                stories.append(rng.choice(_VERSIONS))
            elif roll < 0.93 or not stories:
                stories.append(rng.choice(_SHARED))
            else:
                stories.append(rng.choice(stories))  # the same text twice in one file
        shapes = [_shape_for(story, rng) for story in stories]
        newline = "\r\n" if rng.random() < 0.1 else "\n"
        text = render_dump(stories, shapes, newline=newline)
        if rng.random() < 0.05:
            text = "\ufeff" + text
        made.append((f"{number:04d}-dump-{size}.txt", text.encode()))
    for copy in range(copies):
        original_name, data = rng.choice(made[: max(1, len(made) // 2)])
        made.append((f"{files - copies + copy:04d}-copy-of-{original_name[:4]}.txt", data))
    order = list(range(len(made)))
    rng.shuffle(order)
    # a shuffled order: a copy may arrive before its original, or right after it
    inputs = []
    for position, index in enumerate(order):
        name, data = made[index]
        at = drop_window * position / max(1, len(made))
        how = rng.choices(("write", "pieces", "rename"), weights=(5, 2, 3))[0]
        inputs.append(InputFile(name, data, how, round(at, 3)))
    return inputs


def drop(inbox: Path, item: InputFile) -> None:
    """Put one file into the inbox the way ``item.how`` says."""
    target = inbox / item.name
    if item.how == "rename":
        partial = inbox / f"{item.name}.part"
        partial.write_bytes(item.data)
        os.rename(partial, target)
        return
    with target.open("wb") as handle:
        if item.how == "pieces":
            step = max(1, len(item.data) // 3)
            for start in range(0, len(item.data), step):
                handle.write(item.data[start : start + step])
                handle.flush()
                time.sleep(0.02)
        else:
            handle.write(item.data)


# --- processes ------------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    """True while ``pid`` runs: not gone, not a zombie waiting for its parent."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] != "Z"


def children(pid: int) -> list[int]:
    """Live direct children of ``pid``: psutil if installed, else /proc, else ``pgrep -P``."""
    try:
        import psutil  # type: ignore[import-untyped]
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            found = [child.pid for child in psutil.Process(pid).children()]
        except psutil.Error:
            return []
        return [child for child in found if _alive(child)]
    found: list[int] = []
    tasks = Path(f"/proc/{pid}/task")
    readable = False
    if tasks.is_dir():
        for task in tasks.iterdir():
            with contextlib.suppress(OSError):
                found += [int(p) for p in (task / "children").read_text().split()]
                readable = True
    if not readable:
        done = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
        found = [int(p) for p in done.stdout.split()]
    return sorted(child for child in set(found) if _alive(child))


def session_members(session: int) -> list[int]:
    """Every live process whose session id is ``session`` (orphans of a killed leader too)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        # fields after the name: state ppid pgrp session ...
        if len(fields) > 3 and int(fields[3]) == session and fields[0] != "Z":
            members.append(int(entry.name))
    return members


@dataclass
class Slot:
    """A role in the topology (the watcher, worker A...) and the processes that have held it."""

    role: str
    args: list[str]
    current: NewsingestProcess | None = None
    history: list[NewsingestProcess] = field(default_factory=list)
    terminating: list[tuple[NewsingestProcess, float]] = field(default_factory=list)
    restart_when_gone: bool = False  # a planned SIGTERM: restart once the old one has exited


class Cluster:
    """The processes of one topology, supervised: started, killed, replaced, reaped."""

    def __init__(self, workdir: Path, env: dict[str, str], slots: list[Slot]) -> None:
        self.workdir = workdir
        self.env = env
        self.slots = {slot.role: slot for slot in slots}
        self.unplanned_exits: list[str] = []
        self._sessions: set[int] = set()

    def start(self, slot: Slot) -> NewsingestProcess:
        number = len(slot.history) + 1
        process = NewsingestProcess(slot.args, self.workdir, self.env, f"{slot.role}-{number}")
        slot.current = process
        slot.history.append(process)
        self._sessions.add(process.process.pid)
        return process

    def start_all(self) -> None:
        for slot in self.slots.values():
            self.start(slot)

    def all_processes(self) -> list[NewsingestProcess]:
        return [p for slot in self.slots.values() for p in slot.history]

    def supervise(self, clock: float) -> None:
        """Restart what exited on its own; finish planned terminations."""
        for slot in self.slots.values():
            for old, deadline in list(slot.terminating):
                if old.process.poll() is not None or clock > deadline:
                    if old.process.poll() is None:
                        old.kill_tree()
                        self.unplanned_exits.append(
                            f"{old.log_path.stem} still running long after SIGTERM: SIGKILLed"
                        )
                    slot.terminating.remove((old, deadline))
            process = slot.current
            if process is None:
                continue
            code = process.process.poll()
            if code is None:
                continue
            if slot.restart_when_gone:
                slot.restart_when_gone = False
            else:
                self.unplanned_exits.append(
                    f"{process.log_path.stem} exited with {code}: {_last_line(process)}"
                )
            self._reap(process)
            self.start(slot)

    def _reap(self, process: NewsingestProcess) -> None:
        with contextlib.suppress(Exception):
            process._log.close()

    def kill_main(self, slot: Slot) -> str:
        """SIGKILL the slot's main process only (its children are orphaned); replace it."""
        process = slot.current
        assert process is not None
        pid = process.process.pid
        orphans = children(pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        process.process.wait()
        self._reap(process)
        slot.restart_when_gone = False  # replaced here and now
        self.start(slot)
        return f"{process.log_path.stem} (pid {pid}, orphaned children {orphans})"

    def kill_tree(self, slot: Slot) -> str:
        process = slot.current
        assert process is not None
        process.kill_tree()
        slot.restart_when_gone = False  # replaced here and now (even if it was shutting down)
        self.start(slot)
        return f"{process.log_path.stem} (pid {process.process.pid}) and its tree"

    def terminate(self, slot: Slot, replace_now: bool, grace: float, clock: float) -> str:
        """SIGTERM the slot's process; replace it now, or once it has exited (``run``)."""
        process = slot.current
        assert process is not None
        with contextlib.suppress(ProcessLookupError):
            process.process.send_signal(signal.SIGTERM)
        if replace_now:
            slot.terminating.append((process, clock + grace))
            self.start(slot)
        else:
            slot.restart_when_gone = True
            slot.terminating.append((process, clock + grace))
        return f"{process.log_path.stem} (pid {process.process.pid})"

    def leftovers(self) -> list[str]:
        """Processes still alive whose leader (the process we started) has exited."""
        found = []
        for process in self.all_processes():
            code = process.process.poll()
            if code is None:
                continue
            alive = session_members(process.process.pid)
            if alive:
                commands = sorted({_cmdline(pid) for pid in alive})
                found.append(
                    f"{process.log_path.stem} (exited {code}) left {len(alive)} processes: "
                    f"{', '.join(commands)}"
                )
        return found

    def signal_all(self, signum: int) -> None:
        """Send ``signum`` to every live process we started, orphans included."""
        for session in self._sessions:
            for pid in session_members(session):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signum)

    def kill_everything(self) -> None:
        """SIGKILL every process this cluster started, orphans included."""
        for process in self.all_processes():
            if process.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.process.pid, signal.SIGKILL)
        for _ in range(3):
            left = [pid for session in self._sessions for pid in session_members(session)]
            if not left:
                break
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        for process in self.all_processes():
            with contextlib.suppress(Exception):
                process.process.wait(5)
            self._reap(process)


def _cmdline(pid: int) -> str:
    try:
        parts = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return str(pid)
    return " ".join(p.decode(errors="replace") for p in parts if p)[:120] or str(pid)


def _last_line(process: NewsingestProcess) -> str:
    try:
        lines = process.log_path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return lines[-1][:300] if lines else "(empty log)"


def _events(path: Path) -> Iterable[dict[str, Any]]:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return
    for line in text.splitlines():
        if line.startswith("{"):
            with contextlib.suppress(json.JSONDecodeError):
                yield json.loads(line)


def _log_summary(paths: Iterable[Path]) -> dict[str, int]:
    """Warnings and errors in the process logs, by event name; tracebacks counted apart."""
    counts: Counter[str] = Counter()
    for path in paths:
        for event in _events(path):
            level = str(event.get("level", "")).lower()
            if level in ("warning", "error", "critical", "exception"):
                name = (str(event.get("event")).strip().splitlines() or [""])[0][:90]
                counts[f"{level}: {name}"] += 1
        with contextlib.suppress(OSError):
            counts["tracebacks"] += path.read_text(errors="replace").count("Traceback (most")
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


_KEYS = ("file", "chunk", "sha256", "task_id", "state", "error", "reason", "returncode")


def _compact(line: str) -> str:
    """A JSON log line as ``time level event key=value...``; other lines as they are."""
    if not line.startswith("{"):
        return line[:300]
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return line[:300]
    parts = [
        str(event.get("timestamp", ""))[11:23],
        str(event.get("level", "")),
        (str(event.get("event", "")).strip().splitlines() or [""])[0][:120],
    ]
    for key in _KEYS:
        if event.get(key) is not None:
            value = str(event[key]).splitlines()[0] if str(event[key]) else ""
            short = value[:12] if key in ("sha256", "task_id") else value[:160]
            parts.append(f"{key}={short}")
    if "exception" in event:
        last = str(event["exception"]).strip().splitlines()[-1:]
        parts.append(f"exception={last[0][:200] if last else ''}")
    return " ".join(parts)


def _mentions(paths: Iterable[Path], *needles: str | None, limit: int = 25) -> list[str]:
    """The log lines (compacted, with their log's name) that mention any of ``needles``."""
    wanted = [n for n in needles if n]
    found: list[tuple[str, str]] = []
    for path in paths:
        with contextlib.suppress(OSError):
            for line in path.read_text(errors="replace").splitlines():
                if any(n in line for n in wanted):
                    compact = _compact(line)
                    found.append((compact.split(" ", 1)[0], f"  {path.stem}: {compact}"))
    found.sort(key=lambda item: item[0])  # by time of day (lines without one first)
    return [text for _, text in found[-limit:]] or ["  (none)"]


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "  (no log)"
    return "\n".join(f"  {_compact(line)}" for line in text[-lines:]) or "  (empty)"


# --- the store, read from outside -----------------------------------------------------------------


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("NEWSINGEST_")}
    return {**base, **extra}


def cli_json(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> Any:
    """Run ``python -m worker ARGS`` and parse its output: JSON, or JSON lines for ``articles``."""
    done = subprocess.run(
        [sys.executable, "-m", "worker", *args],
        cwd=cwd,
        env=_clean_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise HarnessError(
            f"`newsingest {' '.join(args)}` exited with {done.returncode}:\n{done.stderr[-3000:]}"
        )
    if args[0] == "articles":
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return json.loads(done.stdout)


def _open_store(url: str) -> Any:
    from worker.store import Store

    return Store.from_url(url)


def ledger_rows(store: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every file row and chunk row of the ledger (for checks and diagnostics)."""
    from sqlalchemy import text

    with store.engine.connect() as conn:
        file_rows = [dict(r) for r in conn.execute(text("SELECT * FROM files")).mappings()]
        try:
            chunk_rows = [dict(r) for r in conn.execute(text("SELECT * FROM chunks")).mappings()]
        except Exception:
            chunk_rows = []
    return file_rows, chunk_rows


@dataclass
class Progress:
    states: dict[str, int]
    inbox: list[str]
    work: list[str]
    error: str | None = None

    def done(self, distinct: int) -> bool:
        if self.error is not None or self.inbox or self.work:
            return False
        open_rows = sum(n for s, n in self.states.items() if s not in TERMINAL)
        return open_rows == 0 and sum(self.states.get(s, 0) for s in TERMINAL) >= distinct

    def describe(self) -> str:
        if self.error:
            return f"store unreadable: {self.error}"
        return f"ledger {self.states}, inbox {len(self.inbox)} files, work/ {len(self.work)} files"


def _files_under(folder: Path) -> list[str]:
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir())


def progress(store: Any, inbox: Path, work: Path) -> Progress:
    leftovers = _files_under(inbox), _files_under(work)
    try:
        states = dict(store.status()["files"])
    except Exception as exc:
        with contextlib.suppress(Exception):
            store.engine.dispose()
        return Progress({}, *leftovers, error=f"{type(exc).__name__}: {exc}"[:300])
    return Progress(states, *leftovers)


# --- comparison -----------------------------------------------------------------------------------


@dataclass
class Mismatches:
    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.doubled or self.stuck or self.wrong)


def groups_of(records: list[dict[str, Any]]) -> set[frozenset[str]]:
    """The near-duplicate groups: each canonical record with the records linked to it."""
    members: dict[str, set[str]] = defaultdict(set)
    for record in records:
        members[record.get("duplicate_of") or record["id"]].add(record["id"])
    return {frozenset(ids) for ids in members.values()}


def _short(ids: Iterable[str]) -> str:
    return "{" + ", ".join(sorted(i[:10] for i in ids)) + "}"


def _original_name(stored: str, names: set[str]) -> str | None:
    """The input name of a file in processed/ or failed/ (a clash adds ``.<sha12>``)."""
    if stored in names:
        return stored
    untagged = re.sub(r"\.[0-9a-f]{12}(?=\.[^.]*$|$)", "", stored, count=1)
    return untagged if untagged in names else None


def compare(
    reference: list[dict[str, Any]],
    got: list[dict[str, Any]],
    inputs: list[InputFile],
    *,
    inbox: Path,
    data_dir: Path,
    status: dict[str, Any] | None,
    cli_status: dict[str, Any] | None,
    ledger: list[dict[str, Any]] | None,
) -> Mismatches:
    """What differs between the calm reference and the chaos run's store and folders."""
    found = Mismatches()
    names_by_sha: dict[str, set[str]] = defaultdict(set)
    for item in inputs:
        names_by_sha[item.sha256].add(item.name)
    all_names = {item.name for item in inputs}

    # records: the same ids, no id twice, the same content
    ref_by_id = {r["id"]: r for r in reference}
    got_ids = Counter(r["id"] for r in got)
    got_by_id = {r["id"]: r for r in got}
    found.lost += [
        f"record {i[:12]} ({ref_by_id[i]['title'][:50]!r})"
        for i in ref_by_id.keys() - got_ids.keys()
    ]
    found.doubled += [f"record {i[:12]} listed {n} times" for i, n in got_ids.items() if n > 1]
    found.wrong += [
        f"record {i[:12]} ({got_by_id[i]['title'][:50]!r}) is not in the reference"
        for i in got_ids.keys() - ref_by_id.keys()
    ]
    for record_id in sorted(ref_by_id.keys() & got_ids.keys()):
        want, have = ref_by_id[record_id], got_by_id[record_id]
        differ = [f for f in CONTENT_FIELDS if want.get(f) != have.get(f)]
        if differ:
            found.wrong.append(f"record {record_id[:12]}: {', '.join(differ)} differ")

    # near-duplicate groups: the same sets of ids; every link points at a canonical record
    want_groups, have_groups = groups_of(reference), groups_of(got)
    for group in sorted(want_groups - have_groups, key=sorted):
        found.wrong.append(f"reference group {_short(group)} is not a group in the store")
    for group in sorted(have_groups - want_groups, key=sorted):
        found.wrong.append(f"stored group {_short(group)} is not a group in the reference")
    canonical = {r["id"] for r in got if not r.get("duplicate_of")}
    for record in got:
        target = record.get("duplicate_of")
        if target and target not in canonical:
            found.wrong.append(
                f"record {record['id'][:12]} is a duplicate of {target[:12]}, not a canonical one"
            )

    # sources: by content (sha256, index, line); a name the bytes were dropped under; none twice
    def places(record: dict[str, Any]) -> Counter[tuple[str, int, int]]:
        return Counter((s["sha256"], s["index"], s["line"]) for s in record.get("sources") or [])

    for record_id, record in sorted(got_by_id.items()):
        have = places(record)
        for place, count in have.items():
            if count > 1:
                found.doubled.append(
                    f"record {record_id[:12]}: source {place[0][:12]} #{place[1]} line {place[2]}"
                    f" stored {count} times"
                )
        for source in record.get("sources") or []:
            if source["file"] not in names_by_sha.get(source["sha256"], set()):
                found.wrong.append(
                    f"record {record_id[:12]}: source file {source['file']!r} was never dropped"
                    f" with bytes {source['sha256'][:12]}"
                )
        if record_id in ref_by_id:
            want = places(ref_by_id[record_id])
            for place in want.keys() - have.keys():
                found.lost.append(
                    f"record {record_id[:12]}: source {place[0][:12]} #{place[1]} line {place[2]}"
                )
            for place in have.keys() - want.keys():
                found.wrong.append(
                    f"record {record_id[:12]}: source {place[0][:12]} #{place[1]} line {place[2]}"
                    " is not in the reference"
                )

    # files: each input exactly once in processed/ or failed/, bytes intact; failed/ empty
    processed = data_dir / "processed"
    failed = data_dir / "failed"
    seen: dict[str, list[str]] = defaultdict(list)
    for folder in (processed, failed):
        for stored in _files_under(folder):
            if stored.endswith(".error.json"):
                continue
            original = _original_name(stored, all_names)
            if original is None:
                found.wrong.append(f"{folder.name}/{stored} is no input file")
                continue
            seen[original].append(f"{folder.name}/{stored}")
            data = (folder / stored).read_bytes()
            expected = next(i for i in inputs if i.name == original)
            if data != expected.data:
                found.wrong.append(f"{folder.name}/{stored}: bytes differ from the input")
    for name in sorted(all_names):
        places_of = seen.get(name, [])
        if not places_of:
            found.lost.append(f"input file {name} is in neither processed/ nor failed/")
        elif len(places_of) > 1:
            found.doubled.append(f"input file {name} is there {len(places_of)} times: {places_of}")
    found.wrong += [f"failed/{name} (valid input)" for name in _files_under(failed)]
    found.stuck += [f"inbox/{name}" for name in _files_under(inbox)]
    found.stuck += [f"work/{name}" for name in _files_under(data_dir / "work")]

    # the ledger: one done row per distinct content, under one of its names; counts agree
    distinct = len(names_by_sha)
    if status is None:
        found.stuck.append("the store's status could not be read")
    else:
        states = status.get("files", {})
        for state, count in states.items():
            if state not in TERMINAL and count:
                found.stuck.append(f"ledger: {count} files {state}")
        if states.get("done", 0) != distinct:
            found.wrong.append(f"ledger: {states.get('done', 0)} files done, {distinct} contents")
        duplicate_drops = len(inputs) - distinct
        if status.get("duplicate_files") != duplicate_drops:
            found.wrong.append(
                f"ledger: {status.get('duplicate_files')} duplicate files, "
                f"{duplicate_drops} drops of bytes seen before"
            )
        want_counts = {
            "articles": sum(1 for r in reference if not r.get("duplicate_of")),
            "near_duplicates": sum(1 for r in reference if r.get("duplicate_of")),
            "exact_duplicates": sum(len(r["sources"]) for r in reference) - len(reference),
        }
        for key, want_count in want_counts.items():
            if status.get(key) != want_count:
                found.wrong.append(f"status {key}: {status.get(key)}, reference {want_count}")
        if cli_status is not None and cli_status.get("files") != states:
            found.wrong.append(
                f"`status --json` files {cli_status.get('files')} != Store.status() {states}"
            )
    if ledger is not None:
        rows = {row["sha256"]: row for row in ledger}
        for sha256, names in sorted(names_by_sha.items()):
            row = rows.get(sha256)
            if row is None:
                found.lost.append(f"ledger: no row for {sorted(names)} ({sha256[:12]})")
            elif row.get("state") not in TERMINAL:
                found.stuck.append(
                    f"ledger: {row.get('name')} ({sha256[:12]}) is {row.get('state')}, "
                    f"attempts {row.get('attempts')}"
                )
            elif row.get("name") not in names:
                found.wrong.append(f"ledger: {sha256[:12]} named {row.get('name')!r}")
        for sha256 in rows.keys() - names_by_sha.keys():
            found.wrong.append(f"ledger: a row for {sha256[:12]} ({rows[sha256].get('name')})")
    return found


# --- the report -----------------------------------------------------------------------------------


@dataclass
class ChaosReport:
    seed: int
    topology: str
    files: int
    distinct_contents: int
    duration: float
    faults: dict[str, int] = field(default_factory=dict)
    fault_log: list[str] = field(default_factory=list)
    unplanned_exits: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    records_expected: int = 0
    records_compared: int = 0
    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    seconds_after_last_fault: float | None = None
    seconds_total: float = 0.0
    timed_out: bool = False
    log_summary: dict[str, int] = field(default_factory=dict)
    diagnostics: str = ""
    workdir: str = ""

    @property
    def ok(self) -> bool:
        return not (self.lost or self.doubled or self.stuck or self.wrong)

    def line(self) -> str:
        faults = ",".join(f"{k}={v}" for k, v in sorted(self.faults.items())) or "none"
        after = (
            "not done"
            if self.timed_out
            else "n/a"
            if self.seconds_after_last_fault is None
            else f"{self.seconds_after_last_fault:.1f}s"
        )
        return (
            f"seed {self.seed:>3} {self.topology:<14} faults {sum(self.faults.values()):>2} "
            f"[{faults}] records {self.records_compared}/{self.records_expected} "
            f"lost {len(self.lost)} doubled {len(self.doubled)} stuck {len(self.stuck)} "
            f"wrong {len(self.wrong)} done {after} after last fault "
            f"{'OK' if self.ok else 'FAIL'}"
        )

    def render(self, limit: int = 25) -> str:
        out = [self.line(), f"workdir: {self.workdir}"]
        out.append(f"inputs: {self.files} files, {self.distinct_contents} distinct contents")
        out.append("faults:")
        out += [f"  {entry}" for entry in self.fault_log] or ["  none"]
        if self.unplanned_exits:
            out.append(
                "processes that exited on their own or would not stop (supervisor restarted them):"
            )
            out += [f"  {entry}" for entry in self.unplanned_exits]
        if self.leftovers:
            out.append("processes left running after their parent exited (killed at the end):")
            out += [f"  {entry}" for entry in self.leftovers]
        for name in ("lost", "doubled", "stuck", "wrong"):
            items = getattr(self, name)
            if items:
                out.append(f"{name} ({len(items)}):")
                out += [f"  {item}" for item in items[:limit]]
                if len(items) > limit:
                    out.append(f"  ... and {len(items) - limit} more")
        if self.log_summary:
            out.append("warnings and errors in the logs:")
            out += [f"  {count:>5}  {name}" for name, count in self.log_summary.items()]
        if self.diagnostics:
            out.append(self.diagnostics)
        return "\n".join(out)


# --- topologies -----------------------------------------------------------------------------------


class _Topology:
    faults: tuple[str, ...] = ()

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.inbox = workdir / "inbox"
        self.data_dir = workdir / "data"
        self.cluster: Cluster

    @property
    def env(self) -> dict[str, str]:
        raise NotImplementedError

    @property
    def store_url(self) -> str:
        raise NotImplementedError

    def ready(self, timeout: float) -> None:
        raise NotImplementedError

    def inject(self, kind: str, rng: random.Random, clock: float) -> str | None:
        raise NotImplementedError

    def close(self) -> None:
        with contextlib.suppress(AttributeError):
            self.cluster.kill_everything()

    def server_logs(self) -> str:
        return ""


def _wait_ready(process: NewsingestProcess, event: str, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while sum(e.get("event") == event for e in _events(process.log_path)) < count:
        if process.process.poll() is not None:
            raise HarnessError(
                f"{process.log_path.name} exited with {process.process.returncode} before "
                f"{event}:\n{_tail(process.log_path, 30)}"
            )
        if time.monotonic() > deadline:
            raise HarnessError(
                f"no {count}x {event} in {process.log_path.name} after {timeout}s:\n"
                f"{_tail(process.log_path, 30)}"
            )
        time.sleep(0.2)


class RedisPostgres(_Topology):
    """``watch`` + two ``worker --concurrency 2`` on a throwaway Redis and PostgreSQL."""

    faults = FAULTS["redis-postgres"]

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.redis = ThrowawayRedis()
        try:
            self.postgres = ThrowawayPostgres()
        except BaseException:
            self.redis.close()
            raise
        try:
            self.redis.start()
            self.postgres.start()
            self.cluster = Cluster(
                workdir,
                self.env,
                [
                    Slot("watch", ["watch"]),
                    Slot("worker-a", ["worker", "--concurrency", "2"]),
                    Slot("worker-b", ["worker", "--concurrency", "2"]),
                ],
            )
            self.cluster.start_all()
        except BaseException:
            self.close()  # no server or process outlives a failed start
            raise

    @property
    def env(self) -> dict[str, str]:
        return {
            **SETTINGS,
            "NEWSINGEST_BROKER_URL": self.redis.url,
            "NEWSINGEST_STORE_URL": self.postgres.url,
            "NEWSINGEST_INBOX": str(self.inbox),
            "NEWSINGEST_DATA_DIR": str(self.data_dir),
        }

    @property
    def store_url(self) -> str:
        return self.postgres.url

    def ready(self, timeout: float) -> None:
        slots = self.cluster.slots
        _wait_ready(slots["watch"].current, "watch.started", 1, timeout)  # type: ignore[arg-type]
        for role in ("worker-a", "worker-b"):
            _wait_ready(slots[role].current, "worker.process_ready", 2, timeout)  # type: ignore[arg-type]

    def inject(self, kind: str, rng: random.Random, clock: float) -> str | None:
        slots = self.cluster.slots
        workers = [slots["worker-a"], slots["worker-b"]]
        if kind == "kill_worker":
            return self.cluster.kill_main(rng.choice(workers))
        if kind == "kill_child":
            return _kill_a_child(rng, [(s, children(s.current.process.pid)) for s in workers])  # type: ignore[union-attr]
        if kind == "kill_watcher":
            return self.cluster.kill_tree(slots["watch"])
        if kind == "term_worker":
            return self.cluster.terminate(rng.choice(workers), True, 60, clock)
        if kind == "restart_redis":
            down = round(rng.uniform(0, 2), 1)
            self.redis.restart(down)
            return f"redis :{self.redis.port}, down {down}s"
        if kind == "restart_postgres":
            down = round(rng.uniform(0, 2), 1)
            self.postgres.restart(down)
            return f"postgres :{self.postgres.port}, down {down}s"
        raise ValueError(kind)

    def close(self) -> None:
        super().close()
        self.redis.close()
        self.postgres.close()

    def server_logs(self) -> str:
        return (
            f"redis log (tail):\n{self.redis.log_tail(10)}\n"
            f"postgres log (tail):\n{self.postgres.log_tail(20)}"
        )


class Embedded(_Topology):
    """``python -m worker run --concurrency 2``: watcher + Celery worker on SQLite."""

    faults = FAULTS["embedded"]

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.cluster = Cluster(workdir, self.env, [Slot("run", ["run", "--concurrency", "2"])])
        self.cluster.start_all()

    @property
    def env(self) -> dict[str, str]:
        return {
            **SETTINGS,
            "NEWSINGEST_INBOX": str(self.inbox),
            "NEWSINGEST_DATA_DIR": str(self.data_dir),
        }

    @property
    def store_url(self) -> str:
        return f"sqlite:///{self.data_dir / 'newsingest.sqlite'}"

    def ready(self, timeout: float) -> None:
        run = self.cluster.slots["run"].current
        _wait_ready(run, "watch.started", 1, timeout)  # type: ignore[arg-type]
        _wait_ready(run, "worker.process_ready", 2, timeout)  # type: ignore[arg-type]

    def inject(self, kind: str, rng: random.Random, clock: float) -> str | None:
        slot = self.cluster.slots["run"]
        if kind == "kill_child":
            mains = children(slot.current.process.pid)  # type: ignore[union-attr]
            return _kill_a_child(rng, [(slot, [c for m in mains for c in children(m)])])
        if kind == "kill_run":
            return self.cluster.kill_tree(slot)
        if kind == "term_run":
            return self.cluster.terminate(slot, False, 60, clock)
        raise ValueError(kind)


def _kill_a_child(rng: random.Random, candidates: list[tuple[Slot, list[int]]]) -> str | None:
    candidates = [(slot, pids) for slot, pids in candidates if pids]
    if not candidates:
        return None
    slot, pids = rng.choice(candidates)
    pid = rng.choice(pids)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 2
    while _alive(pid) and time.monotonic() < deadline:  # not counted twice by the next fault
        time.sleep(0.01)
    name = slot.current.log_path.stem if slot.current else slot.role
    return f"pool child {pid} of {name}"


TOPOLOGY_CLASSES: dict[str, type[_Topology]] = {
    "redis-postgres": RedisPostgres,
    "embedded": Embedded,
}


# --- the run --------------------------------------------------------------------------------------


def _ago(now: float, value: Any) -> str:
    return "-" if value is None else f"{value - now:+.1f}s"


def _row_line(row: dict[str, Any], now: float) -> str:
    """One ledger row (file or chunk) with its times relative to now, whatever its columns."""
    parts = [row["sha256"][:12]]
    if "number" in row:
        parts.append(f"#{row['number']}")
    if row.get("name"):
        parts.insert(0, str(row["name"]))
    for key in ("state", "attempts", "sends", "task_id"):
        if key in row:
            parts.append(f"{key}={row[key]}")
    for key in ("lease_until", "enqueued_at", "next_send_at", "updated_at"):
        if key in row:
            parts.append(f"{key}={_ago(now, row[key])}")
    return "  " + " ".join(parts)


def _ago(now: float, value: Any) -> str:
    return "-" if value is None else f"{value - now:+.1f}s"


def _row_line(row: dict[str, Any], now: float) -> str:
    """One ledger row (file or chunk) with its times relative to now, whatever its columns."""
    parts = [row["sha256"][:12]]
    if "number" in row:
        parts.append(f"#{row['number']}")
    if row.get("name"):
        parts.insert(0, str(row["name"]))
    for key in ("state", "attempts", "sends", "task_id"):
        if key in row:
            parts.append(f"{key}={row[key]}")
    for key in ("lease_until", "enqueued_at", "next_send_at", "updated_at"):
        if key in row:
            parts.append(f"{key}={_ago(now, row[key])}")
    return "  " + " ".join(parts)


def _stack_dump(path: Path, limit: int = 80) -> list[str]:
    """The thread stacks faulthandler wrote into this log on SIGABRT, if any."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    starts = [n for n, line in enumerate(text) if line.startswith("Fatal Python error: Aborted")]
    if not starts:
        return []
    dump = [line for line in text[starts[-1] :] if not line.startswith("{")]
    return [f"  {line[:200]}" for line in dump[:limit]]


@dataclass
class _LogMark:
    """A log as it was before the harness asked for stacks: its size and its age."""

    size: int
    quiet: float
    returncode: int | None


def _mark_logs(processes: Iterable[NewsingestProcess]) -> dict[Path, _LogMark]:
    marks = {}
    now = time.time()
    for process in processes:
        with contextlib.suppress(OSError):
            stat = process.log_path.stat()
            code = process.process.poll()
            marks[process.log_path] = _LogMark(stat.st_size, now - stat.st_mtime, code)
    return marks


def _read_from(path: Path, start: int, end: int | None = None) -> list[str]:
    try:
        with path.open("rb") as handle:
            handle.seek(start)
            data = handle.read() if end is None else handle.read(max(0, end - start))
    except OSError:
        return []
    return data.decode(errors="replace").splitlines()


def _split_dumps(lines: Iterable[str]) -> list[list[str]]:
    """faulthandler's dumps, one per process, from lines that may hold several."""
    dumps: list[list[str]] = []
    for line in lines:
        if line.startswith("Fatal Python error"):
            dumps.append([])
        if dumps and line.strip() and not line.startswith("Extension modules:"):
            dumps[-1].append(line)
    return [_current_thread_first(dump) for dump in dumps]


def _current_thread_first(dump: list[str]) -> list[str]:
    """The thread that was running (where a process is stuck) before the others."""
    head: list[str] = []
    blocks: list[list[str]] = []
    for line in dump:
        if line.startswith(("Thread 0x", "Current thread")):
            blocks.append([])
        (blocks[-1] if blocks else head).append(line)
    current = [b for b in blocks if b[0].startswith("Current thread")]
    others = [b for b in blocks if not b[0].startswith("Current thread")]
    return head + [line for block in current + others for line in block]


def _diagnostics(
    topology: _Topology,
    store: Any,
    lines: int = 15,
    marks: dict[Path, _LogMark] | None = None,
) -> str:
    """The ledger rows that are not done (times relative to now), the log lines about them,
    what is left in the folders, each process's log tail; with ``marks`` (the wait timed out,
    every live process was then asked for its thread stacks), the tail before the ask and the
    stacks after it."""
    out = []
    now = time.time()
    logs = [p.log_path for p in topology.cluster.all_processes()]
    try:
        file_rows, chunk_rows = ledger_rows(store)
        open_files = [r for r in file_rows if r.get("state") not in TERMINAL]
        out.append(f"ledger: {len(file_rows)} file rows, {len(open_files)} not done:")
        out += [_row_line(row, now) for row in open_files[:30]]
        open_chunks = [c for c in chunk_rows if c.get("state") != "stored"]
        if open_chunks:
            out.append(f"chunks not stored ({len(open_chunks)}):")
            out += [_row_line(row, now) for row in open_chunks[:30]]
        for row in open_files[:5]:
            out.append(f"log lines about {row.get('name')} ({row['sha256'][:12]}):")
            out += _mentions(logs, row["sha256"], row.get("task_id"), limit=25)
    except Exception as exc:
        out.append(f"ledger unreadable: {type(exc).__name__}: {exc}")
    for folder, label in ((topology.inbox, "inbox"), (topology.data_dir / "work", "work/")):
        left = _files_under(folder)
        if left:
            out.append(f"{label}: {left[:20]}{' ...' if len(left) > 20 else ''}")
    for process in topology.cluster.all_processes():
        path = process.log_path
        mark = (marks or {}).get(path)
        code = process.process.poll() if mark is None else mark.returncode
        state = "running" if code is None else f"exited {code}"
        if mark is not None:
            state += f", its last log line {mark.quiet:.0f}s before the time-out"
        text = _read_from(path, 0, mark.size if mark else None)
        out.append(f"--- {path.name} ({state}), last {lines} lines:")
        out += [f"  {_compact(line)}" for line in text[-lines:]] or ["  (empty)"]
        stacks = _read_from(path, mark.size) if mark else []
        dumps = _split_dumps(line for line in stacks if not line.startswith("{"))
        if dumps:
            out.append(
                f"--- {path.name}: thread stacks when the wait timed out "
                f"({len(dumps)} processes wrote to this log):"
            )
            for dump in dumps[:8]:
                out += [f"  {line[:200]}" for line in dump[:60]]
                if len(dump) > 60:
                    out.append(f"  ... {len(dump) - 60} more lines")
    server = topology.server_logs()
    if server:
        out.append(server)
    return "\n".join(out)


def run(
    seed: int,
    files: int = 200,
    duration: float = 60.0,
    topology: Topology = "redis-postgres",
    *,
    workdir: Path | None = None,
    settle_timeout: float | None = None,
    fault_every: tuple[float, float] = (2.0, 5.0),
    faults: bool = True,
    linger: float = LEASE_SECONDS + 3,
    after_drops: Callable[[Path], None] | None = None,
    before_compare: Callable[[_Topology], None] | None = None,
    keep: bool = False,
    echo: Callable[[str], None] | None = None,
) -> ChaosReport:
    """One chaos run; see the module docstring. ``faults=False`` is a calm run of the same
    topology. ``after_drops(inbox)`` and ``before_compare(topology)`` (it has ``store_url``,
    ``inbox``, ``data_dir``) let a test plant a bug to show that the harness catches it. A work
    folder of our own is removed unless ``keep`` or the run failed; ``echo`` gets progress
    lines."""
    say = echo or (lambda _: None)
    started = time.monotonic()
    owned = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix=f"newsingest-chaos-{seed}-")) if owned else workdir
    workdir.mkdir(parents=True, exist_ok=True)
    drop_window = duration * 0.7
    inputs = make_inputs(seed, files, drop_window)
    distinct = len({item.sha256 for item in inputs})
    report = ChaosReport(seed, topology, len(inputs), distinct, duration, workdir=str(workdir))
    settle_timeout = settle_timeout if settle_timeout is not None else 120 + files * 0.5

    say(f"reference: one-shot ingest of {len(inputs)} files")
    ref_env = {k: SETTINGS[k] for k in RECORD_SETTINGS}
    code, reference = oneshot_records(
        workdir / "reference", {i.name: i.data for i in inputs}, ref_env
    )
    if code != 0:
        again = subprocess.run(
            [sys.executable, "-m", "worker", "ingest", *sorted(i.name for i in inputs)],
            cwd=workdir / "reference",
            env=_clean_env(ref_env),
            capture_output=True,
            text=True,
        )
        raise HarnessError(
            f"the reference `newsingest ingest` in {workdir / 'reference'} exited with {code}"
            f" (the code under test is broken, or the inputs are invalid):\n"
            f"{again.stdout[-2000:]}\n{again.stderr[-3000:]}"
        )
    report.records_expected = len(reference)

    rng = random.Random(f"faults-{seed}")
    cls = TOPOLOGY_CLASSES[topology]
    for folder in ("inbox", "data"):
        (workdir / folder).mkdir(exist_ok=True)
    chaos: _Topology | None = None
    store = None
    try:
        chaos = cls(workdir)
        chaos.ready(timeout=120)
        say(f"{topology}: processes ready, dropping files and injecting faults for {duration}s")
        # (seconds after t0, order, what, payload, tries): drops and faults in one timeline
        schedule: list[tuple[float, int, str, Any, int]] = [
            (item.at, n, "drop", item, 0) for n, item in enumerate(inputs)
        ]
        if faults:
            kinds: list[str] = []
            at = rng.uniform(*fault_every) / 2
            while at < duration:
                if not kinds:  # every kind once before any is repeated
                    kinds = rng.sample(cls.faults, len(cls.faults))
                schedule.append((at, len(schedule), "fault", kinds.pop(), 0))
                at += rng.uniform(*fault_every)
        heapq.heapify(schedule)
        injected: Counter[str] = Counter()
        last_fault: float | None = None
        t0 = time.monotonic()
        while schedule:
            at, order, what, payload, tries = heapq.heappop(schedule)
            while time.monotonic() - t0 < at:
                chaos.cluster.supervise(time.monotonic())
                time.sleep(0.05)
            clock = time.monotonic()
            if what == "drop":
                drop(chaos.inbox, payload)
                continue
            if last_fault is not None and clock - last_fault < 1.0:
                # faults that waited for a target come one a second, not in a burst
                heapq.heappush(schedule, (clock - t0 + 1.0, order, what, payload, tries))
                continue
            try:
                detail = chaos.inject(payload, rng, clock)
            except Exception as exc:  # a fault that could not be injected is a harness problem
                raise HarnessError(f"injecting {payload} failed: {exc}") from exc
            stamp = f"{clock - t0:6.1f}s {payload}"
            if detail is None:
                # nothing to hit yet (a replacement still starting its pool): try again soon
                if tries < 60:
                    heapq.heappush(schedule, (at + 0.5, order, what, payload, tries + 1))
                else:
                    report.fault_log.append(f"{stamp}: skipped, nothing to hit for 30 s")
                continue
            injected[payload] += 1
            last_fault = time.monotonic()
            report.fault_log.append(f"{stamp}: {detail}")
            say(f"fault {stamp}: {detail}")
        report.faults = dict(injected)
        if after_drops is not None:
            after_drops(chaos.inbox)

        say("faults over: waiting until every file is done")
        store = _open_store(chaos.store_url)
        calm_since = last_fault if last_fault is not None else t0
        deadline = time.monotonic() + settle_timeout
        state = progress(store, chaos.inbox, chaos.data_dir / "work")
        while True:
            chaos.cluster.supervise(time.monotonic())
            state = progress(store, chaos.inbox, chaos.data_dir / "work")
            if state.done(distinct):
                seconds = round(time.monotonic() - calm_since, 1)
                if last_fault is not None:
                    report.seconds_after_last_fault = seconds
                say(f"done, {seconds}s after the last fault (or the start); lingering {linger}s")
                end_linger = time.monotonic() + linger
                while time.monotonic() < end_linger:
                    chaos.cluster.supervise(time.monotonic())
                    time.sleep(0.2)
                state = progress(store, chaos.inbox, chaos.data_dir / "work")
                if state.done(distinct):
                    break
                say(f"not done any more after lingering: {state.describe()}")
            if time.monotonic() > deadline:
                report.timed_out = True
                report.stuck.append(
                    f"timed out after {settle_timeout:.0f}s waiting for every file to be done: "
                    f"{state.describe()}"
                )
                say(report.stuck[-1])
                break
            time.sleep(0.5)

        if before_compare is not None:
            before_compare(chaos)
        status = None
        with contextlib.suppress(Exception):
            status = store.status()
        ledger = None
        try:
            ledger = ledger_rows(store)[0]
        except Exception as exc:
            report.wrong.append(f"ledger rows unreadable: {exc}")
        try:
            cli_status = cli_json(["status", "--json"], chaos.env, workdir)
        except Exception as exc:
            cli_status = None
            report.wrong.append(f"`status --json` failed: {str(exc)[:500]}")
        got = cli_json(["articles", "--all"], chaos.env, workdir)
        report.records_compared = len(got)
        found = compare(
            reference,
            got,
            inputs,
            inbox=chaos.inbox,
            data_dir=chaos.data_dir,
            status=status,
            cli_status=cli_status,
            ledger=ledger,
        )
        report.lost += found.lost
        report.doubled += found.doubled
        report.stuck += found.stuck
        report.wrong += found.wrong
        report.unplanned_exits = chaos.cluster.unplanned_exits
        report.leftovers = chaos.cluster.leftovers()
        report.log_summary = _log_summary(p.log_path for p in chaos.cluster.all_processes())
        if not report.ok:
            marks = None
            if report.timed_out:
                # where is each live process stuck? faulthandler writes every thread's stack to
                # its log on SIGABRT (PYTHONFAULTHANDLER=1); the run is over, they may die
                marks = _mark_logs(chaos.cluster.all_processes())
                chaos.cluster.signal_all(signal.SIGABRT)
                time.sleep(1.5)
            report.diagnostics = _diagnostics(chaos, store, marks=marks)
    finally:
        if chaos is not None:
            chaos.close()
        if store is not None:
            with contextlib.suppress(Exception):
                store.close()
        report.seconds_total = round(time.monotonic() - started, 1)
    with contextlib.suppress(OSError):
        (workdir / "report.txt").write_text(report.render(limit=1000) + "\n")
    if owned and report.ok and not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return report


def parse_seeds(text: str) -> list[int]:
    """``"1-10"``, ``"1,2,5"``, ``"1-3,7"`` -> the seeds."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part[1:]:
            low, high = part.split("-", 1)
            seeds += range(int(low), int(high) + 1)
        else:
            seeds.append(int(part))
    return seeds


__all__ = [
    "FAULTS",
    "TOPOLOGIES",
    "ChaosReport",
    "HarnessError",
    "InputFile",
    "Mismatches",
    "ServerUnavailable",
    "compare",
    "groups_of",
    "make_inputs",
    "parse_seeds",
    "run",
]
