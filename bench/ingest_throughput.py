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

``growth`` (only with ``--growth N``)
    whether ``ingest`` slows down as the store fills: N synthetic articles (random sentences of
    common English words, none a duplicate or near duplicate of another) in dumps of
    ``--growth-file-articles`` each, ingested one dump after the other through
    ``FileDriver.ingest`` on one fresh SQLite store, each dump timed; after one untimed warm-up
    dump. Reported: the articles/s of the last 10 % of the articles beside that of the first 10 %
    (the target: at least 0.9 times). Needs no samples; run it with the model-free enrichers
    (``--growth-enrichers language,credit,stats,lead``) to see the store rather than spaCy.

Each row runs in a fresh Python process (this script with ``--stage``), so that ``peak RSS`` is the
high-water mark of that stage alone (``VmHWM``: interpreter, the ``worker`` package and the stage).
Logging is configured as the CLI does (JSON lines, INFO) and goes to a file. With ``--repeat N``
each row runs N times (a fresh store each time) and the best time is kept. ``--enrichers`` sets
the enrichers (default: the settings' default, all eight), ``--files`` takes only these sample
files. ``--json PATH`` also writes the figures for ``bench/run_all.py``: ``ingest`` articles/s
(SQLite, PostgreSQL) beside parse+enrich articles/s, and the growth figure.

Run::

    .venv/bin/python bench/ingest_throughput.py                   # all samples, once
    .venv/bin/python bench/ingest_throughput.py --repeat 3
    .venv/bin/python bench/ingest_throughput.py --samples DIR --postgres-url postgresql+psycopg://...
    .venv/bin/python bench/ingest_throughput.py --growth 100000 \
        --growth-enrichers language,credit,stats,lead --json figures.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
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
    Figure,
    clean_env,
    machine_lines,
    peak_rss_mb,
    postgres_schema,
    postgres_unreachable,
    sample_files,
    table,
    write_figures,
)

STAGES: dict[str, str] = {
    "read": "read bytes",
    "parse": "parse only",
    "enrich": "parse+enrich",
    "sqlite": "ingest embedded (SQLite)",
    "postgres": "ingest PostgreSQL",
}
GROWTH_TARGET = 0.9  # the last 10 % of a run at >= 0.9 x the first 10 %
_GROWTH_TEXT = (
    "the of and to in a is that for it as was with be by on not he this are or his from at which "
    "but have an they you were her she there had been one all we their has would when if who will "
    "more no out so said what up its about into than them can only other new some could time "
    "these two may then do first any my now such like our over man me even most made after also "
    "did many before must through back years where much your way well down should because each "
    "just those people how too little state good very make world still own see men work long get "
    "here between both life being under never day same another know while last might us great "
    "old year off come since against go came right used take three market bank company "
    "government minister party election economy growth prices shares film music game team player "
    "season report police court city country week month official talks plan deal sales profit"
)
GROWTH_WORDS = tuple(_GROWTH_TEXT.split())


# --- one stage, in a child process --------------------------------------------------------------


def parse_enrichers(value: str | None) -> list[str] | None:
    """``--enrichers``: a JSON list (as ``NEWSINGEST_ENRICHERS`` takes) or comma-separated names."""
    if not value:
        return None
    if value.lstrip().startswith("["):
        return [str(name) for name in json.loads(value)]
    return [name.strip() for name in value.split(",") if name.strip()]


def _settings(
    folder: Path, store_url: str | None = None, enrichers: list[str] | None = None
) -> Any:
    from worker.settings import Settings

    extra: dict[str, Any] = {} if enrichers is None else {"enrichers": enrichers}
    return Settings(
        inbox=folder / "inbox",
        data_dir=folder / "data",
        store_url=store_url,
        log_format="json",
        log_level="INFO",
        **extra,
    )


def _ingest(
    files: list[Path], folder: Path, store_url: str | None, enrichers: list[str] | None = None
) -> tuple[float, int, dict]:
    from worker.driver import FileDriver
    from worker.pipeline import Resources

    resources = Resources.build(_settings(folder, store_url, enrichers))
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


def _growth_dump(rng: random.Random, articles: int) -> bytes:
    """A dump of ``articles`` synthetic articles: a title, then 4-9 paragraphs of random sentences.

    Random text over a few hundred words: two articles share no 5-word shingle but by chance,
    so every one is new (no exact or near duplicate), which is the growth of a real store."""

    def sentence() -> str:
        words = rng.choices(GROWTH_WORDS, k=rng.randint(8, 20))
        return " ".join(words).capitalize() + "."

    blocks = []
    for _ in range(articles):
        title = " ".join(rng.choices(GROWTH_WORDS, k=rng.randint(5, 9))).capitalize()
        paragraphs = [" ".join(sentence() for _ in range(rng.randint(2, 4))) for _ in range(9)]
        blocks.append("\n\n".join([title, *paragraphs[: rng.randint(4, 9)]]))
    return ("\n\n\n\n".join(blocks) + "\n").encode()


