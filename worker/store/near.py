"""The near-duplicate index in the store: the SQL side of ``worker.dedupe.near``.

Why here and not in Redis: the decision for an article, the article row and its index rows are
written in one transaction with the article itself. A worker killed half way leaves neither, a
redelivered task finds its own rows, and no second system has to agree with the store. It works the
same on the embedded SQLite store, where there is no Redis at all.

Race-freedom: every publishing transaction first takes one lock, and only then reads the index and
decides. On SQLite that lock is the database write lock (``BEGIN IMMEDIATE``, see ``db.py``); on
PostgreSQL it is a transaction-scoped advisory lock (``NEAR_DUP_LOCK``), released at commit, after
which the next holder's statements see the rows (READ COMMITTED). So publishes are serialized and
every decision sees every article committed before it: the outcome is one of the outcomes of some
sequential order of the files, whatever the number of workers. Only the publish transaction is
serialized; parsing, enrichment and signatures run outside it, in parallel.

Why one lock and not one per band key: a file of N new articles has 40 N band keys, and PostgreSQL
keeps advisory locks in its shared lock table (``max_locks_per_transaction`` x ``max_connections``
= 6,400 slots by default, shared by all sessions): a 200-article file would exhaust it. Striping the
keys onto fewer locks locks all stripes for any real file, so it is one lock with extra steps.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    BindParameter,
    Connection,
    String,
    any_,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
)

from worker.dedupe.near import (
    DuplicateFilter,
    Indexed,
    Link,
    MemoryLshIndex,
    MinhashSignature,
    NearDupConfig,
    Signature,
)
from worker.errors import ConfigurationError
from worker.log import get_logger
from worker.store.schema import articles, index_meta, lsh_bands, minhashes

log = get_logger("newsingest.store.near")

# pg_advisory_xact_lock key of the near-duplicate decision: blake2b-64("newsingest.near_dup").
NEAR_DUP_LOCK = 0x6E5F_6E65_6172_6475
CONFIG_KEY = "near_dup_config"
_CHUNK = 1000  # keeps IN lists under SQLite's variable limit and PostgreSQL's statements small


class IndexMismatchError(ConfigurationError):
    """The stored index was built with other near-duplicate settings (or not at all)."""

    code = "near_dup_index_stale"
    hint = "run `newsingest rebuild-index` with the new settings, or restore the old settings"


@dataclass(frozen=True, slots=True)
class NewArticle:
    article_id: str
    signature: Signature | None  # None: no words, nothing to compare


def lock(conn: Connection) -> None:
    """Serialize near-duplicate decisions across every process sharing this store."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": NEAR_DUP_LOCK})
    # SQLite: the transaction began with BEGIN IMMEDIATE and holds the database's write lock.


def check_config(conn: Connection, config: NearDupConfig) -> None:
    """Refuse to decide against an index built with other settings.

    An empty store adopts the config. A store with articles but no recorded config (made before
    the index existed) is stale too: articles missing from the index would never be found.

    Raises:
        IndexMismatchError: the index must be rebuilt (``newsingest rebuild-index``).
    """
    stored = conn.execute(
        select(index_meta.c.value).where(index_meta.c.name == CONFIG_KEY)
    ).scalar_one_or_none()
    if stored == config.fingerprint:
        return
    if stored is None:
        if conn.execute(select(articles.c.id).limit(1)).first() is None:
            conn.execute(insert(index_meta).values(name=CONFIG_KEY, value=config.fingerprint))
            return
        message = "articles are stored but the near-duplicate index was never built"
    else:
        message = (
            f"the near-duplicate index was built with config {stored}; "
            f"these settings are {config.fingerprint} ({config.describe()})"
        )
    log.error(
        "near_dup.index_mismatch",
        stored=stored,
        configured=config.fingerprint,
        message=message,
        hint=IndexMismatchError.hint,
    )
    raise IndexMismatchError(f"{message}; run `newsingest rebuild-index`")


def existing_ids(conn: Connection, ids: Sequence[str]) -> set[str]:
    unique = sorted(set(ids))
    if conn.dialect.name == "postgresql":  # one round trip, whatever the batch size
        return set(
            conn.execute(
                select(articles.c.id).where(articles.c.id == any_(_array(unique, String)))
            ).scalars()
        )
    found: set[str] = set()
    for chunk in _chunks(unique):
        found.update(conn.execute(select(articles.c.id).where(articles.c.id.in_(chunk))).scalars())
    return found


