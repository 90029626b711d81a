"""Throughput of the one-shot ingest path over the real sample dumps, stage by stage.

What is measured, over every ``*.txt`` file of the samples folder, each row against the one above:

``read bytes``
    the baseline: reading the files (``Path.read_bytes``; page cache warm after the first repeat).
``parse only``
    ``worker.parse.parse_dump``: decode (encoding detection, ftfy, NFC) and parse, bytes in memory.
``parse+enrich``
    ``worker.pipeline.build_records``: parse, the configured enrichers, ids; no store.
``ingest embedded (SQLite)``
    the real ``newsingest ingest`` path: ``Resources.build`` then ``FileDriver.ingest`` per file,
    on a fresh SQLite store in a temporary folder (store creation not timed).
``ingest PostgreSQL``
    the same on a fresh PostgreSQL schema, dropped afterwards; skipped with the reason if no
    PostgreSQL answers.

Each row runs in a fresh Python process (this script with ``--stage``), so that ``peak RSS`` is the
high-water mark of that stage alone (``VmHWM``: interpreter, the ``worker`` package and the stage).
Logging is configured as the CLI does (JSON lines, INFO) and goes to a file. With ``--repeat N``
each row runs N times (a fresh store each time) and the best time is kept.

Run::

    .venv/bin/python bench/ingest_throughput.py                   # all samples, once
    .venv/bin/python bench/ingest_throughput.py --repeat 3
    .venv/bin/python bench/ingest_throughput.py --samples DIR --postgres-url postgresql+psycopg://...
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    DEFAULT_POSTGRES_URL,
    DEFAULT_SAMPLES,
    MB,
    clean_env,
    machine_lines,
    peak_rss_mb,
    postgres_schema,
    postgres_unreachable,
    sample_files,
    table,
)

STAGES: dict[str, str] = {
    "read": "read bytes",
    "parse": "parse only",
    "enrich": "parse+enrich",
    "sqlite": "ingest embedded (SQLite)",
    "postgres": "ingest PostgreSQL",
}


# --- one stage, in a child process --------------------------------------------------------------


def _settings(folder: Path, store_url: str | None = None) -> Any:
    from worker.settings import Settings

    return Settings(
        inbox=folder / "inbox",
        data_dir=folder / "data",
        store_url=store_url,
        log_format="json",
        log_level="INFO",
    )


def _ingest(files: list[Path], folder: Path, store_url: str | None) -> tuple[float, int, dict]:
    from worker.driver import FileDriver
    from worker.pipeline import Resources

    resources = Resources.build(_settings(folder, store_url))
    try:
        driver = FileDriver(resources)
        started = time.perf_counter()
        summaries = [driver.ingest(path) for path in files]
        seconds = time.perf_counter() - started
        status = resources.store.status()
    finally:
        resources.store.close()
    failed = [s.file for s in summaries if s.state == "failed"]
    extra = {
        "new": sum(s.new for s in summaries),
        "duplicates": sum(s.duplicates for s in summaries),
        "failed_files": failed,
        "stored_articles": status["articles"],
    }
    return seconds, sum(s.found for s in summaries), extra


def run_stage(stage: str, files: list[Path], repeat: int, postgres_url: str) -> dict[str, Any]:
    from worker.log import configure_logging
    from worker.parse import parse_dump
    from worker.pipeline import build_records

    configure_logging("json", "INFO")
    rss_imported = peak_rss_mb()
    size = sum(p.stat().st_size for p in files)
    best = float("inf")
    articles = 0
    extra: dict[str, Any] = {}
    for _ in range(repeat):
        if stage == "read":
            started = time.perf_counter()
            size = sum(len(p.read_bytes()) for p in files)
            seconds = time.perf_counter() - started
        elif stage == "parse":
            data = [p.read_bytes() for p in files]
            started = time.perf_counter()
            articles = sum(len(parse_dump(d).articles) for d in data)
            seconds = time.perf_counter() - started
        elif stage == "enrich":
            from worker.enrich import build_pipeline

            with tempfile.TemporaryDirectory() as tmp:
                enrich = build_pipeline(_settings(Path(tmp)))
            data = [p.read_bytes() for p in files]
            hashes = [hashlib.sha256(d).hexdigest() for d in data]
            started = time.perf_counter()
            articles = 0
            for path, d, sha in zip(files, data, hashes, strict=True):
                records = build_records(d, sha, path.name, enrich)[0]
                articles += sum(len(r.sources) for r in records)
            seconds = time.perf_counter() - started
        elif stage == "sqlite":
            with tempfile.TemporaryDirectory(prefix="newsingest-bench-") as tmp:
                seconds, articles, extra = _ingest(files, Path(tmp), None)
        elif stage == "postgres":
            with (
                tempfile.TemporaryDirectory(prefix="newsingest-bench-") as tmp,
                postgres_schema(postgres_url) as url,
            ):
                seconds, articles, extra = _ingest(files, Path(tmp), url)
        else:
            raise SystemExit(f"unknown stage {stage}")
        best = min(best, seconds)
    return {
        "stage": stage,
        "seconds": best,
        "articles": articles if stage != "read" else None,
        "bytes": size,
        "peak_rss_mb": peak_rss_mb(),
        "rss_after_imports_mb": rss_imported,
        **extra,
    }


# --- the driver -------------------------------------------------------------------------------


def _child(stage: str, args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    log_path = log_dir / f"{stage}.log"
    with log_path.open("wb") as log:
        result = subprocess.run(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--stage",
                stage,
                "--samples",
                str(args.samples),
                "--repeat",
                str(args.repeat),
                "--postgres-url",
                args.postgres_url,
            ],
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=log,
            check=False,
        )
    if result.returncode != 0:
        tail = log_path.read_text(errors="replace")[-2000:]
        raise SystemExit(f"stage {stage} failed (exit {result.returncode}):\n{tail}")
    return json.loads(result.stdout.decode().strip().splitlines()[-1])


def _row(label: str, r: dict[str, Any]) -> list[str]:
    seconds = r["seconds"]
    articles = r["articles"]
    return [
        label,
        f"{seconds:.3f}",
        "-" if articles is None else f"{articles:,}",
        "-" if articles is None else f"{articles / seconds:,.0f}",
        f"{r['bytes'] / MB / seconds:,.1f}",
        f"{r['peak_rss_mb']:,.0f} MB",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=Path, default=DEFAULT_SAMPLES, help="folder of dumps")
    parser.add_argument("--repeat", type=int, default=1, help="runs per row; the best is kept")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL, help="PostgreSQL server")
    parser.add_argument("--stage", choices=sorted(STAGES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.samples = args.samples.resolve()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    files = sample_files(args.samples)
    if args.stage:  # child mode: one stage, one JSON line on stdout
        print(json.dumps(run_stage(args.stage, files, args.repeat, args.postgres_url)))
        return 0

    print("\n".join(machine_lines()))
    if not files:
        print(f"skipped: no sample dumps (*.txt) in {args.samples}")
        return 0
    size = sum(p.stat().st_size for p in files)
    print(f"samples : {len(files)} files, {size / MB:.1f} MB in {args.samples}")
    print(f"repeat  : {args.repeat} (best of)")
    print()

    results: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    pg_reason = postgres_unreachable(args.postgres_url)
    with tempfile.TemporaryDirectory(prefix="newsingest-bench-logs-") as logs:
        for stage in STAGES:
            if stage == "postgres" and pg_reason:
                skipped[stage] = pg_reason
                continue
            results[stage] = _child(stage, args, Path(logs))

    header = ["stage", "seconds", "articles", "articles/s", "MB/s", "peak RSS"]
    rows = [_row(STAGES[s], r) for s, r in results.items()]
    rows += [[STAGES[s], "skipped", "", "", "", ""] for s in skipped]
    print(table(header, rows))
    print()
    base = results["read"]["rss_after_imports_mb"]
    print(f"peak RSS: per stage, in its own process; ~{base:.0f} MB of it is Python + imports")
    for stage in ("sqlite", "postgres"):
        if stage in results:
            r = results[stage]
            print(
                f"{STAGES[stage]}: {r['new']:,} new records, {r['duplicates']:,} duplicates, "
                f"{r['stored_articles']:,} articles in the store, "
                f"failed files: {r['failed_files'] or 'none'}"
            )
    for stage, reason in skipped.items():
        print(f"{STAGES[stage]}: skipped: {reason}")
    if "parse" in results and "sqlite" in results:
        parse, ingest = results["parse"]["seconds"], results["sqlite"]["seconds"]
        print(f"parse share of embedded ingest time: {parse / ingest:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
