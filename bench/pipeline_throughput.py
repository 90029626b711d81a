"""End-to-end throughput and latency of the running pipeline, through real ``newsingest`` processes.

Two set-ups, side by side, in one run:

``embedded``
    ``newsingest run --concurrency 2`` on the defaults: SQLite broker and SQLite store under a
    temporary ``data_dir``, nothing else needed.
``Redis+PostgreSQL``
    ``newsingest watch`` plus one ``newsingest worker --concurrency 2`` on a fresh Redis database
    number (claimed like the tests do, flushed afterwards) and a fresh PostgreSQL schema (dropped
    afterwards). Skipped with the reason when Redis or PostgreSQL does not answer.

For each: start the processes and wait until every worker process has logged
``worker.process_ready`` (and the watcher ``watch.started``); then copy every sample ``*.txt``
into the inbox at once (plain copies, as ``cp`` does, the small seed dump first) and measure the
time from the first copy until ``Store.status()["files"]["done"]`` counts them all (polled every
50 ms). That gives articles/s and files/s. It includes the watcher's settle time
(``NEWSINGEST_SETTLE_SECONDS=0.5``) where a file is not seen closed after writing.

Latency: the time from the seed dump's drop to its ``file.done`` log event, once under load (dropped
with all the others) and once idle (a variant of the seed, one byte longer so that it is new work,
dropped after everything else is done).

``task s`` is the sum of the per-file ``file.done`` durations: work done by the worker processes;
compared with the wall time it shows how well the files spread over the workers.

The children get a clean environment: no ``NEWSINGEST_*`` variable of the caller leaks in, only
those set here (inbox, data_dir, settle_seconds, log_format=json, and the broker and store URLs for
Redis+PostgreSQL), and ``NEWSINGEST_CONFIG`` points nowhere. The processes are stopped with SIGINT
at the end. With ``--repeat N`` each set-up runs N times from scratch and the fastest run is shown.

``--files`` takes only these sample files, ``--enrichers`` sets ``NEWSINGEST_ENRICHERS`` of the
processes (a JSON list or comma-separated; default: all eight). ``--ingest-baseline`` also measures,
in the same run, a single-process ``ingest`` of the same files with the same enrichers and store
kind (``bench/ingest_throughput.py``'s SQLite or PostgreSQL stage, in its own process, start-up not
timed): the ideal for 2 workers is twice its rate. ``--json PATH`` also writes the figures for
``bench/run_all.py``: each set-up's articles/s beside 2 x that single-process rate (with
``--ingest-baseline``; without it, no baseline).

Run::

    .venv/bin/python bench/pipeline_throughput.py
    .venv/bin/python bench/pipeline_throughput.py --only embedded --keep-logs /tmp/bench-logs
    .venv/bin/python bench/pipeline_throughput.py --ingest-baseline --json figures.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from _common import (
    DEFAULT_POSTGRES_URL,
    DEFAULT_REDIS_URL,
    DEFAULT_SAMPLES,
    MB,
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

T = TypeVar("T")
CONCURRENCY = 2
SETTLE_SECONDS = "0.5"
POLL_SECONDS = 0.05


# --- processes (like tests/integration/procs.py, copied: bench must not import tests) -----------


class Process:
    """A ``newsingest`` command in its own session; its output (JSON log lines) goes to a file."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str], name: str) -> None:
        self.name = name
        self.log_path = cwd / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "worker", *args],
            cwd=cwd,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # our signals, and a Ctrl-C of ours, reach only what we send
        )

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        found = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if name is None or event.get("event") == name:
                    found.append(event)
        return found

    def wait_for(self, event: str, count: int = 1, timeout: float = 120) -> list[dict[str, Any]]:
        def enough() -> list[dict[str, Any]] | None:
            if self.process.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{self.name} exited ({self.process.returncode}):\n{tail}")
            events = self.events(event)
            return events if len(events) >= count else None

        return wait_until(enough, timeout, f"{count} x {event} in {self.log_path.name}")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 90) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            code = self.process.wait()
        self._log.close()
        return code


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
def running(processes: list[Process]) -> Iterator[list[Process]]:
    try:
        yield processes
    finally:
        for process in processes:  # the watcher first: nothing new is queued while workers stop
            code = process.stop()
            if code not in (0, -signal.SIGINT, -signal.SIGTERM, 130, 143):
                print(f"  note: {process.name} exited with {code} (log: {process.log_path})")


