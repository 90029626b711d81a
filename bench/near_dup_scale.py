"""Cost of the near-duplicate check as the store grows: 10 k, 100 k, 1 M indexed articles.

For each backend (SQLite file, PostgreSQL schema) the index is filled step by step to each size,
and at each size a measured batch of new synthetic articles goes through the real publish path:
``MinhashSignature.many`` (signature) then ``Store.publish`` (lock, candidate lookup, verification,
article + index insert, ledger update), in files of 50 articles, a fifth of them versions of
articles of the same batch so that lookups do find candidates.

Filling: through the normal path that would take hours at 1 M (signatures of a million texts), so
the fill uses bulk inserts of synthetic rows (random signatures and band keys, one-word bodies)
straight into ``articles``, ``minhashes`` and ``lsh_bands`` (COPY on PostgreSQL, ``executemany``
on SQLite), then, on PostgreSQL, ``ANALYZE`` (which autovacuum does for a store that grew by
publishes) and a ``CHECKPOINT``. The per-article figures are always measured on the measured batch
through the normal path, on top of the filled index, after 100 untimed warm-up articles; they are
split into the signature, the index's part of the publish (lock, config check, lookup +
verification, index insert: ``_IndexClock``) and the rest of the publish (articles + sources,
counts, ledger, commit). Bytes per article: the index tables (``minhashes`` + ``lsh_bands``, with
their indexes) divided by the indexed articles (SQLite without ``dbstat``: the whole file).

Run::

    .venv/bin/python bench/near_dup_scale.py                       # 10k, 100k, 1M on both
    .venv/bin/python bench/near_dup_scale.py --sizes 10000 100000 --backends sqlite
    .venv/bin/python bench/near_dup_scale.py --postgres-url postgresql+psycopg://...

PostgreSQL is skipped with the reason when it does not answer. Redis is not used by the index.
``--json PATH`` also writes the figures for ``bench/run_all.py``: for each backend, the total
ms/article with the biggest index beside that with the smallest.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    DEFAULT_POSTGRES_URL,
    Figure,
    machine_lines,
    postgres_schema,
    postgres_unreachable,
    table,
    write_figures,
)
from sqlalchemy import insert, text

from worker.dedupe.near import MinhashSignature, NearDupConfig
from worker.models import ArticleRecord, Source
from worker.store import Store
from worker.store import near as store_near
from worker.store.schema import index_meta

CONFIG = NearDupConfig()
VOCABULARY = [f"w{n:05}" for n in range(20_000)]
FILE_ARTICLES = 50
WARM_UP = 100  # articles published untimed before each measurement


def _text(rng: random.Random) -> tuple[str, str]:
    words = rng.choices(VOCABULARY, k=rng.randint(150, 400))
    return " ".join(rng.choices(VOCABULARY, k=8)), " ".join(words)


def _fill(store: Store, start: int, stop: int, seed: int) -> None:
    """Bulk rows for articles start..stop-1: random signatures and band keys.

    PostgreSQL: COPY (binary for the 40 band rows per article); SQLite: ``executemany`` on the
    driver connection, 20,000 articles per transaction. Then what a store that grew by ordinary
    publishes would have: fresh planner statistics (autovacuum's ANALYZE runs as a table grows by
    10 %; a bulk fill is measured before it would get to it) and a checkpoint, so that the fill's
    own WAL or dirty pages are not flushed during the measurement."""
    rng = np.random.default_rng(seed)
    batch = 20_000
    postgres = store.engine.dialect.name == "postgresql"
    for first in range(start, stop, batch):
        n = min(batch, stop - first)
        ids = [hashlib.sha256(f"fill {i}".encode()).hexdigest() for i in range(first, first + n)]
        values = rng.integers(0, 2**32, size=(n, CONFIG.num_perm), dtype=np.uint32)
        keys = rng.integers(-(2**63), 2**63 - 1, size=(n, CONFIG.bands), dtype=np.int64)
        seqs = np.arange(first + 1, first + n + 1, dtype=np.int64)
        article_rows = [
            (i, "filler", "filler", "0" * 64, first + k, "2000-01-01T00:00:00+00:00", "bench")
            for k, i in enumerate(ids)
        ]
        signature_rows = [(int(seqs[k]), i, values[k].tobytes()) for k, i in enumerate(ids)]
        with store.engine.begin() as conn:
            raw = conn.connection.driver_connection
            if postgres:
                with raw.cursor() as cur:
                    with cur.copy(f"COPY articles ({ARTICLE_COLUMNS}) FROM STDIN") as copy:
                        for row in article_rows:
                            copy.write_row(row)
                    with cur.copy("COPY minhashes (seq, article_id, signature) FROM STDIN") as copy:
                        for row in signature_rows:
                            copy.write_row(row)
                    with cur.copy(
                        "COPY lsh_bands (band_key, seq) FROM STDIN (FORMAT binary)"
                    ) as copy:
                        copy.write(_binary_band_rows(keys, seqs))
            else:
                cur = raw.cursor()
                cur.executemany(
                    f"INSERT INTO articles ({ARTICLE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    article_rows,
                )
                cur.executemany(
                    "INSERT INTO minhashes (seq, article_id, signature) VALUES (?, ?, ?)",
                    signature_rows,
                )
                order = np.argsort(keys, axis=None)  # key order: fewer page splits and misses
                cur.executemany(
                    "INSERT INTO lsh_bands (band_key, seq) VALUES (?, ?)",
                    zip(
                        keys.ravel()[order].tolist(),
                        np.repeat(seqs, CONFIG.bands)[order].tolist(),
                        strict=True,
                    ),
                )
        print(f"    filled {first + n:,}", file=sys.stderr, flush=True)
    with store.engine.begin() as conn:
        if postgres:
            if stop > start:  # rows came with their seq
                conn.execute(
                    text(
                        "SELECT setval(pg_get_serial_sequence('minhashes', 'seq'), max(seq))"
                        " FROM minhashes"
                    )
                )
            conn.execute(text("ANALYZE articles, minhashes, lsh_bands"))
    if postgres:
        with store.engine.connect() as conn:
            try:
                conn.execute(text("CHECKPOINT"))  # superuser or pg_checkpoint
                conn.commit()
            except Exception as error:  # not allowed: measured without
                print(f"    no checkpoint: {error}", file=sys.stderr)
                conn.rollback()
    else:
        raw = store.engine.raw_connection()  # outside any transaction (autocommit driver mode)
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()


ARTICLE_COLUMNS = "id, title, body, first_sha256, first_index, ingested_at, pipeline_version"


def _binary_band_rows(keys: np.ndarray, seqs: np.ndarray) -> bytes:
    """``COPY … (FORMAT binary)`` payload of (band_key, seq) rows, built with numpy."""
    row = np.dtype(
        [("fields", ">i2"), ("klen", ">i4"), ("key", ">i8"), ("slen", ">i4"), ("seq", ">i8")]
    )
    data = np.empty(keys.size, dtype=row)
    data["fields"], data["klen"], data["slen"] = 2, 8, 8
    data["key"] = keys.ravel()
    data["seq"] = np.repeat(seqs, keys.shape[1])
    header = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
    return header + data.tobytes() + (-1).to_bytes(2, "big", signed=True)


class _IndexClock:
    """Time spent inside the near-duplicate index's steps of ``Store.publish`` (the lock, the
    config check, the candidate lookup + verification, the index insert), measured by wrapping
    them in ``worker.store.near`` for the duration of the run."""

    STEPS = ("lock", "check_config", "decide", "add")

    def __init__(self) -> None:
        self.seconds = 0.0
        self._saved = {name: getattr(store_near, name) for name in self.STEPS}

    def __enter__(self) -> _IndexClock:
        for name, function in self._saved.items():
            setattr(store_near, name, self._timed(function))
        return self

    def __exit__(self, *exc: object) -> None:
        for name, function in self._saved.items():
            setattr(store_near, name, function)

    def _timed(self, function):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        return timed


def _measure(store: Store, count: int, seed: int) -> tuple[float, float, float]:
    """ms per article, through the real path: signature; the index's part of the publish (lock,
    config check, lookup + verification, index insert); the whole publish (that, plus the
    articles + sources insert, exact-duplicate check, counts, ledger update and the commit)."""
    rng = random.Random(seed)
    signer = MinhashSignature(CONFIG)
    texts = []
    for n in range(count):
        if n % 5 == 4:  # a version of an earlier article of the batch: a few words changed
            title, body = texts[rng.randrange(len(texts))]
            words = body.split()
            for _ in range(3):
                words[rng.randrange(len(words))] = rng.choice(VOCABULARY)
            texts.append((title, " ".join(words)))
        else:
            texts.append(_text(rng))
    sign_s = publish_s = 0.0
    clock = _IndexClock()
    for start in range(0, count, FILE_ARTICLES):
        chunk = texts[start : start + FILE_ARTICLES]
        sha = hashlib.sha256(f"measure {seed} {start}".encode()).hexdigest()
        name = f"m{seed}-{start}.txt"
        records = [
            ArticleRecord(
                id=hashlib.sha256(f"{t}\x1f{b}".encode()).hexdigest(),
                title=t,
                body=b,
                image_caption=None,
                image_credit=None,
                sources=[Source(file=name, sha256=sha, index=k, line=1)],
                ingested_at="2030-01-01T00:00:00+00:00",
                pipeline_version="bench",
            )
            for k, (t, b) in enumerate(chunk)
        ]
        # a worker's lease on the file: the publish must be made by its holder
        store.ledger.claim(sha, name, name, 1)
        store.ledger.start(sha, "bench", lease_seconds=3600)
        started = time.perf_counter()
        signatures = signer.many(chunk)
        sign_s += time.perf_counter() - started
        started = time.perf_counter()
        with clock:
            store.publish(
                sha,
                name,
                records,
                failed=0,
                unplaced=0,
                encoding="utf-8",
                owner="bench",
                signatures=signatures,
            )
        publish_s += time.perf_counter() - started
    return sign_s / count * 1000, clock.seconds / count * 1000, publish_s / count * 1000


def _index_bytes(store: Store) -> int:
    with store.engine.connect() as conn:
        if store.engine.dialect.name == "postgresql":
            return conn.execute(
                text(
                    "SELECT pg_total_relation_size('minhashes')"
                    " + pg_total_relation_size('lsh_bands')"
                )
            ).scalar_one()
        try:
            return conn.execute(
                text(
                    "SELECT SUM(pgsize) FROM dbstat WHERE name IN "
                    "('minhashes', 'lsh_bands') OR tbl_name IN ('minhashes', 'lsh_bands')"
                )
            ).scalar_one()
        except Exception:  # SQLite built without dbstat: the whole file, articles included
            return (
                -conn.execute(text("PRAGMA page_count")).scalar_one()
                * conn.execute(text("PRAGMA page_size")).scalar_one()
            )


def run(
    store: Store,
    label: str,
    sizes: list[int],
    measured: int,
    totals: list[tuple[int, float]] | None = None,
) -> list[list[str]]:
    """The table's rows; ``totals`` gets (index size, total ms/article) for each size."""
    with store.engine.begin() as conn:
        conn.execute(insert(index_meta).values(name="near_dup_config", value=CONFIG.fingerprint))
    rows, filled = [], 0
    for number, size in enumerate(sizes):
        fill_started = time.perf_counter()
        _fill(store, filled, size, seed=number)
        fill_s = time.perf_counter() - fill_started
        filled = size
        _measure(store, WARM_UP, seed=1000 + number)  # untimed: a worker is a warm process
        sign_ms, index_ms, publish_ms = _measure(store, measured, seed=number)
        with store.engine.connect() as conn:
            indexed = conn.execute(text("SELECT count(*) FROM minhashes")).scalar_one()
        size_bytes = _index_bytes(store)
        rows.append(
            [
                f"{label} {size:,}",
                f"{sign_ms:.3f}",
                f"{index_ms:.3f}",
                f"{sign_ms + index_ms:.3f}",
                f"{publish_ms - index_ms:.3f}",
                f"{sign_ms + publish_ms:.3f}",
                f"{size_bytes / indexed:,.0f}"
                if size_bytes > 0
                else f"{-size_bytes / indexed:,.0f} (whole file)",
                f"{fill_s:.0f}",
            ]
        )
        print("    " + " | ".join(rows[-1]), file=sys.stderr, flush=True)
        if totals is not None:
            totals.append((size, sign_ms + publish_ms))
        filled += WARM_UP + measured  # the measured articles are in the index too
    return rows