def decide(conn: Connection, config: NearDupConfig, new: Sequence[NewArticle]) -> dict[str, Link]:
    """Decide each new article in order, against the stored index and the batch's earlier ones.

    One query fetches every stored candidate of the batch; the batch's own articles go into a
    ``MemoryLshIndex`` as they are decided, so that a file holding two versions links them.
    """
    stored = _stored_candidates(
        conn, config, {k for a in new if a.signature for k in a.signature.band_keys}
    )
    batch = MemoryLshIndex()
    links: dict[str, Link] = {}
    judge = DuplicateFilter(config)

    def lookup(article_id: str) -> Indexed | None:
        found = stored.get(article_id) or batch.get(article_id)
        return found or _load(conn, config, [article_id]).get(article_id)

    for article in new:
        if article.signature is None:
            continue
        keys = article.signature.band_keys
        candidates = {**stored.candidates(keys), **batch.candidates(keys)}
        link = judge.decide(article.article_id, article.signature, candidates, lookup)
        canonical_id = link.duplicate_of if link else article.article_id
        batch.add(Indexed(article.article_id, article.signature, canonical_id))
        if link is not None:
            links[article.article_id] = link
    return links


def add(conn: Connection, new: Sequence[NewArticle]) -> None:
    """Index these articles (their rows are inserted in the same transaction).

    PostgreSQL: one statement for the whole batch (signatures and band rows sent as arrays,
    ``unnest``-ed server side), instead of one pipelined statement per row. SQLite: ``executemany``
    (one prepared statement looped in C, no round trips to save)."""
    indexed = [a for a in new if a.signature is not None]
    if not indexed:
        return
    if conn.dialect.name == "postgresql":
        _pg_add(conn, indexed)
        return
    rows = [{"article_id": a.article_id, "signature": a.signature.to_bytes()} for a in indexed]
    keys = {a.article_id: a.signature.band_keys for a in indexed}
    inserted = conn.execute(
        insert(minhashes).returning(minhashes.c.seq, minhashes.c.article_id), rows
    ).all()
    band_rows = [
        {"band_key": key, "seq": seq}
        for seq, article_id in inserted
        for key in sorted(set(keys[article_id]))
    ]
    conn.execute(insert(lsh_bands), band_rows)


# The signatures go in as parallel arrays (ids, signatures); each band row names its article by
# position (1-based, ``WITH ORDINALITY``) so that the article id is not sent 40 times.
_PG_ADD = """
WITH a AS (
    SELECT * FROM unnest(%(ids)s::varchar[], %(signatures)s::bytea[])
        WITH ORDINALITY AS a(article_id, signature, n)
), m AS (
    INSERT INTO minhashes (article_id, signature)
    SELECT article_id, signature FROM a ORDER BY n
    RETURNING seq, article_id
)
INSERT INTO lsh_bands (band_key, seq)
SELECT k.band_key, m.seq
FROM unnest(%(positions)s::int[], %(keys)s::bigint[]) AS k(n, band_key)
JOIN a USING (n)
JOIN m USING (article_id)
"""


def _pg_add(conn: Connection, indexed: Sequence[NewArticle]) -> None:
    positions: list[int] = []
    keys: list[int] = []
    for n, article in enumerate(indexed, start=1):
        own = sorted(set(article.signature.band_keys))
        keys.extend(own)
        positions.extend([n] * len(own))
    conn.exec_driver_sql(
        _PG_ADD,
        {
            "ids": [a.article_id for a in indexed],
            "signatures": [a.signature.to_bytes() for a in indexed],
            "positions": positions,
            "keys": keys,
        },
    )


def rebuild(conn: Connection, config: NearDupConfig, batch_size: int = 1000) -> int:
    """Drop and rebuild the index from the stored articles, in ingestion order; returns how many
    were indexed. Links already decided (``duplicate_of``) are kept: canonical records never
    change."""
    if conn.dialect.name == "postgresql":
        # one long maintenance transaction: the per-statement and idle limits that protect the
        # publish lock from a vanished worker would cut it off on a large store
        conn.execute(text("SET LOCAL statement_timeout = 0"))
        conn.execute(text("SET LOCAL idle_in_transaction_session_timeout = 0"))
    lock(conn)
    conn.execute(delete(lsh_bands))
    conn.execute(delete(minhashes))
    conn.execute(delete(index_meta).where(index_meta.c.name == CONFIG_KEY))
    signer = MinhashSignature(config)
    indexed = 0
    for batch in _article_batches(conn, batch_size):
        signatures = signer.many([(title, body) for _, title, body in batch])
        new = [NewArticle(row[0], sig) for row, sig in zip(batch, signatures, strict=True)]
        add(conn, new)
        indexed += sum(sig is not None for sig in signatures)
    conn.execute(insert(index_meta).values(name=CONFIG_KEY, value=config.fingerprint))
    if conn.dialect.name == "postgresql":
        # The index was just refilled in bulk: give the planner its statistics now rather than at
        # autovacuum's next pass, or the first lookups of a large batch of keys may scan the table.
        conn.execute(text("ANALYZE minhashes, lsh_bands"))
    return indexed


