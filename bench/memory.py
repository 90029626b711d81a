"""Memory of the worker's process tree (PSS), and how soon its pool processes are ready.

Three set-ups on the embedded defaults (SQLite broker and store under a temporary ``data_dir``):

``worker -c 1`` and ``worker -c 2``
    ``newsingest worker --concurrency N`` alone: its main process and its pool processes. A
    ``newsingest watch`` with the same environment feeds it the work file, but is not measured.
``run -c 2``
    ``newsingest run --concurrency 2``: the whole tree (``run``, which is the watcher, the worker's
    main process and its two pool processes).

Each is measured twice, from scratch: with ``NEWSINGEST_PRELOAD_ENRICHERS=false`` (the baseline:
every pool process builds its own enrichers, spaCy model and gazetteer) and on the default (the
figure: the worker's main process builds them once before its pool forks, and the children share
them copy-on-write).

Memory is PSS, the sum of ``Pss:`` of ``/proc/PID/smaps_rollup`` over the tree: a page shared by
N processes counts 1/N in each, so the sum is what the tree costs together. For each run: start,
wait until every pool process has logged ``worker.process_ready`` and Celery its ``ready.``, then
measure (a) the seconds from our start of the process to the last ``worker.process_ready``, and
from the fork of the first pool process (its start time in ``/proc/PID/stat``) to that same
event; (b) PSS idle: the tree, the main process, each pool process; then rename a work file into
the inbox (``bbc-tech.txt``, 400 articles, from the samples; with ``--smoke`` or without it the
seed dump ``000_*.txt``; without samples a built-in one-article dump), wait for its ``file.done``
and measure (c) PSS after that work. "Extra PSS per additional child" is PSS(worker -c 2) -
PSS(worker -c 1). No figure is asserted: the targets are printed beside them.

The children get a clean environment (no ``NEWSINGEST_*`` of the caller; ``NEWSINGEST_CONFIG``
points nowhere), are stopped with SIGINT at the end, and their process groups are killed when this
script exits, however it exits.

Run::

    .venv/bin/python bench/memory.py                 # bbc-tech.txt as the work file
    .venv/bin/python bench/memory.py --smoke         # the seed dump: about a minute
    .venv/bin/python bench/memory.py --only worker-2 --keep-logs /tmp/memory-logs
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from _common import (
    DEFAULT_SAMPLES,
    Figure,
    clean_env,
    machine_lines,
    process_tree,
    pss_mb,
    sample_files,
    table,
    write_figures,
)
from _procs import (
    Event,
    Process,
    children,
    install_cleanup,
    one_article_dump,
    running,
    seed_articles,
    started_after,
    wait_until,
)

BENCH = "memory"
SETUPS = {"worker-1": ("worker", 1), "worker-2": ("worker", 2), "run-2": ("run", 2)}
SETTLE_SECONDS = 0.5  # after Celery's "ready." / the file's file.done, before reading PSS
TARGET_EXTRA_PER_CHILD_MB = 120.0
TARGET_WORKER_2_MB = 600.0
TARGET_RUN_2_MB = 700.0
TARGET_FORK_TO_READY_S = 1.0
WORK_FILE = "bbc-tech.txt"


@dataclass
class Pss:
    """PSS in MB of a tree at one moment: all of it, its top process, the worker's main process
    (the same as ``main`` for ``worker``) and each pool process."""

    total: float
    main: float
    worker_main: float
    children: list[float]

    @property
    def per_child(self) -> float | None:
        return sum(self.children) / len(self.children) if self.children else None


@dataclass
class Result:
    setup: str
    preload: bool
    concurrency: int
    ready_seconds: float  # our start of the process → the last worker.process_ready
    fork_to_ready: float | None  # the first pool process's fork → the last worker.process_ready
    idle: Pss
    after: Pss | None  # None: the work file failed or was not done in time
    articles: int | None
    work_seconds: float | None
    notes: list[str] = field(default_factory=list)


def measure_pss(top: int, worker_main: int, pool: list[int]) -> Pss:
    return Pss(
        total=pss_mb(process_tree(top)),
        main=pss_mb([top]),
        worker_main=pss_mb([worker_main]),
        children=[pss_mb([pid]) for pid in pool],
    )


def celery_ready(process: Process) -> list[Event] | None:
    found = [
        e
        for e in process.events()
        if e.get("logger") == "celery.apps.worker" and e.name.endswith(" ready.")
    ]
    return found or None


def measure(
    setup: str, preload: bool, folder: Path, work: tuple[str, bytes], args: argparse.Namespace
) -> Result:
    command, concurrency = SETUPS[setup]
    inbox, staging, data_dir = folder / "inbox", folder / "staging", folder / "data"
    for path in (inbox, staging, data_dir):
        path.mkdir()
    extra = {} if preload else {"NEWSINGEST_PRELOAD_ENRICHERS": "false"}
    env = clean_env(
        NEWSINGEST_INBOX=str(inbox),
        NEWSINGEST_DATA_DIR=str(data_dir),
        NEWSINGEST_LOG_FORMAT="json",
        **extra,
    )
    notes: list[str] = []
    top = Process([command, "--concurrency", str(concurrency)], folder, env, command)
    processes = [top]
    with running(processes, notes):
        ready = top.wait_for("worker.process_ready", count=concurrency, timeout=args.timeout)
        ready_at = max(e.timestamp for e in ready)
        worker_main = top.pid
        if command == "run":
            worker_main = int(top.wait_for("run.started")[0].get("worker_pid"))
        wait_until(lambda: celery_ready(top), 60, f"Celery's ready. in {top.name}.log")
        time.sleep(SETTLE_SECONDS)
        pool = children(worker_main)
        if len(pool) != concurrency:
            notes.append(f"{len(pool)} pool processes, not {concurrency}: {pool}")
        forks = [s for s in (started_after(pid, top.pid) for pid in pool) if s is not None]
        fork_to_ready = ready_at - (top.started_at + min(forks)) if forks else None
        idle = measure_pss(top.pid, worker_main, pool)

        if command == "run":
            top.wait_for("watch.started")
            watcher = top
        else:  # the worker alone needs a watcher to be given work; it is not measured
            watcher = Process(["watch"], folder, env, "watch")
            processes.insert(0, watcher)  # stopped first
            watcher.wait_for("watch.started", timeout=120)
        name, data = work
        (staging / name).write_bytes(data)
        dropped = time.time()
        os.rename(staging / name, inbox / name)

        digest = hashlib.sha256(data).hexdigest()

        def outcome() -> list[Event] | None:
            found = top.outcome(name, digest)
            if found is None and top.process.poll() is not None:
                raise RuntimeError(f"{top.name} exited:\n{top.tail()}")
            return None if found is None else [found]

        event = wait_until(outcome, args.timeout, f"file.done of {name}")[0]
        after: Pss | None = None
        articles = work_seconds = None
        if event.name == "file.done":
            time.sleep(SETTLE_SECONDS)
            after = measure_pss(top.pid, worker_main, children(worker_main))
            articles = int(event.get("found") or 0)
            work_seconds = event.timestamp - dropped
        else:
            notes.append(f"{name} failed: {event.get('code')}: {event.get('message')}")
    return Result(
        setup,
        preload,
        concurrency,
        ready_at - top.started_at,
        fork_to_ready,
        idle,
        after,
        articles,
        work_seconds,
        notes,
    )


def measure_fresh(
    setup: str, preload: bool, work: tuple[str, bytes], args: argparse.Namespace
) -> Result:
    with tempfile.TemporaryDirectory(prefix="nsbench-memory-") as name:
        folder = Path(name)
        try:
            return measure(setup, preload, folder, work, args)
        finally:
            if args.keep_logs:
                target = args.keep_logs / f"{setup}-{'preload' if preload else 'no-preload'}"
                target.mkdir(parents=True, exist_ok=True)
                for log in folder.glob("*.log"):
                    shutil.copy(log, target / log.name)


# --- report --------------------------------------------------------------------------------------


def mb(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def label(setup: str) -> str:
    command, concurrency = SETUPS[setup]
    return f"{command} -c {concurrency}"


def find(results: list[Result], setup: str, preload: bool) -> Result | None:
    return next((r for r in results if r.setup == setup and r.preload == preload), None)


def extra_per_child(results: list[Result], preload: bool, after: bool) -> float | None:
    one, two = find(results, "worker-1", preload), find(results, "worker-2", preload)
    if one is None or two is None:
        return None
    a, b = (one.after, two.after) if after else (one.idle, two.idle)
    return None if a is None or b is None else b.total - a.total


def report(results: list[Result]) -> None:
    header = [
        "set-up",
        "preload",
        "start→ready s",
        "fork→ready s",
        "idle total",
        "idle main",
        "idle worker main",
        "idle per child",
        "after total",
        "after main",
        "after worker main",
        "after per child",
        "work s",
    ]
    rows = []
    for r in results:
        after = r.after
        rows.append(
            [
                label(r.setup),
                "yes" if r.preload else "no (baseline)",
                f"{r.ready_seconds:.1f}",
                "-" if r.fork_to_ready is None else f"{r.fork_to_ready:.2f}",
                mb(r.idle.total),
                mb(r.idle.main),
                mb(r.idle.worker_main) if r.setup.startswith("run") else "=",
                "/".join(mb(c) for c in r.idle.children) or "-",
                mb(after and after.total),
                mb(after and after.main),
                mb(after and after.worker_main) if r.setup.startswith("run") else "=",
                "/".join(mb(c) for c in after.children) if after else "-",
                "-" if r.work_seconds is None else f"{r.work_seconds:.1f}",
            ]
        )
    print("PSS in MB; 'per child' lists each pool process; 'after': once the work file is done")
    print(table(header, rows))
    print()
    extra_rows = [
        [
            "extra PSS per additional child (worker -c 2 minus -c 1)",
            mb(extra_per_child(results, True, False)),
            mb(extra_per_child(results, True, True)),
            mb(extra_per_child(results, False, False)),
            mb(extra_per_child(results, False, True)),
        ]
    ]
    print(
        table(["", "preload idle", "preload after", "baseline idle", "baseline after"], extra_rows)
    )
    print(
        f"targets : extra PSS per child < {TARGET_EXTRA_PER_CHILD_MB:.0f} MB; worker -c 2 total"
        f" < {TARGET_WORKER_2_MB:.0f} MB; run -c 2 tree < {TARGET_RUN_2_MB:.0f} MB;"
        f" ready within {TARGET_FORK_TO_READY_S:.0f} s of forking"
    )
    for r in results:
        for note in r.notes:
            print(f"{label(r.setup)}, preload {r.preload}: {note}")


def figures(results: list[Result], work_name: str) -> list[Figure]:
    found: list[Figure] = []
    targets = {"worker-2": TARGET_WORKER_2_MB, "run-2": TARGET_RUN_2_MB}
    for setup in SETUPS:
        figure, baseline = find(results, setup, True), find(results, setup, False)
        if figure is None and baseline is None:
            continue
        name = label(setup)
        target = f"< {targets[setup]:.0f} MB" if setup in targets else None

        def after(r: Result | None) -> float | None:
            return r.after.total if r is not None and r.after is not None else None

        found += [
            Figure(
                BENCH,
                f"{name} PSS after work",
                after(figure),
                "MB",
                f"{name} PSS after work, no preload",
                after(baseline),
                target,
                f"tree PSS once {work_name} is done",
            ),
            Figure(
                BENCH,
                f"{name} PSS idle",
                figure.idle.total if figure else None,
                "MB",
                f"{name} PSS idle, no preload",
                baseline.idle.total if baseline else None,
            ),
            Figure(
                BENCH,
                f"{name} start → ready",
                figure.ready_seconds if figure else None,
                "s",
                f"{name} start → ready, no preload",
                baseline.ready_seconds if baseline else None,
            ),
            Figure(
                BENCH,
                f"{name} fork → ready",
                figure.fork_to_ready if figure else None,
                "s",
                f"{name} fork → ready, no preload",
                baseline.fork_to_ready if baseline else None,
                f"< {TARGET_FORK_TO_READY_S:.0f} s",
            ),
        ]
    for after_work in (False, True):
        found.append(
            Figure(
                BENCH,
                f"extra PSS per additional child ({'after work' if after_work else 'idle'})",
                extra_per_child(results, True, after_work),
                "MB",
                "extra PSS per additional child, no preload",
                extra_per_child(results, False, after_work),
                f"< {TARGET_EXTRA_PER_CHILD_MB:.0f} MB",
                "PSS(worker -c 2) - PSS(worker -c 1)",
            )
        )
    return found


def work_file(args: argparse.Namespace) -> tuple[str, bytes, str]:
    """The file to process: name in the inbox, bytes, and where it came from."""
    files = {p.name: p for p in sample_files(args.samples.resolve())}
    seed = next((p for name, p in sorted(files.items()) if name.startswith("000_")), None)
    if not args.smoke and WORK_FILE in files:
        chosen = files[WORK_FILE]
    elif seed is not None:
        chosen = seed
    else:
        data = one_article_dump(seed_articles(None), 0, f"memory {uuid.uuid4().hex[:8]}")
        return "bench-memory.txt", data, "built-in one-article dump"
    return chosen.name, chosen.read_bytes(), str(chosen)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=Path, default=DEFAULT_SAMPLES, help="folder of dumps")
    parser.add_argument("--smoke", action="store_true", help="the seed dump as the work file")
    parser.add_argument(
        "--only", choices=list(SETUPS), action="append", help="this set-up only (repeatable)"
    )
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the NEWSINGEST_PRELOAD_ENRICHERS=false runs",
    )
    parser.add_argument(
        "--timeout", type=float, default=600, help="seconds to wait for start-up or the work"
    )
    parser.add_argument("--keep-logs", type=Path, help="copy the processes' logs here")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    install_cleanup()

    name, data, source = work_file(args)
    print("\n".join(machine_lines()))
    print(f"work    : {source} ({len(data) / 1_000_000:.2f} MB), renamed into the inbox")
    print("memory  : PSS from /proc/PID/smaps_rollup; baseline NEWSINGEST_PRELOAD_ENRICHERS=false")
    print()

    results: list[Result] = []
    for setup in args.only or list(SETUPS):
        for preload in (False, True) if not args.no_baseline else (True,):
            print(f"measuring {label(setup)}, preload {'on' if preload else 'off'} ...", flush=True)
            results.append(measure_fresh(setup, preload, (name, data), args))

    print()
    report(results)
    if args.json:
        write_figures(args.json, figures(results, name))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the processes were stopped on the way out
        print("interrupted", file=sys.stderr)
        sys.exit(130)