# --- one measurement ----------------------------------------------------------------------------


@dataclass
class Result:
    mode: str
    files: int
    articles: int
    size: int
    seconds: float
    task_seconds: float
    seed_latency_loaded: float | None
    seed_latency_idle: float | None
    failed: int
    startup_seconds: float


def _timestamp(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()


def _done_events(processes: list[Process]) -> list[dict[str, Any]]:
    return [e for p in processes for e in p.events("file.done")]


def _done_at(processes: list[Process], name: str) -> float | None:
    events = [e for e in _done_events(processes) if Path(str(e.get("file", ""))).name == name]
    return _timestamp(events[0]) if events else None


def measure(
    mode: str,
    folder: Path,
    files: list[Path],
    extra_env: dict[str, str],
    timeout: float,
) -> Result:
    from worker.settings import Settings
    from worker.store import Store

    inbox, data_dir = folder / "inbox", folder / "data"
    env = clean_env(
        NEWSINGEST_INBOX=str(inbox),
        NEWSINGEST_DATA_DIR=str(data_dir),
        NEWSINGEST_SETTLE_SECONDS=SETTLE_SECONDS,
        NEWSINGEST_LOG_FORMAT="json",
        **extra_env,
    )
    concurrency = ["--concurrency", str(CONCURRENCY)]
    started = time.perf_counter()
    if mode == "embedded":
        processes = [Process(["run", *concurrency], folder, env, "run")]
        watcher = workers = processes[0]
    else:
        watcher = Process(["watch"], folder, env, "watch")
        workers = Process(["worker", *concurrency], folder, env, "worker")
        processes = [watcher, workers]

    with running(processes):
        watcher.wait_for("watch.started")
        workers.wait_for("worker.process_ready", count=CONCURRENCY)
        startup = time.perf_counter() - started
        store_url = extra_env.get("NEWSINGEST_STORE_URL")
        settings = Settings(inbox=inbox, data_dir=data_dir, store_url=store_url)
        store = Store.from_url(settings.resolved_store_url)
        try:
            # Under load: every sample at once, the seed first.
            seed = files[0]
            drop_wall = time.time()
            first_copy = time.perf_counter()
            for path in files:
                shutil.copyfile(path, inbox / path.name)

            def settled() -> dict[str, int] | None:
                counts = store.status()["files"]
                return counts if counts["done"] + counts["failed"] >= len(files) else None

            counts = wait_until(settled, timeout, f"{len(files)} files done")
            seconds = time.perf_counter() - first_copy
            # file.done is logged just after the ledger says done: wait for the last lines
            wait_until(
                lambda: len(_done_events(processes)) >= counts["done"] or None,
                30,
                "the file.done log events",
            )
            done_events = _done_events(processes)
            seed_done = _done_at(processes, seed.name)

            # Idle: a one-byte-longer seed, so that it is new work and not a duplicate file.
            idle_name = f"idle-{seed.name}"
            idle_drop = time.time()
            (inbox / idle_name).write_bytes(seed.read_bytes() + b"\n")
            wait_until(lambda: _done_at(processes, idle_name), 60, f"file.done of {idle_name}")
            idle_done = _done_at(processes, idle_name)
        finally:
            store.close()

    return Result(
        mode=mode,
        files=len(files),
        articles=sum(int(e.get("found") or 0) for e in done_events),
        size=sum(p.stat().st_size for p in files),
        seconds=seconds,
        task_seconds=sum(float(e.get("duration_ms") or 0) for e in done_events) / 1000,
        seed_latency_loaded=None if seed_done is None else seed_done - drop_wall,
        seed_latency_idle=None if idle_done is None else idle_done - idle_drop,
        failed=counts["failed"],
        startup_seconds=startup,
    )


# --- the driver -------------------------------------------------------------------------------


def _measure_fresh(mode: str, files: list[Path], args: argparse.Namespace, attempt: int) -> Result:
    """One run from scratch: a new temporary folder, Redis database and PostgreSQL schema."""
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="nsbench-")))
        extra_env: dict[str, str] = {}
        if args.enrichers:
            extra_env["NEWSINGEST_ENRICHERS"] = json.dumps(args.enrichers)
        if mode == "redis-postgres":
            extra_env["NEWSINGEST_BROKER_URL"] = stack.enter_context(redis_database(args.redis_url))
            extra_env["NEWSINGEST_STORE_URL"] = stack.enter_context(
                postgres_schema(args.postgres_url)
            )
        try:
            return measure(mode, folder, files, extra_env, args.timeout)
        finally:
            if args.keep_logs:
                target = args.keep_logs / f"{mode}-{attempt}"
                target.mkdir(parents=True, exist_ok=True)
                for log in folder.glob("*.log"):
                    shutil.copy(log, target / log.name)


