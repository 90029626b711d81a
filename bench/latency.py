"""Latency of one small drop on an idle pipeline: from the rename into the inbox to ``file.done``.

Two set-ups, through real ``newsingest`` processes, one after the other in one run:

``embedded``
    ``newsingest run --concurrency 2`` on the defaults (SQLite broker and store under a temporary
    ``data_dir``).
``redis-postgres``
    ``newsingest watch`` plus ``newsingest worker --concurrency 2`` on a fresh Redis database
    number (flushed afterwards) and a fresh PostgreSQL schema (dropped afterwards). Skipped with
    the reason when Redis or PostgreSQL does not answer.

For each: start the processes and wait for ``watch.started`` and one ``worker.process_ready`` per
pool process. Then, one drop at a time (the next only once the last is done, so the pipeline is
idle each time), write a one-article dump to ``staging/`` (same file system as the inbox) and
``os.rename`` it into the inbox: the standard atomic drop. Latency = the ``timestamp`` of that
file's ``file.done`` event (matched by its ``file`` field, the inbox name) minus ``time.time()``
taken just before the rename (the time we read the line if the event has no timestamp). Reported:
p50, p95 and max over ``--drops`` drops, and the medians of the two halves, rename → the
watcher's ``file.queued`` and ``file.queued`` → ``file.done``. Separately, ``--copies`` plain
copies (``shutil.copyfile`` straight into the inbox, which is what ``cp`` does) on the default
``settle_seconds``: a copy is taken once it is closed and quiet for ¾ of it, so its p50 is what a
user who runs ``cp`` waits.

Baseline, measured in the same run with the same store: the in-process floor. A Python subprocess
builds ``Resources`` and runs ``FileDriver(resources).ingest(path)`` on ``--floor`` fresh
one-article dumps after one warm-up file: the pipeline's own work (read, parse, dedupe, enrich,
store) with no watcher and no broker. When ``file.done`` carries ``timings`` (stage → ms), the
median of each stage is printed per set-up.

The dumps are the articles of the seed sample (``000_*.txt``), in turn, each with a last paragraph
that numbers the drop so that every drop is new work (new bytes, new text); without the samples
folder, a built-in article. The children get a clean environment (no ``NEWSINGEST_*`` of the
caller; ``NEWSINGEST_CONFIG`` points nowhere), and are stopped with SIGINT at the end. No timing
is asserted: targets are printed beside the figures.

Run::

    .venv/bin/python bench/latency.py                  # 50 drops, 10 copies per set-up
    .venv/bin/python bench/latency.py --smoke          # 5 drops, 3 copies: about a minute
    .venv/bin/python bench/latency.py --only embedded --drops 20 --keep-logs /tmp/latency-logs
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from _common import (
    DEFAULT_POSTGRES_URL,
    DEFAULT_REDIS_URL,
    DEFAULT_SAMPLES,
    Figure,
    clean_env,
    machine_lines,
    postgres_schema,
    postgres_unreachable,
    redis_database,
    redis_unreachable,
    sample_files,
    table,
    write_figures,
)
from _procs import (
    Event,
    Process,
    install_cleanup,
    one_article_dump,
    running,
    seed_articles,
    wait_until,
)

BENCH = "latency"
CONCURRENCY = 2
IDLE_PAUSE = 0.2  # after a drop's file.done, before the next: the task's ack and the logs settle
TARGET_P50_MS = 300.0
TARGET_P95_MS = 600.0
MODES = ("embedded", "redis-postgres")
LABELS = {"embedded": "embedded (run)", "redis-postgres": "Redis+PostgreSQL"}

# The in-process floor, run in a subprocess (its own clean environment, like the pipeline's):
# argv = result file, warm-up dump, measured dumps...
FLOOR_CODE = """
import json, sys, time
from pathlib import Path
from worker.driver import FileDriver
from worker.log import configure_logging
from worker.pipeline import Resources
from worker.settings import Settings

configure_logging("json", "WARNING")
resources = Resources.build(Settings())
driver = FileDriver(resources)
results = []
for number, path in enumerate(sys.argv[2:]):
    started = time.perf_counter()
    summary = driver.ingest(Path(path))
    ms = (time.perf_counter() - started) * 1000
    if number:  # the first is the warm-up
        results.append({"ms": ms, "state": summary.state})