def figures(
    totals: dict[str, list[tuple[int, float]]], skipped: dict[str, str], measured: int
) -> list[Figure]:
    """For run_all: per backend, ms/article with the biggest index beside the smallest."""
    found = []
    for label, reason in skipped.items():
        name = f"{label}: sign + publish per article"
        found.append(Figure("near_dup_scale", name, None, "ms", note=f"skipped: {reason}"))
    for label, rows in totals.items():
        (small, small_ms), (big, big_ms) = rows[0], rows[-1]
        figure = Figure(
            bench="near_dup_scale",
            name=f"{label}: sign + publish per article, {big:,} indexed",
            value=big_ms,
            unit="ms",
            baseline_name=f"{small:,} indexed",
            baseline_value=small_ms if big != small else None,
            note=f"{measured:,} articles timed per size",
        )
        found.append(figure)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--measured", type=int, default=1000, help="articles timed per size")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    print("\n".join(machine_lines()))
    print(f"config  : {CONFIG.describe()}")
    header = [
        "index size",
        "sign ms",
        "index ms",
        "sign+index ms",
        "rest of publish ms",
        "total ms/article",
        "bytes/article",
        "fill s",
    ]
    rows: list[list[str]] = []
    sizes = sorted(args.sizes)
    totals: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    if "sqlite" in args.backends:
        with tempfile.TemporaryDirectory() as folder:
            store = Store.from_url(f"sqlite:///{Path(folder) / 'scale.sqlite'}", CONFIG)
            rows += run(store, "SQLite", sizes, args.measured, totals.setdefault("SQLite", []))
            store.close()
    if "postgresql" in args.backends:
        reason = postgres_unreachable(args.postgres_url)
        if reason:
            print(f"PostgreSQL skipped: {reason}")
            skipped["PostgreSQL"] = reason
        else:
            with postgres_schema(args.postgres_url) as url:
                store = Store.from_url(url, CONFIG)
                found = totals.setdefault("PostgreSQL", [])
                rows += run(store, "PostgreSQL", sizes, args.measured, found)
                store.close()
    print()
    print(table(header, rows))
    print(
        "\nfill: bulk inserts of synthetic rows; each row's times: the measured articles, "
        f"through MinhashSignature.many + Store.publish, in files of {FILE_ARTICLES}.\n"
        "index ms: lock + config check + candidate lookup and verification + index insert "
        "(inside Store.publish); rest of publish: exact-duplicate check, articles + sources "
        "insert, counts, ledger update, commit; total: signature + the whole publish."
    )
    if args.json is not None:
        write_figures(args.json, figures(totals, skipped, args.measured))
    return 0


if __name__ == "__main__":
    sys.exit(main())
