"""How fast the records come out: filtered queries (``articles`` filters) and ``export``.

    .venv/bin/python bench/query_export.py [--records 100000] [--backends sqlite postgresql]
                                           [--url STORE_URL] [--repeat 3] [--json PATH]

A store of ``--records`` synthetic records (about 3 kB of body each, entities, countries,
languages, one source each, 10 % of them versions of another record) is built by bulk inserts
straight into ``articles`` and ``sources``: the reader's view of a store, without the enrichers
or the near-duplicate index, which are not what is measured. On SQLite in a temporary folder, and
on PostgreSQL in a fresh schema (dropped afterwards) when one answers at ``--postgres-url``; with
``--url`` the store there is measured as it is, nothing inserted.

Measured, in this process, through the code the commands run (``Store.iter_articles`` with an
``ArticleFilter``, and ``worker.export.export``), every record built with its sources and
consumed:

- the baseline: every canonical record, no filter (``newsingest articles > /dev/null``);
- the filters ``--country RU`` (about 8 % of the records), ``--person "Sergei Lavrov"`` (1 %),
  ``--since 7d`` (the last 7 of 60 days: 12 %), ``--search ceasefire`` (1 %; a substring scan of
  every body until the full-text index comes): the time to all matching records, the median of
  ``--repeat`` runs, and to the first record (``--limit 10``);
- ``export --all`` to a file as jsonl, csv and parquet (when pyarrow is installed): records/s,
  beside the rate of reading the same records without writing them.

PostgreSQL's tables are ANALYZEd after the inserts (autovacuum would do it on a live store);
SQLite's are not (nothing runs ANALYZE there). The timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import (
    DEFAULT_POSTGRES_URL,
    Figure,
    machine_lines,
    postgres_schema,
    postgres_unreachable,
    table,
    write_figures,
)

from worker.store import Store
from worker.store.db import insert_ignore
from worker.store.query import ArticleFilter
from worker.store.schema import articles, sources

BENCH = "query_export"
DAYS = 60
NOW = datetime.now(UTC).replace(microsecond=0)
BATCH = 2_000
FORMATS = ("jsonl", "csv", "parquet")
COUNTRIES = [
    ("US", 14), ("GB", 9), ("RU", 8), ("SY", 6), ("TR", 6), ("IR", 5), ("IQ", 5), ("EG", 5),
    ("FR", 5), ("DE", 5), ("CN", 5), ("UA", 5), ("IL", 4), ("SA", 4), ("JO", 3), ("LB", 3),
    ("IN", 3), ("JP", 2), ("BR", 2), ("ZA", 1),
]  # fmt: skip
PEOPLE = ["Joe Biden", "Recep Tayyip Erdogan", "Emmanuel Macron", "Olaf Scholz", "Xi Jinping",
          "Ann Smith", "Antonio Guterres", "Benjamin Netanyahu", "Mohammed bin Salman",
          "King Abdullah", "Narendra Modi", "Fumio Kishida"]  # fmt: skip
ORGS = ["United Nations", "NATO", "European Union", "Reuters", "World Bank", "IMF", "OPEC",
        "Red Cross", "Arab League", "WHO"]  # fmt: skip
PLACES = ["Damascus", "Moscow", "Ankara", "Tehran", "Baghdad", "Cairo", "Paris", "Berlin",
          "Beijing", "Kyiv", "Jerusalem", "Riyadh", "Amman", "Beirut", "London",
          "Washington"]  # fmt: skip
CREDITS = ["AFP", "AP", "Reuters", "Getty Images", "EPA", None]
_TEXT = (
    "the minister said on talks with officials about the region and the new government would "
    "meet next week in the capital to discuss security trade energy prices and the economy as "
    "markets rose while analysts warned of risks from the conflict and its effect on growth "
    "after the vote in parliament where members debated the budget for schools hospitals roads"
)
WORDS = _TEXT.split()


def _sentences(rng: random.Random, count: int) -> list[str]:
    return [
        " ".join(rng.choices(WORDS, k=rng.randint(12, 24))).capitalize() + "." for _ in range(count)
    ]


def synthetic_rows(count: int, seed: int = 7) -> Any:
    """Batches of (article rows, source rows): ``count`` records over the last ``DAYS`` days."""
    rng = random.Random(seed)
    pool = _sentences(rng, 2_000)
    codes, weights = zip(*COUNTRIES, strict=True)
    start = NOW - timedelta(days=DAYS)
    step = timedelta(days=DAYS) / count
    sha = "b" * 64
    rows: list[dict[str, Any]] = []
    source_rows: list[dict[str, Any]] = []
    for i in range(count):
        language = rng.choices(["en", "ar", "fr", "de"], weights=[80, 10, 5, 5])[0]
        paragraphs = [" ".join(rng.choices(pool, k=5)) for _ in range(6)]
        if rng.random() < 0.01:
            paragraphs[rng.randrange(6)] += " Both sides agreed to a ceasefire."
        people = rng.sample(PEOPLE, rng.randint(0, 3))
        if rng.random() < 0.01:
            people.append("Sergei Lavrov")
        english = language == "en"
        record_id = f"{i:064x}"
        rows.append(
            {
                "id": record_id,
                "title": " ".join(rng.choices(WORDS, k=8)).title(),
                "body": "\n\n".join(paragraphs),
                "image_caption": None,
                "image_credit": rng.choice(CREDITS),
                "lead": paragraphs[0],
                "language": language,
                "word_count": sum(len(p.split()) for p in paragraphs),
                "reading_time_s": 120,
                "entities": {
                    "person": [{"text": p, "count": rng.randint(1, 5)} for p in people],
                    "org": [{"text": o, "count": 1} for o in rng.sample(ORGS, rng.randint(0, 2))],
                    "location": [
                        {"text": p, "count": rng.randint(1, 4)}
                        for p in rng.sample(PLACES, rng.randint(1, 3))
                    ],
                }
                if english
                else None,
                "countries": sorted(set(rng.choices(codes, weights, k=rng.randint(1, 3)))),
                "keywords": rng.sample(WORDS, 5),
                "quotes": [{"text": rng.choice(pool), "speaker": people[0]}] if people else [],
                # one in ten is a version of a record stored a little earlier
                "duplicate_of": f"{i - rng.randint(1, 50):064x}"
                if i > 50 and rng.random() < 0.1
                else None,
                "similarity": None,
                "first_sha256": sha,
                "first_index": i,
                "ingested_at": (start + step * i).isoformat(),
                "pipeline_version": "bench",
                "enrich_errors": None,
            }
        )
        if rows[-1]["duplicate_of"] is not None:
            rows[-1]["similarity"] = 0.8
        source_rows.append(
            {"sha256": sha, "idx": i, "article_id": record_id, "file": "bench.txt", "line": i}
        )
        if len(rows) == BATCH:
            yield rows, source_rows
            rows, source_rows = [], []
    if rows:
        yield rows, source_rows


def build(store: Store, count: int) -> float:
    """Insert ``count`` records; returns the seconds it took."""
    started = time.perf_counter()
    with store.engine.begin() as conn:
        for rows, source_rows in synthetic_rows(count):
            conn.execute(insert_ignore(store.engine, articles), rows)
            conn.execute(insert_ignore(store.engine, sources), source_rows)
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE articles")
            conn.exec_driver_sql("ANALYZE sources")
            conn.commit()
    return time.perf_counter() - started


def consume(store: Store, selected: ArticleFilter) -> tuple[float, int]:
    """Seconds to read every record ``selected`` keeps (built, with sources), and how many."""
    started = time.perf_counter()
    count = 0
    for _ in store.iter_articles(selected):
        count += 1
    return time.perf_counter() - started, count


def median_of(repeat: int, run: Callable[[], tuple[float, int]]) -> tuple[float, int]:
    runs = [run() for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), runs[0][1]


FILTERS: list[tuple[str, dict[str, Any]]] = [
    ("--country RU", {"country": "RU"}),
    ('--person "Sergei Lavrov"', {"person": "Sergei Lavrov"}),
    ("--since 7d", {"since": NOW - timedelta(days=7)}),
    ("--search ceasefire", {"search": "ceasefire"}),
]


def measure(store: Store, label: str, repeat: int, folder: Path) -> tuple[list[list[str]], dict]:
    """The rows of the printed table for one store, and its figures' values."""
    from worker.export import export, parquet_schema

    found: dict[str, Any] = {"label": label, "queries": {}, "exports": {}}
    consume(store, ArticleFilter(limit=1000))  # warm the cache and the connection pool
    scan_s, scanned = median_of(repeat, lambda: consume(store, ArticleFilter()))
    found["scan"] = (scan_s, scanned)
    rows = [[f"{label}: no filter (baseline)", str(scanned), f"{scan_s * 1000:.0f}", "", ""]]
    for name, options in FILTERS:
        took, count = median_of(repeat, lambda o=options: consume(store, ArticleFilter(**o)))
        first, _ = median_of(repeat, lambda o=options: consume(store, ArticleFilter(**o, limit=10)))
        found["queries"][name] = (took, count, first)
        rows.append(
            [
                f"{label}: {name}",
                str(count),
                f"{took * 1000:.0f}",
                f"{took / scan_s:.2f}x",
                f"{first * 1000:.1f}",
            ]
        )
    everything = ArticleFilter(include_duplicates=True)
    read_s, total = consume(store, everything)
    found["read_all"] = (read_s, total)
    export_rows = [[f"{label}: read only (baseline)", str(total), f"{total / read_s:,.0f}", "", ""]]
    for fmt in FORMATS:
        if fmt == "parquet":
            try:
                parquet_schema()
            except RuntimeError as exc:
                found["exports"][fmt] = None
                export_rows.append([f"{label}: export {fmt}", "", "skipped", str(exc), ""])
                continue
        output = folder / f"export.{fmt}"
        started = time.perf_counter()
        written = export(store.iter_articles(everything), fmt, output, sys.stdout)
        took = time.perf_counter() - started
        size_mb = output.stat().st_size / 1e6
        output.unlink()
        found["exports"][fmt] = (took, written, size_mb)
        export_rows.append(
            [
                f"{label}: export --all --format {fmt}",
                str(written),
                f"{written / took:,.0f}",
                f"{(written / took) / (total / read_s):.2f}x",
                f"{size_mb:.0f}",
            ]
        )
    found["export_rows"] = export_rows
    return rows, found