resources.store.close()
Path(sys.argv[1]).write_text(json.dumps(results))
"""


@dataclass
class Drop:
    name: str
    latency_ms: float | None  # None: failed (or not done in time)
    queued_ms: float | None = None  # rename → file.queued
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class Result:
    mode: str
    drops: list[Drop]
    copies: list[Drop]
    floor_ms: list[float]
    startup_seconds: float
    notes: list[str] = field(default_factory=list)


# --- statistics ----------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0-1) with linear interpolation between the closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def done_latencies(drops: Sequence[Drop]) -> list[float]:
    return [d.latency_ms for d in drops if d.latency_ms is not None]


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


# --- one set-up ----------------------------------------------------------------------------------


def measure_floor(
    folder: Path, env: dict[str, str], dumps: list[bytes], timeout: float
) -> list[float]:
    """The in-process floor: ``FileDriver.ingest`` of each dump (the first is a warm-up), in ms."""
    where = folder / "floor"
    where.mkdir()
    paths = []
    for number, data in enumerate(dumps):
        path = where / f"floor-{number:03d}.txt"
        path.write_bytes(data)
        paths.append(str(path))
    out = where / "result.json"
    log = folder / "floor.log"
    with log.open("wb") as stderr:
        subprocess.run(
            [sys.executable, "-c", FLOOR_CODE, str(out), *paths],
            cwd=folder,
            env=env,
            stdout=stderr,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=timeout,
        )
    results = json.loads(out.read_text())
    return [float(r["ms"]) for r in results if r["state"] == "done"]


def wait_outcome(workers: Process, name: str, timeout: float) -> Event | None:
    """The ``file.done`` event of inbox file ``name``; None if it failed instead."""

    def outcome() -> tuple[Event | None] | None:
        event = workers.outcome(name)
        if event is not None:
            return (event if event.name == "file.done" else None,)
        if workers.process.poll() is not None:
            raise RuntimeError(f"{workers.name} exited:\n{workers.tail()}")
        return None

    return wait_until(outcome, timeout, f"file.done of {name} in {workers.name}.log")[0]


def drop(
    inbox: Path,
    staging: Path,
    name: str,
    data: bytes,
    watcher: Process,
    workers: Process,
    timeout: float,
    copy: bool,
) -> Drop:
    """One drop, renamed in (or copied in with ``copy``); back once it is done or failed."""
    source = staging / name
    source.write_bytes(data)
    if copy:
        dropped_at = time.time()
        shutil.copyfile(source, inbox / name)
        source.unlink()
    else:
        dropped_at = time.time()
        os.rename(source, inbox / name)
    event = wait_outcome(workers, name, timeout)
    if event is None:
        return Drop(name, None)
    queued = watcher.events("file.queued", file=name)
    raw = event.get("timings")
    return Drop(
        name,
        latency_ms=(event.timestamp - dropped_at) * 1000,
        queued_ms=(queued[0].timestamp - dropped_at) * 1000 if queued else None,
        timings={k: float(v) for k, v in raw.items()} if isinstance(raw, dict) else {},
    )


def measure(mode: str, folder: Path, extra_env: dict[str, str], args: argparse.Namespace) -> Result:
    inbox, staging, data_dir = folder / "inbox", folder / "staging", folder / "data"
    for path in (inbox, staging, data_dir):
        path.mkdir()
    if os.stat(inbox).st_dev != os.stat(staging).st_dev:  # pragma: no cover - same temp folder
        raise RuntimeError("staging/ and the inbox are on different file systems")
    env = clean_env(
        NEWSINGEST_INBOX=str(inbox),
        NEWSINGEST_DATA_DIR=str(data_dir),
        NEWSINGEST_LOG_FORMAT="json",
        **extra_env,
    )
    articles = seed_articles(args.seed)
    tag = f"{mode} {uuid.uuid4().hex[:8]}"
    floor_dumps = [one_article_dump(articles, n, f"{tag} floor") for n in range(args.floor + 1)]
    floor_ms = measure_floor(folder, env, floor_dumps, args.timeout * (args.floor + 1) + 120)

    notes: list[str] = []
    concurrency = ["--concurrency", str(CONCURRENCY)]
    started = time.perf_counter()
    if mode == "embedded":
        processes = [Process(["run", *concurrency], folder, env, "run")]
        watcher = workers = processes[0]
    else:
        watcher = Process(["watch"], folder, env, "watch")
        workers = Process(["worker", *concurrency], folder, env, "worker")
        processes = [watcher, workers]
    with running(processes, notes):
        watcher.wait_for("watch.started", timeout=120)
        workers.wait_for("worker.process_ready", count=CONCURRENCY, timeout=180)
        startup = time.perf_counter() - started
        drops, copies = [], []
        for number in range(args.drops + args.copies):
            copy = number >= args.drops
            name = f"{'copy' if copy else 'drop'}-{number:03d}.txt"
            data = one_article_dump(articles, number, tag)
            outcome = drop(inbox, staging, name, data, watcher, workers, args.timeout, copy)
            (copies if copy else drops).append(outcome)
            time.sleep(IDLE_PAUSE)
    failed = [d.name for d in drops + copies if d.latency_ms is None]
    if failed:
        notes.append(f"failed: {', '.join(failed)} (see {workers.log_path})")
    return Result(mode, drops, copies, floor_ms, startup, notes)


def measure_fresh(mode: str, args: argparse.Namespace) -> Result:
    """One set-up from scratch: a new temporary folder, Redis database and PostgreSQL schema."""
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="nsbench-latency-")))
        extra_env: dict[str, str] = {}
        if mode == "redis-postgres":
            extra_env["NEWSINGEST_BROKER_URL"] = stack.enter_context(redis_database(args.redis_url))
            extra_env["NEWSINGEST_STORE_URL"] = stack.enter_context(
                postgres_schema(args.postgres_url)
            )
        try:
            return measure(mode, folder, extra_env, args)
        finally:
            if args.keep_logs:
                target = args.keep_logs / mode
                target.mkdir(parents=True, exist_ok=True)
                for log in folder.glob("*.log"):
                    shutil.copy(log, target / log.name)


# --- report --------------------------------------------------------------------------------------


def report(results: list[Result], skipped: dict[str, str]) -> None:
    header = [
        "set-up",
        "drops",
        "p50 ms",
        "p95 ms",
        "max ms",
        "→queued p50",
        "queued→done p50",
        "cp drops",
        "cp p50 ms",
        "floor p50 ms",
        "start-up s",
    ]
    rows = []
    for r in results:
        latencies = done_latencies(r.drops)
        queued = [d.queued_ms for d in r.drops if d.queued_ms is not None]
        after = [
            d.latency_ms - d.queued_ms
            for d in r.drops
            if d.latency_ms is not None and d.queued_ms is not None
        ]
        rows.append(
            [
                LABELS[r.mode],
                str(len(latencies)),
                ms(percentile(latencies, 0.5)),
                ms(percentile(latencies, 0.95)),
                ms(max(latencies, default=None)),
                ms(percentile(queued, 0.5)),
                ms(percentile(after, 0.5)),
                str(len(done_latencies(r.copies))),
                ms(percentile(done_latencies(r.copies), 0.5)),
                ms(percentile(r.floor_ms, 0.5)),
                f"{r.startup_seconds:.1f}",
            ]
        )
    rows += [[LABELS[mode], "skipped", *[""] * (len(header) - 2)] for mode in skipped]
    print(table(header, rows))
    print(
        f"targets : rename → file.done p50 < {TARGET_P50_MS:.0f} ms, "
        f"p95 < {TARGET_P95_MS:.0f} ms; floor = in-process FileDriver.ingest, same store"
    )

    stages: list[str] = []
    for r in results:
        for d in r.drops:
            stages += [s for s in d.timings if s not in stages]
    if stages:
        print()
        print("median ms per stage of the renamed drops (file.done timings):")
        stage_rows = []
        for r in results:
            cells = []
            for stage in stages:
                values = [d.timings[stage] for d in r.drops if stage in d.timings]
                cells.append(f"{statistics.median(values):,.1f}" if values else "-")
            stage_rows.append([LABELS[r.mode], *cells])
        print(table(["set-up", *stages], stage_rows))
    for r in results:
        for note in r.notes:
            print(f"{LABELS[r.mode]}: {note}")
    for mode, reason in skipped.items():
        print(f"{LABELS[mode]}: skipped: {reason}")


def figures(results: list[Result], skipped: dict[str, str]) -> list[Figure]:
    found: list[Figure] = []
    for r in results:
        label = r.mode
        latencies = done_latencies(r.drops)
        floor_name = f"in-process ingest p50 ({label})"
        floor = percentile(r.floor_ms, 0.5)
        found += [
            Figure(
                BENCH,
                f"rename → file.done p50 ({label})",
                percentile(latencies, 0.5),
                "ms",
                floor_name,
                floor,
                f"< {TARGET_P50_MS:.0f} ms",
                f"{len(latencies)} one-article drops, idle pipeline",
            ),
            Figure(
                BENCH,
                f"rename → file.done p95 ({label})",
                percentile(latencies, 0.95),
                "ms",
                f"in-process ingest p95 ({label})",
                percentile(r.floor_ms, 0.95),
                f"< {TARGET_P95_MS:.0f} ms",
            ),
            Figure(BENCH, f"rename → file.done max ({label})", max(latencies, default=None), "ms"),
            Figure(
                BENCH,
                f"cp → file.done p50 ({label})",
                percentile(done_latencies(r.copies), 0.5),
                "ms",
                f"rename → file.done p50 ({label})",
                percentile(latencies, 0.5),
                note=f"{len(done_latencies(r.copies))} plain copies, default settle_seconds",
            ),
        ]
    for mode, reason in skipped.items():
        found += [
            Figure(BENCH, f"{what} → file.done {q} ({mode})", None, "ms", note=f"skipped: {reason}")
            for what, q in (("rename", "p50"), ("rename", "p95"), ("rename", "max"), ("cp", "p50"))
        ]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=Path, default=DEFAULT_SAMPLES, help="folder of dumps")
    parser.add_argument("--drops", type=int, help="renamed drops per set-up (50; --smoke: 5)")
    parser.add_argument("--copies", type=int, help="plain copies per set-up (10; --smoke: 3)")
    parser.add_argument("--floor", type=int, help="in-process ingests for the floor (10; 3)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: about a minute")
    parser.add_argument("--only", choices=MODES, help="run one set-up only")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="Redis server, no db")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL, help="PostgreSQL server")
    parser.add_argument("--timeout", type=float, default=60, help="seconds to wait for one drop")
    parser.add_argument("--keep-logs", type=Path, help="copy the processes' logs here")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    small = args.smoke
    args.drops = args.drops if args.drops is not None else (5 if small else 50)
    args.copies = args.copies if args.copies is not None else (3 if small else 10)
    args.floor = args.floor if args.floor is not None else (3 if small else 10)
    install_cleanup()

    seeds = [p for p in sample_files(args.samples.resolve()) if p.name.startswith("000_")]
    args.seed = seeds[0] if seeds else None
    print("\n".join(machine_lines()))
    source = args.seed or "built-in article (no seed sample found)"
    print(f"dumps   : one article each, from {source}, numbered so that each is new work")
    print(
        f"drops   : {args.drops} renamed + {args.copies} copied per set-up, one at a time; "
        f"floor {args.floor} ingests + 1 warm-up"
    )
    print(f"workers : {CONCURRENCY} processes; settle_seconds default")
    print()

    results: list[Result] = []
    skipped: dict[str, str] = {}
    for mode in [args.only] if args.only else MODES:
        if mode == "redis-postgres":
            reason = redis_unreachable(args.redis_url) or postgres_unreachable(args.postgres_url)
            if reason:
                skipped[mode] = reason
                continue
        print(f"measuring {LABELS[mode]} ...", flush=True)
        results.append(measure_fresh(mode, args))

    print()
    report(results, skipped)
    if args.json:
        write_figures(args.json, figures(results, skipped))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the processes were stopped on the way out
        print("interrupted", file=sys.stderr)
        sys.exit(130)