def ingest_baseline(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    """A single-process ``ingest`` of the same files: ingest_throughput.py's SQLite stage for the
    embedded set-up, its PostgreSQL stage for Redis+PostgreSQL; one JSON line back."""
    from ingest_throughput import stage_command

    stage = "sqlite" if mode == "embedded" else "postgres"
    options = argparse.Namespace(
        samples=args.samples.resolve(),
        repeat=1,
        postgres_url=args.postgres_url,
        enrichers=json.dumps(args.enrichers) if args.enrichers else None,
        files=args.files,
    )
    with tempfile.TemporaryFile() as log:
        done = subprocess.run(
            stage_command(stage, options), env=clean_env(), stdout=subprocess.PIPE, stderr=log
        )
        if done.returncode != 0:
            log.seek(0)
            tail = log.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"the ingest baseline ({stage}) failed:\n{tail}")
    result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return result


def figures(
    results: list[Result],
    baselines: dict[str, dict[str, Any]],
    skipped: list[tuple[str, str]],
    enrichers: list[str] | None,
) -> list[Figure]:
    """For run_all: each set-up's articles/s beside 2 x a single-process ingest's."""
    used = "all eight enrichers" if enrichers is None else f"enrichers {','.join(enrichers)}"
    found = []
    for r in results:
        base = baselines.get(r.mode)
        found.append(
            Figure(
                bench="pipeline_throughput",
                name=f"end to end, {CONCURRENCY} workers, {r.mode}",
                value=r.articles / r.seconds,
                unit="articles/s",
                baseline_name=f"{CONCURRENCY} x single-process ingest" if base else None,
                baseline_value=CONCURRENCY * base["articles"] / base["seconds"] if base else None,
                note=f"{r.articles:,} articles in {r.files} files, {used}",
            )
        )
    for label, reason in skipped:
        name = f"end to end, {CONCURRENCY} workers, {label}"
        found.append(Figure("pipeline_throughput", name, None, "articles/s", note=reason))
    return found