def figures(results: list[dict], skipped: dict[str, str], records: int) -> list[Figure]:
    found: list[Figure] = []
    for result in results:
        label = result["label"]
        scan_s, scanned = result["scan"]
        baseline = f"no filter, {scanned} canonical records ({label})"
        for name, (took, count, first) in result["queries"].items():
            found.append(
                Figure(
                    BENCH,
                    f"articles {name}: all {count} matches ({label}, {records} records)",
                    round(took * 1000, 1),
                    "ms",
                    baseline,
                    round(scan_s * 1000, 1),
                )
            )
            found.append(
                Figure(
                    BENCH,
                    f"articles {name} --limit 10 ({label}, {records} records)",
                    round(first * 1000, 2),
                    "ms",
                )
            )
        read_s, total = result["read_all"]
        for fmt, measured in result["exports"].items():
            name = f"export --all --format {fmt} ({label}, {total} records)"
            if measured is None:
                found.append(
                    Figure(BENCH, name, None, "records/s", note="skipped: pyarrow not installed")
                )
                continue
            took, written, _ = measured
            found.append(
                Figure(
                    BENCH,
                    name,
                    round(written / took),
                    "records/s",
                    f"reading them without writing ({label})",
                    round(total / read_s),
                )
            )
    for label, reason in skipped.items():
        found.append(Figure(BENCH, f"queries and export ({label})", None, "ms", note=reason))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000, help="records in the store")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--url", help="measure this store as it is (nothing inserted)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each query (median)")
    parser.add_argument("--samples", type=Path, help=argparse.SUPPRESS)  # not used: synthetic
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    print("\n".join(machine_lines()))
    results: list[dict] = []
    skipped: dict[str, str] = {}
    built: list[list[str]] = []

    def one(url: str, label: str, fill: bool, folder: Path) -> None:
        store = Store.from_url(url)
        try:
            if fill:
                seconds = build(store, args.records)
                built.append([label, str(args.records), f"{seconds:.1f}"])
            rows, found = measure(store, label, args.repeat, folder)
            found["rows"] = rows
            results.append(found)
        finally:
            store.close()

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        if args.url:
            label = "PostgreSQL" if args.url.startswith("postgresql") else "SQLite"
            one(args.url, label, False, work)
        else:
            if "sqlite" in args.backends:
                one(f"sqlite:///{work / 'bench.sqlite'}", "SQLite", True, work)
            if "postgresql" in args.backends:
                reason = postgres_unreachable(args.postgres_url)
                if reason:
                    print(f"PostgreSQL skipped: {reason}")
                    skipped["PostgreSQL"] = reason
                else:
                    with postgres_schema(args.postgres_url) as url:
                        one(url, "PostgreSQL", True, work)
    if built:
        print()
        print(table(["store", "records", "bulk insert s"], built))
    print()
    header = ["query (canonical records)", "records", "ms (median)", "vs no filter", "first 10 ms"]
    print(table(header, [row for r in results for row in r["rows"]]))
    print()
    header = ["export (every record)", "records", "records/s", "vs reading", "MB"]
    print(table(header, [row for r in results for row in r["export_rows"]]))
    print(
        "\nms: reading every matching record with its sources (Store.iter_articles), median of"
        f" {args.repeat}; first 10: the same filter with --limit 10. export: worker.export.export"
        " to a file in a temporary folder; vs reading: its rate over that of reading the same"
        " records without writing them."
    )
    if args.json is not None:
        write_figures(args.json, figures(results, skipped, args.records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