def run_growth(total: int, per_file: int, enrichers: list[str] | None) -> dict[str, Any]:
    """Ingest ``total`` synthetic articles in dumps of ``per_file`` into one fresh SQLite store,
    one dump after the other (each written just before its ingest, outside the timing)."""
    from worker.driver import FileDriver
    from worker.pipeline import Resources

    rng = random.Random(20261125)
    timings: list[tuple[int, float]] = []  # (articles found, seconds) per dump
    with tempfile.TemporaryDirectory(prefix="newsingest-bench-growth-") as tmp:
        folder = Path(tmp)
        dumps = folder / "dumps"
        dumps.mkdir()
        resources = Resources.build(_settings(folder, None, enrichers))
        try:
            driver = FileDriver(resources)
            sizes = [per_file] * (total // per_file)
            if total % per_file:
                sizes.append(total % per_file)
            for number, size in enumerate([per_file, *sizes]):  # the first one: warm-up
                path = dumps / f"growth-{number:05}.txt"
                path.write_bytes(_growth_dump(rng, size))
                started = time.perf_counter()
                summary = driver.ingest(path)
                seconds = time.perf_counter() - started
                path.unlink()
                if summary.state != "done" or summary.new != size:
                    raise RuntimeError(f"growth dump {number}: {summary}")
                if number:
                    timings.append((summary.found, seconds))
            stored = resources.store.status()["articles"]
        finally:
            resources.store.close()
    articles = sum(n for n, _ in timings)
    tenth = max(1, round(len(timings) / 10))
    first, last = timings[:tenth], timings[-tenth:]
    return {
        "stage": "growth",
        "articles": articles,
        "files": len(timings),
        "seconds": sum(s for _, s in timings),
        "first_articles": sum(n for n, _ in first),
        "first_rate": sum(n for n, _ in first) / sum(s for _, s in first),
        "last_articles": sum(n for n, _ in last),
        "last_rate": sum(n for n, _ in last) / sum(s for _, s in last),
        "stored_articles": stored,
        "enrichers": enrichers,
        "peak_rss_mb": peak_rss_mb(),
    }


def run_stage(
    stage: str,
    files: list[Path],
    repeat: int,
    postgres_url: str,
    enrichers: list[str] | None = None,
) -> dict[str, Any]:
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
                enrich = build_pipeline(_settings(Path(tmp), None, enrichers))
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
                seconds, articles, extra = _ingest(files, Path(tmp), None, enrichers)
        elif stage == "postgres":
            with (
                tempfile.TemporaryDirectory(prefix="newsingest-bench-") as tmp,
                postgres_schema(postgres_url) as url,
            ):
                seconds, articles, extra = _ingest(files, Path(tmp), url, enrichers)
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


def stage_command(stage: str, args: argparse.Namespace) -> list[str]:
    """The command line of one stage's child process (also used by pipeline_throughput.py)."""
    command = [
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
    ]
    if args.enrichers:
        command += ["--enrichers", args.enrichers]
    if args.files:
        command += ["--files", *args.files]
    if stage == "growth":
        if args.growth_enrichers:
            command += ["--growth-enrichers", args.growth_enrichers]
        command += ["--growth", str(args.growth)]
        command += ["--growth-file-articles", str(args.growth_file_articles)]
    return command


def _child(stage: str, args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    log_path = log_dir / f"{stage}.log"
    with log_path.open("wb") as log:
        result = subprocess.run(
            stage_command(stage, args),
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


def _enrichers_text(enrichers: list[str] | None) -> str:
    return "all eight enrichers" if enrichers is None else f"enrichers {','.join(enrichers)}"


def figures(
    results: dict[str, dict[str, Any]],
    skipped: dict[str, str],
    enrichers: list[str] | None,
    growth: dict[str, Any] | None,
) -> list[Figure]:
    """The figures for run_all: ``ingest`` articles/s beside parse+enrich; the growth."""
    used = _enrichers_text(enrichers)
    found: list[Figure] = []
    enrich = results.get("enrich")
    for stage in ("sqlite", "postgres"):
        name = f"`ingest` articles/s, {'embedded SQLite' if stage == 'sqlite' else 'PostgreSQL'}"
        r = results.get(stage)
        if r is None:
            reason = skipped.get(stage, "not run")
            found.append(Figure("ingest_throughput", name, None, "articles/s", note=reason))
            continue
        found.append(
            Figure(
                bench="ingest_throughput",
                name=name,
                value=r["articles"] / r["seconds"],
                unit="articles/s",
                baseline_name="parse+enrich" if enrich else None,
                baseline_value=enrich["articles"] / enrich["seconds"] if enrich else None,
                note=f"{r['articles']:,} articles, {used}",
            )
        )
    if growth is not None:
        found.append(
            Figure(
                bench="ingest_throughput",
                name=f"`ingest` articles/s, last 10 % of {growth['articles']:,} (SQLite)",
                value=growth["last_rate"],
                unit="articles/s",
                baseline_name="the first 10 %",
                baseline_value=growth["first_rate"],
                target=f">= {GROWTH_TARGET} x baseline",
                note=f"synthetic articles, {_enrichers_text(growth['enrichers'])}",
            )
        )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=Path, default=DEFAULT_SAMPLES, help="folder of dumps")
    parser.add_argument("--files", nargs="+", help="only these files of the samples folder")
    parser.add_argument("--repeat", type=int, default=1, help="runs per row; the best is kept")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL, help="PostgreSQL server")
    parser.add_argument(
        "--enrichers", help="enrichers to run: a JSON list or comma-separated (default: all)"
    )
    parser.add_argument(
        "--growth", type=int, default=0, help="also ingest N synthetic articles, timed by dump"
    )
    parser.add_argument(
        "--growth-file-articles", type=int, default=500, help="articles per growth dump"
    )
    parser.add_argument(
        "--growth-enrichers", help="enrichers of the growth run (default: as --enrichers)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--stage", choices=[*sorted(STAGES), "growth"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.samples = args.samples.resolve()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.growth < 0 or args.growth_file_articles < 1:
        parser.error("--growth must be >= 0 and --growth-file-articles >= 1")
    enrichers = parse_enrichers(args.enrichers)

    files = sample_files(args.samples)
    missing: list[str] = []
    by_name: dict[str, Path] = {}
    if args.files:
        by_name = {p.name: p for p in files}
        missing = [name for name in args.files if name not in by_name]
        files = [] if missing else sorted(by_name[name] for name in args.files)
    if args.stage == "growth":
        growth_enrichers = parse_enrichers(args.growth_enrichers) or enrichers
        growth_args = (args.growth, args.growth_file_articles, growth_enrichers)
        print(json.dumps(run_growth(*growth_args)))
        return 0
    if args.stage:  # child mode: one stage, one JSON line on stdout
        print(json.dumps(run_stage(args.stage, files, args.repeat, args.postgres_url, enrichers)))
        return 0

    print("\n".join(machine_lines()))
    growth: dict[str, Any] | None = None
    if not files:
        some = bool(missing) and bool(by_name)  # the folder has samples, but not those
        where = f"{', '.join(missing)} not" if some else "no sample dumps (*.txt)"
        print(f"skipped: {where} in {args.samples}")
        if args.growth:
            with tempfile.TemporaryDirectory(prefix="newsingest-bench-logs-") as logs:
                growth = _child("growth", args, Path(logs))
            _print_growth(growth)
        if args.json is not None:
            reason = f"skipped: {where} in {args.samples}"
            skipped = dict.fromkeys(("sqlite", "postgres"), reason)
            write_figures(args.json, figures({}, skipped, enrichers, growth))
        return 0
    size = sum(p.stat().st_size for p in files)
    print(f"samples : {len(files)} files, {size / MB:.1f} MB in {args.samples}")
    print(f"repeat  : {args.repeat} (best of)")
    if enrichers is not None:
        print(f"enrichers: {','.join(enrichers)}")
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
        if args.growth:
            growth = _child("growth", args, Path(logs))

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
    if growth is not None:
        _print_growth(growth)
    if args.json is not None:
        write_figures(args.json, figures(results, skipped, enrichers, growth))
    return 0


def _print_growth(growth: dict[str, Any]) -> None:
    ratio = growth["last_rate"] / growth["first_rate"]
    verdict = "meets" if ratio >= GROWTH_TARGET else "BELOW"
    print(
        f"growth ({_enrichers_text(growth['enrichers'])}): "
        f"{growth['articles']:,} synthetic articles in {growth['files']} dumps, "
        f"{growth['seconds']:.1f} s; first 10 % ({growth['first_articles']:,}) "
        f"{growth['first_rate']:,.0f} articles/s, last 10 % ({growth['last_articles']:,}) "
        f"{growth['last_rate']:,.0f} articles/s: {ratio:.2f}x ({verdict} the "
        f"{GROWTH_TARGET}x target); {growth['stored_articles']:,} articles stored"
    )


if __name__ == "__main__":
    sys.exit(main())