def _row(r: Result) -> list[str]:
    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    return [
        r.mode,
        str(r.files),
        f"{r.articles:,}",
        f"{r.seconds:.2f}",
        f"{r.articles / r.seconds:,.0f}",
        f"{r.files / r.seconds:.2f}",
        f"{r.size / MB / r.seconds:.2f}",
        f"{r.task_seconds:.2f}",
        seconds(r.seed_latency_loaded),
        seconds(r.seed_latency_idle),
        f"{r.startup_seconds:.1f}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=Path, default=DEFAULT_SAMPLES, help="folder of dumps")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="Redis server, no db")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL, help="PostgreSQL server")
    parser.add_argument(
        "--only", choices=["embedded", "redis-postgres"], help="run one set-up only"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per set-up; best is shown")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for the run")
    parser.add_argument("--keep-logs", type=Path, help="copy the processes' logs here")
    parser.add_argument("--files", nargs="+", help="only these files of the samples folder")
    parser.add_argument(
        "--enrichers", help="enrichers to run: a JSON list or comma-separated (default: all)"
    )
    parser.add_argument(
        "--ingest-baseline",
        action="store_true",
        help=f"also time a single-process ingest of the same files ({CONCURRENCY}x: the ideal)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.enrichers:
        from ingest_throughput import parse_enrichers

        args.enrichers = parse_enrichers(args.enrichers)
    # Our own Settings (to find the store) must not pick up the caller's NEWSINGEST_* either.
    scrubbed = clean_env()
    os.environ.clear()
    os.environ.update(scrubbed)

    print("\n".join(machine_lines()))
    files = sample_files(args.samples.resolve())
    missing: list[str] = []
    by_name: dict[str, Path] = {}
    if args.files:
        by_name = {p.name: p for p in files}
        missing = [name for name in args.files if name not in by_name]
        files = [] if missing else sorted(by_name[name] for name in args.files)
    if not files:
        some = bool(missing) and bool(by_name)  # the folder has samples, but not those
        where = f"{', '.join(missing)} not" if some else "no sample dumps (*.txt)"
        print(f"skipped: {where} in {args.samples.resolve()}")
        if args.json is not None:
            reason = f"skipped: {where} in {args.samples.resolve()}"
            write_figures(args.json, figures([], {}, [("all set-ups", reason)], args.enrichers))
        return 0
    size = sum(p.stat().st_size for p in files)
    print(f"samples : {len(files)} files, {size / MB:.1f} MB in {args.samples.resolve()}")
    print(f"workers : {CONCURRENCY} processes; settle_seconds {SETTLE_SECONDS}")
    if args.enrichers:
        print(f"enrichers: {','.join(args.enrichers)}")
    print()

    results: list[Result] = []
    baselines: dict[str, dict[str, Any]] = {}
    skipped: list[tuple[str, str]] = []
    modes = [args.only] if args.only else ["embedded", "redis-postgres"]
    for mode in modes:
        label = "embedded (run)" if mode == "embedded" else "Redis+PostgreSQL"
        if mode == "redis-postgres":
            reason = redis_unreachable(args.redis_url) or postgres_unreachable(args.postgres_url)
            if reason:
                skipped.append((label, reason))
                continue
        best: Result | None = None
        for attempt in range(1, max(1, args.repeat) + 1):
            print(f"measuring {label} (run {attempt}) ...", flush=True)
            result = _measure_fresh(mode, files, args, attempt)
            result.mode = label
            if best is None or result.seconds < best.seconds:
                best = result
        if best is not None:
            results.append(best)
            if args.ingest_baseline:
                print(f"measuring a single-process ingest for {label} ...", flush=True)
                baselines[label] = ingest_baseline(mode, args)

    print()
    header = [
        "set-up",
        "files",
        "articles",
        "seconds",
        "articles/s",
        "files/s",
        "MB/s",
        "task s",
        "seed latency loaded",
        "seed latency idle",
        "start-up s",
    ]
    rows = [_row(r) for r in results]
    rows += [[label, "skipped", *[""] * (len(header) - 2)] for label, _ in skipped]
    print(table(header, rows))
    print()
    for r in results:
        if r.failed:
            print(f"{r.mode}: {r.failed} file(s) failed")
    for label, reason in skipped:
        print(f"{label}: skipped: {reason}")
    for r in results:
        if r.mode in baselines:
            base = baselines[r.mode]
            single = base["articles"] / base["seconds"]
            ideal = CONCURRENCY * single
            print(
                f"{r.mode}: {r.articles / r.seconds:,.0f} articles/s = "
                f"{r.articles / r.seconds / ideal:.2f}x of {CONCURRENCY} x single-process ingest "
                f"({single:,.0f} articles/s, {base['articles']:,} articles in "
                f"{base['seconds']:.2f} s, {STAGE_LABELS[base['stage']]})"
            )
    if args.json is not None:
        write_figures(args.json, figures(results, baselines, skipped, args.enrichers))
    return 0


STAGE_LABELS = {"sqlite": "embedded SQLite", "postgres": "PostgreSQL"}


if __name__ == "__main__":
    sys.exit(main())