def stats(conn: Connection) -> dict[str, int | str | None]:
    return {
        "config": conn.execute(
            select(index_meta.c.value).where(index_meta.c.name == CONFIG_KEY)
        ).scalar_one_or_none(),
        "signatures": conn.execute(select(func.count()).select_from(minhashes)).scalar_one(),
        "band_rows": conn.execute(select(func.count()).select_from(lsh_bands)).scalar_one(),
    }


# --- helpers -------------------------------------------------------------------------------------


def _chunks(items: Sequence, size: int = _CHUNK) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _stored_candidates(conn: Connection, config: NearDupConfig, keys: set[int]) -> MemoryLshIndex:
    """The stored articles sharing a band key with the batch, as an in-memory index.

    PostgreSQL: one statement for the whole batch, the keys as one ``bigint[]`` parameter
    (``= ANY``): one round trip and one plan, where IN lists of 1,000 literals cost a round trip
    and a parse per chunk. SQLite: IN lists in chunks (no round trips; under its variable limit).
    """
    index = MemoryLshIndex()
    if not keys:
        return index
    if conn.dialect.name == "postgresql":
        query = (
            select(minhashes.c.article_id, minhashes.c.signature, articles.c.duplicate_of)
            .join(articles, articles.c.id == minhashes.c.article_id)
            .where(
                minhashes.c.seq.in_(
                    select(lsh_bands.c.seq).where(
                        lsh_bands.c.band_key == any_(_array(sorted(keys), BigInteger))
                    )
                )
            )
        )
        for item in _rows_to_indexed(conn.execute(query), config):
            index.add(item)
        return index
    seqs: set[int] = set()
    for chunk in _chunks(sorted(keys)):
        seqs.update(
            conn.execute(
                select(lsh_bands.c.seq).where(lsh_bands.c.band_key.in_(chunk)).distinct()
            ).scalars()
        )
    for chunk in _chunks(sorted(seqs)):
        for item in _indexed(conn, config, minhashes.c.seq.in_(chunk)):
            index.add(item)
    return index


def _array(values: Sequence, item_type) -> BindParameter:
    from sqlalchemy.dialects import postgresql  # only ever used on PostgreSQL

    return bindparam(None, list(values), type_=postgresql.ARRAY(item_type))


def _load(conn: Connection, config: NearDupConfig, ids: Sequence[str]) -> dict[str, Indexed]:
    return {i.article_id: i for i in _indexed(conn, config, minhashes.c.article_id.in_(ids))}


def _indexed(conn: Connection, config: NearDupConfig, where) -> Iterator[Indexed]:
    query = (
        select(minhashes.c.article_id, minhashes.c.signature, articles.c.duplicate_of)
        .join(articles, articles.c.id == minhashes.c.article_id)
        .where(where)
    )
    return _rows_to_indexed(conn.execute(query), config)


def _rows_to_indexed(rows, config: NearDupConfig) -> Iterator[Indexed]:
    for article_id, signature, duplicate_of in rows:
        yield Indexed(
            article_id, Signature.from_bytes(signature, config), duplicate_of or article_id
        )


def _article_batches(conn: Connection, size: int) -> Iterator[list[tuple[str, str, str]]]:
    """Stored articles in ingestion order, in batches (ids first: no cursor left open while the
    caller writes on the same connection)."""
    ids = list(
        conn.execute(
            select(articles.c.id).order_by(
                articles.c.ingested_at, articles.c.first_sha256, articles.c.first_index
            )
        ).scalars()
    )
    for chunk in _chunks(ids, size):
        query = select(articles.c.id, articles.c.title, articles.c.body)
        rows = {row[0]: tuple(row) for row in conn.execute(query.where(articles.c.id.in_(chunk)))}
        yield [rows[article_id] for article_id in chunk]
