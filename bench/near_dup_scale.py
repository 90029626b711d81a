"""Cost of the near-duplicate check as the store grows: 10 k, 100 k, 1 M indexed articles.

For each backend (SQLite file, PostgreSQL schema) the index is filled step by step to each size,
and at each size a measured batch of new synthetic articles goes through the real publish path:
``MinhashSignature.many`` (signature) then ``Store.publish`` (lock, candidate lookup, verification,
article + index insert, ledger update), in files of 50 articles, a fifth of them versions of
articles of the same batch so that lookups do find candidates.

Filling: through the normal path that would take hours at 1 M (signatures of a million texts), so
the fill uses bulk inserts of synthetic rows (random signatures and band keys, short bodies)
straight into ``articles``, ``minhashes`` and ``lsh_bands``; the per-article figure is always
measured on the measured batch through the normal path, on top of the filled index. Bytes per
article: the index tables (``minhashes`` + ``lsh_bands``, with their indexes) divided by the
indexed articles.

Run::

    .venv/bin/python bench/near_dup_scale.py                       # 10k, 100k, 1M on both
    .venv/bin/python bench/near_dup_scale.py --sizes 10000 100000 --backends sqlite
    .venv/bin/python bench/near_dup_scale.py --postgres-url postgresql+psycopg://...

PostgreSQL is skipped with the reason when it does not answer. Redis is not used by the index.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import (
    DEFAULT_POSTGRES_URL,
    machine_lines,
    postgres_schema,
    postgres_unreachable,
    table,
)
from sqlalchemy import insert, text

from worker.dedupe.near import MinhashSignature, NearDupConfig
from worker.models import ArticleRecord, Source
from worker.store import Store
from worker.store.schema import articles, index_meta, lsh_bands, minhashes

CONFIG = NearDupConfig()
VOCABULARY = [f"w{n:05}" for n in range(20_000)]
FILE_ARTICLES = 50


def _text(rng: random.Random) -> tuple[str, str]:
    words = rng.choices(VOCABULARY, k=rng.randint(150, 400))
    return " ".join(rng.choices(VOCABULARY, k=8)), " ".join(words)


def _fill(store: Store, start: int, stop: int, seed: int) -> None:
    """Bulk rows for articles start..stop-1: random signatures, band keys from their values."""
    rng = np.random.default_rng(seed)
    batch = 20_000
    for first in range(start, stop, batch):
        n = min(batch, stop - first)
        ids = [hashlib.sha256(f"fill {i}".encode()).hexdigest() for i in range(first, first + n)]
        values = rng.integers(0, 2**32, size=(n, CONFIG.num_perm), dtype=np.uint32)
        keys = rng.integers(-(2**63), 2**63 - 1, size=(n, CONFIG.bands), dtype=np.int64)
        with store.engine.begin() as conn:
            conn.execute(
                insert(articles),
                [
                    {
                        "id": i,
                        "title": "filler",
                        "body": "filler",
                        "first_sha256": "0" * 64,
                        "first_index": first + k,
                        "ingested_at": "2000-01-01T00:00:00+00:00",
                        "pipeline_version": "bench",
                    }
                    for k, i in enumerate(ids)
                ],
            )
            conn.execute(
                insert(minhashes),
                [
                    {"seq": first + k + 1, "article_id": i, "signature": values[k].tobytes()}
                    for k, i in enumerate(ids)
                ],
            )
            conn.execute(
                insert(lsh_bands),
                [{"band_key": int(key), "seq": first + k + 1} for k in range(n) for key in keys[k]],
            )
        print(f"    filled {first + n:,}", file=sys.stderr, flush=True)
    if store.engine.dialect.name == "postgresql" and stop > start:  # rows came with their seq
        with store.engine.begin() as conn:
            conn.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('minhashes', 'seq'), max(seq))"
                    " FROM minhashes"
                )
            )


def _measure(store: Store, count: int, seed: int) -> tuple[float, float]:
    """ms per article: signature, and publish (lookup + verify + insert), through the real path."""
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
        store.claim(sha, name, name, 1)
        started = time.perf_counter()
        signatures = signer.many(chunk)
        sign_s += time.perf_counter() - started
        started = time.perf_counter()
        store.publish(
            sha,
            name,
            records,
            failed=0,
            unplaced=0,
            encoding="utf-8",
            final_path=None,
            signatures=signatures,
        )
        publish_s += time.perf_counter() - started
    return sign_s / count * 1000, publish_s / count * 1000


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


def run(store: Store, label: str, sizes: list[int], measured: int) -> list[list[str]]:
    with store.engine.begin() as conn:
        conn.execute(insert(index_meta).values(name="near_dup_config", value=CONFIG.fingerprint))
    rows, filled = [], 0
    for number, size in enumerate(sizes):
        fill_started = time.perf_counter()
        _fill(store, filled, size, seed=number)
        fill_s = time.perf_counter() - fill_started
        filled = size
        sign_ms, publish_ms = _measure(store, measured, seed=number)
        with store.engine.connect() as conn:
            indexed = conn.execute(text("SELECT count(*) FROM minhashes")).scalar_one()
        size_bytes = _index_bytes(store)
        rows.append(
            [
                f"{label} {size:,}",
                f"{sign_ms:.3f}",
                f"{publish_ms:.3f}",
                f"{sign_ms + publish_ms:.3f}",
                f"{size_bytes / indexed:,.0f}"
                if size_bytes > 0
                else f"{-size_bytes / indexed:,.0f} (whole file)",
                f"{fill_s:.0f}",
            ]
        )
        print("    " + " | ".join(rows[-1]), file=sys.stderr, flush=True)
        filled += measured  # the measured articles are in the index too
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--measured", type=int, default=1000, help="articles timed per size")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    args = parser.parse_args()
    print("\n".join(machine_lines()))
    print(f"config  : {CONFIG.describe()}")
    header = [
        "index size",
        "sign ms",
        "lookup+insert ms",
        "total ms/article",
        "bytes/article",
        "fill s",
    ]
    rows: list[list[str]] = []
    sizes = sorted(args.sizes)
    if "sqlite" in args.backends:
        with tempfile.TemporaryDirectory() as folder:
            store = Store.from_url(f"sqlite:///{Path(folder) / 'scale.sqlite'}", CONFIG)
            rows += run(store, "SQLite", sizes, args.measured)
            store.close()
    if "postgresql" in args.backends:
        reason = postgres_unreachable(args.postgres_url)
        if reason:
            print(f"PostgreSQL skipped: {reason}")
        else:
            with postgres_schema(args.postgres_url) as url:
                store = Store.from_url(url, CONFIG)
                rows += run(store, "PostgreSQL", sizes, args.measured)
                store.close()
    print()
    print(table(header, rows))
    print(
        "\nfill: bulk inserts of synthetic rows; each row's times: the measured articles, "
        "through MinhashSignature.many + Store.publish, in files of "
        f"{FILE_ARTICLES}."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
