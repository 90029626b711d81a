"""The results store: the article records, beside the file ledger (``ledger.py``) in one database.

Every write is idempotent (keyed by content), so a redelivered task changes nothing. The publish
that stores a file's articles moves its ledger row on in the same transaction, through the ledger.
"""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    and_,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.engine import RowMapping

from worker.dedupe.near import MinhashSignature, NearDupConfig, Signature
from worker.models import ArticleRecord, Source
from worker.store import near
from worker.store.db import create_store_engine, insert_ignore
from worker.store.ledger import STATES, Ledger, PublishCounts
from worker.store.query import ArticleFilter, article_query, count_query, filter_clauses
from worker.store.schema import (
    articles,
    chunks,
    drops,
    files,
    outbox,
    outbox_cursors,
    sources,
)

# PostgreSQL NOTIFY channel of new announcements (payload empty: read the outbox)
NOTIFY = "newsingest_articles"

# Record fields that enrichers own (and `newsingest reenrich` may rewrite).
ENRICHED_FIELDS = (
    "lead",
    "language",
    "word_count",
    "reading_time_s",
    "image_credit",
    "entities",
    "countries",
    "keywords",
    "quotes",
)
_PAGE = 500  # records read at a time by iter_articles (and their sources with them)


class Store:
    """Ledger and records. Build one per process and share it; it holds the connection pool."""

    def __init__(self, engine: Engine, near_dup: NearDupConfig | None = None) -> None:
        self.engine = engine
        self.ledger = Ledger(engine)
        self.near_dup = near_dup or NearDupConfig()
        self._signer: MinhashSignature | None = None

    @classmethod
    def from_url(cls, url: str, near_dup: NearDupConfig | None = None) -> Store:
        return cls(create_store_engine(url), near_dup)

    @property
    def signer(self) -> MinhashSignature:
        if self._signer is None:
            self._signer = MinhashSignature(self.near_dup)
        return self._signer

    def close(self) -> None:
        self.engine.dispose()

    # --- articles -------------------------------------------------------------------------------

    def publish(
        self,
        sha256: str,
        file_name: str,
        records: Sequence[ArticleRecord],
        *,
        owner: str,
        failed: int,
        unplaced: int,
        encoding: str,
        signatures: Sequence[Signature | None] | None = None,
        chunk: int | None = None,
        index_range: tuple[int, int] | None = None,
        lease_seconds: float = 30.0,
    ) -> PublishCounts:
        """Store a file's articles and mark it stored, in one transaction.

        An article already in the store (same id) is not changed; this file is added to its
        sources. "New" counts the articles that this file brought first, so that the counts are
        the same whether or not an earlier attempt stored some of them before a crash.

        Records an enricher failed on are stored like the others (``enrich_errors`` set): they
        count in ``found`` and in ``new`` or ``duplicates``; ``failed`` (given by the caller) says
        how many of the sightings had an enricher error.

        Each new article, in file order, is checked against the near-duplicate index under a lock
        that serializes these decisions across all workers (``worker/store/near.py``): a version of
        a stored story gets ``duplicate_of`` (that story's canonical id) and ``similarity``.

        Args:
            owner: the lease holder publishing: if it no longer holds the file (or chunk), the
                transaction rolls back with ``LeaseLostError``.
            signatures: the records' MinHash signatures, if the caller has them; else computed
                here, before the transaction opens.
            chunk: the chunk these records come from: the chunk is marked stored, and the file
                only when this was its last chunk (``file_complete``); exactly one publish sees
                that, since publishes are serialized (see ``near.lock``).
            index_range: the article indexes of that chunk, ``[first, end)``.
        """
        if signatures is None:
            signatures = self.signer.many([(r.title, r.body) for r in records])
        article_rows = [
            {
                "id": r.id,
                "title": r.title,
                "body": r.body,
                "image_caption": r.image_caption,
                "image_credit": r.image_credit,
                "lead": r.lead,
                "language": r.language,
                "word_count": r.word_count,
                "reading_time_s": r.reading_time_s,
                "entities": r.entities,
                "countries": r.countries,
                "keywords": r.keywords,
                "quotes": r.quotes,
                "duplicate_of": r.duplicate_of,
                "similarity": r.similarity,
                "first_sha256": sha256,
                "first_index": r.sources[0].index,
                "ingested_at": r.ingested_at,
                "pipeline_version": r.pipeline_version,
                "enrich_errors": r.enrich_errors or None,
            }
            for r in records
        ]
        source_rows = [
            {
                "sha256": s.sha256,
                "idx": s.index,
                "article_id": r.id,
                "file": s.file,
                "line": s.line,
            }
            for r in records
            for s in r.sources
        ]
        ids = sorted({r.id for r in records})
        with self.engine.begin() as conn:
            near.lock(conn)
            near.check_config(conn, self.near_dup)
            stored = near.existing_ids(conn, ids)
            # an id already stored (an exact duplicate, or this very file redelivered) is no news
            fresh = [
                near.NewArticle(r.id, sig)
                for r, sig in zip(records, signatures, strict=True)
                if r.id not in stored
            ]
            links = near.decide(conn, self.near_dup, fresh)
            for row in article_rows:
                if row["id"] in links:
                    row["duplicate_of"] = links[row["id"]].duplicate_of
                    row["similarity"] = round(links[row["id"]].similarity, 4)
            if article_rows:
                conn.execute(insert_ignore(self.engine, articles), article_rows)
                conn.execute(insert_ignore(self.engine, sources), source_rows)
                near.add(conn, fresh)
            if fresh:
                # announced in this transaction: committed together, or not at all (outbox)
                announced_at = time.time()
                conn.execute(
                    insert(outbox),
                    [
                        {"article_id": a.article_id, "file": file_name, "created_at": announced_at}
                        for a in fresh
                    ],
                )
                if conn.dialect.name == "postgresql":
                    # delivered at commit, to `tail --follow` and relays waiting on LISTEN
                    conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": NOTIFY})
            new, versions = self._count_first_seen(conn, sha256, ids, index_range)
            # every sighting; failed enrichment is stored now, so it is among them, not extra
            found = sum(len(r.sources) for r in records)
            counts = PublishCounts(
                found=found,
                new=new,
                duplicates=found - new,
                near_duplicates=versions,
                failed=failed,
                unplaced=unplaced,
            )
            if chunk is None:
                self.ledger.mark_stored(conn, sha256, owner, counts, encoding)
            else:
                counts = self.ledger.store_chunk(
                    conn, sha256, chunk, owner, counts, encoding, lease_seconds
                )
        return counts

    @staticmethod
    def _count_first_seen(
        conn: Connection,
        sha256: str,
        ids: Sequence[str],
        index_range: tuple[int, int] | None = None,
    ) -> tuple[int, int]:
        """Articles this file (this chunk of it) brought first, and how many are near-duplicates.

        An article seen in two chunks of one file is new only in the chunk of its first sighting.
        """
        total = versions = 0
        first_here = articles.c.first_sha256 == sha256
        if index_range is not None:
            first_here = and_(
                first_here,
                articles.c.first_index >= index_range[0],
                articles.c.first_index < index_range[1],
            )
        # batches keep the IN list under SQLite's variable limit
        for start in range(0, len(ids), 500):
            batch = ids[start : start + 500]
            first, linked = conn.execute(
                select(func.count(), func.count(articles.c.duplicate_of))
                .select_from(articles)
                .where(articles.c.id.in_(batch), first_here)
            ).one()
            total += first
            versions += linked
        return total, versions

    def iter_articles(
        self,
        selected: ArticleFilter | None = None,
        *,
        include_duplicates: bool = False,
        article_id: str | None = None,
        limit: int | None = None,
    ) -> Iterator[ArticleRecord]:
        """Records in the order they were first ingested, each with all its sources: those
        ``selected`` keeps (``worker/store/query.py``), or, without it, canonical records (all
        with ``include_duplicates``; one story with ``article_id``), at most ``limit``.

        Streamed: read a page of records at a time (on PostgreSQL through a server-side cursor),
        with the sources of that page only, so that neither a big store nor a ``limit`` of 10
        reads more than it needs, and memory does not grow with the store."""
        if selected is None:
            selected = ArticleFilter(
                include_duplicates=include_duplicates, versions_of=article_id, limit=limit
            )
        yield from (
            record for _, record in self._stream(article_query(selected, self.engine.dialect.name))
        )

    def iter_announced(
        self, after_seq: int, selected: ArticleFilter | None = None, *, through: int
    ) -> Iterator[tuple[int, ArticleRecord]]:
        """Records announced in the outbox in ``(after_seq, through]``, in commit order, with
        their announcement numbers: those that ``selected`` keeps (versions included)."""
        selected = selected or ArticleFilter(include_duplicates=True)
        if not selected.include_duplicates and selected.versions_of is None:
            selected = dataclasses.replace(selected, include_duplicates=True)
        clauses = filter_clauses(
            dataclasses.replace(selected, limit=None), self.engine.dialect.name
        )
        query = (
            select(articles, outbox.c.seq)
            .join(outbox, outbox.c.article_id == articles.c.id)
            .where(outbox.c.seq > after_seq, outbox.c.seq <= through, *clauses)
            .order_by(outbox.c.seq)
        )
        yield from self._stream(query)

    def announced_before_last(self, count: int) -> int:
        """The position to read from for the last ``count`` announcements: the seq just before
        the ``count``-th newest (numbers may have gaps: a publish rolled back burns some)."""
        if count <= 0:
            return self.last_announced()
        with self.engine.connect() as conn:
            found = conn.execute(
                select(outbox.c.seq).order_by(outbox.c.seq.desc()).offset(count - 1).limit(1)
            ).scalar()
        return 0 if found is None else int(found) - 1

    def last_announced(self) -> int:
        """The newest announcement's number (0: none yet)."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.coalesce(func.max(outbox.c.seq), 0))).scalar_one()

    def announcements(self, after_seq: int, limit: int = 500) -> list[Announcement]:
        """What relays deliver: the outbox after ``after_seq``, in commit order, with the
        fields of the stream entry."""
        query = (
            select(
                outbox.c.seq,
                outbox.c.file,
                articles.c.id,
                articles.c.title,
                articles.c.language,
                articles.c.countries,
                articles.c.duplicate_of,
                articles.c.ingested_at,
            )
            .join(articles, articles.c.id == outbox.c.article_id)
            .where(outbox.c.seq > after_seq)
            .order_by(outbox.c.seq)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [Announcement(**row) for row in conn.execute(query).mappings()]

    def cursor(self, destination: str) -> int:
        """How far ``destination`` has delivered (0: nothing yet)."""
        with self.engine.connect() as conn:
            found = conn.execute(
                select(outbox_cursors.c.last_seq).where(outbox_cursors.c.destination == destination)
            ).scalar()
        return int(found or 0)

    def advance_cursor(self, destination: str, seq: int) -> None:
        """``destination`` delivered everything up to ``seq``; never moves a cursor back (two
        relays racing each other at worst re-deliver)."""
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(
                insert_ignore(self.engine, outbox_cursors).values(
                    destination=destination, last_seq=0, updated_at=now
                )
            )
            conn.execute(
                update(outbox_cursors)
                .where(outbox_cursors.c.destination == destination, outbox_cursors.c.last_seq < seq)
                .values(last_seq=seq, updated_at=now)
            )

    def _stream(self, query: Any) -> Iterator[tuple[int | None, ArticleRecord]]:
        """Rows of ``query`` (articles' columns, perhaps an outbox ``seq``) as records with
        their sources, a page at a time."""
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # a reader paused by its consumer (`articles | less`) sits idle in its
                # transaction between pages: it holds no row lock, so the session timeout meant
                # for stuck writers (db.PG_IDLE_IN_TRANSACTION_TIMEOUT_S) is lifted for it alone
                conn.exec_driver_sql("SET LOCAL idle_in_transaction_session_timeout = 0")
            result = conn.execution_options(stream_results=True).execute(query).mappings()
            for page in result.partitions(_PAGE):
                found_sources: dict[str, list[Source]] = defaultdict(list)
                ids = [row["id"] for row in page]
                for row in conn.execute(
                    select(sources)
                    .where(sources.c.article_id.in_(ids))
                    .order_by(sources.c.article_id, sources.c.sha256, sources.c.idx)
                ).mappings():
                    found_sources[row["article_id"]].append(
                        Source(
                            file=row["file"],
                            sha256=row["sha256"],
                            index=row["idx"],
                            line=row["line"],
                        )
                    )
                for row in page:
                    yield row.get("seq"), _record(row, found_sources.get(row["id"], []))

    def count_articles(self, selected: ArticleFilter) -> int:
        """How many records ``iter_articles(selected)`` gives."""
        with self.engine.connect() as conn:
            return conn.execute(count_query(selected, self.engine.dialect.name)).scalar_one()

    # --- re-enrichment --------------------------------------------------------------------------

    def article_ids(self, older_than: str | None = None, *, failed: bool = False) -> list[str]:
        """Ids of stored articles: all, or those made by a pipeline older than ``older_than``,
        and with ``failed`` only those an enricher failed on (``enrich_errors`` set)."""
        from packaging.version import InvalidVersion, Version

        query = select(articles.c.id, articles.c.pipeline_version).order_by(articles.c.id)
        if failed:
            query = query.where(articles.c.enrich_errors.isnot(None))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        if older_than is None:
            return [row.id for row in rows]
        limit = Version(older_than)

        def older(version: str) -> bool:
            try:
                return Version(version) < limit
            except InvalidVersion:  # not a version we ever wrote: treat as oldest
                return True

        return [row.id for row in rows if older(row.pipeline_version)]

    def texts(self, ids: Sequence[str]) -> list[RowMapping]:
        """What enrichment reads of stored articles: id, title, body, caption and credit, and the
        enricher errors it had."""
        columns = (
            articles.c.id,
            articles.c.title,
            articles.c.body,
            articles.c.image_caption,
            articles.c.image_credit,
            articles.c.first_index,
            articles.c.enrich_errors,
        )
        found: list[RowMapping] = []
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                query = select(*columns).where(articles.c.id.in_(ids[start : start + 500]))
                found.extend(conn.execute(query).mappings())
        order = {article_id: n for n, article_id in enumerate(ids)}
        return sorted(found, key=lambda row: order[row["id"]])

    def update_enrichment(self, updates: Sequence[dict[str, Any]]) -> int:
        """Replace the enrichment fields of stored articles (and their ``enrich_errors``); ids,
        text and links stay."""
        allowed = set(ENRICHED_FIELDS) | {"pipeline_version", "enrich_errors"}
        changed = 0
        with self.engine.begin() as conn:
            for values in updates:
                fields = {k: v for k, v in values.items() if k in allowed}
                changed += conn.execute(
                    update(articles).where(articles.c.id == values["id"]).values(**fields)
                ).rowcount
        return changed

    # --- status ---------------------------------------------------------------------------------

    def metrics_snapshot(self) -> dict[str, Any]:
        """What the watcher's metrics endpoint reads at each scrape, in three queries: files by
        state, failed files by error code, the arrival time (``created_at``) of the oldest file
        not yet done nor failed (None: none), and the article counts of ``status``."""
        code = files.c.error["code"].as_string()  # json_extract on SQLite, ->> on PostgreSQL
        with self.engine.connect() as conn:
            by_state = dict.fromkeys(STATES, 0)
            oldest: float | None = None
            for state, count, first in conn.execute(
                select(files.c.state, func.count(), func.min(files.c.created_at)).group_by(
                    files.c.state
                )
            ):
                by_state[state] = count
                if state in PENDING_STATES and (oldest is None or first < oldest):
                    oldest = first
            failures = {
                (found or "unknown"): count
                for found, count in conn.execute(
                    select(code, func.count()).where(files.c.state == "failed").group_by(code)
                )
            }
            records, versions, sightings, duplicate_files = conn.execute(
                select(
                    select(func.count()).select_from(articles).scalar_subquery(),
                    select(func.count(articles.c.duplicate_of)).scalar_subquery(),
                    select(func.count()).select_from(sources).scalar_subquery(),
                    select(func.count())
                    .select_from(drops)
                    .where(drops.c.outcome == "duplicate")
                    .scalar_subquery(),
                )
            ).one()
        return {
            "files": by_state,
            "failures": failures,
            "oldest_pending_at": oldest,
            "articles": records - versions,  # stories, as in status()
            "versions": versions,
            "exact_duplicates": sightings - records,
            "duplicate_files": duplicate_files,
        }

    def status(self, recent_failures: int = 5) -> dict[str, Any]:
        with self.engine.connect() as conn:
            by_state = dict.fromkeys(STATES, 0)
            for state, count in conn.execute(
                select(files.c.state, func.count()).group_by(files.c.state)
            ):
                by_state[state] = count
            article_count = conn.execute(select(func.count()).select_from(articles)).scalar_one()
            near_duplicates = conn.execute(
                select(func.count())
                .select_from(articles)
                .where(articles.c.duplicate_of.isnot(None))
            ).scalar_one()
            sightings = conn.execute(select(func.count()).select_from(sources)).scalar_one()
            duplicate_files = conn.execute(
                select(func.count()).select_from(drops).where(drops.c.outcome == "duplicate")
            ).scalar_one()
            failures = [
                {
                    "file": row["name"],
                    "sha256": row["sha256"],
                    "code": (row["error"] or {}).get("code"),
                    "message": (row["error"] or {}).get("message"),
                    "path": row["final_path"],
                }
                for row in conn.execute(
                    select(files)
                    .where(files.c.state == "failed")
                    .order_by(files.c.updated_at.desc())
                    .limit(recent_failures)
                ).mappings()
            ]
        return {
            "files": by_state,
            "duplicate_files": duplicate_files,
            "articles": article_count - near_duplicates,
            "near_duplicates": near_duplicates,
            # every sighting of a text beyond its first is an exact duplicate
            "exact_duplicates": sightings - article_count,
            "recent_failures": failures,
        }

    def oldest_pending_age(self, now: float | None = None) -> float | None:
        """Seconds since the oldest file not yet done nor failed first arrived (its ledger row's
        ``created_at``); None when nothing is pending. A file requeued after a fix counts from
        its first arrival: the ledger keeps no time of the requeue apart from re-sends."""
        now = time.time() if now is None else now
        with self.engine.connect() as conn:
            oldest = conn.execute(
                select(func.min(files.c.created_at)).where(files.c.state.in_(PENDING_STATES))
            ).scalar_one()
        return None if oldest is None else max(0.0, now - oldest)

    def articles_by_minute(self, minutes: int = 5, now: float | None = None) -> list[MinuteCount]:
        """New article records stored in each of the last ``minutes`` UTC minutes, oldest first;
        the last is the current minute, still running. Exact duplicates make no record (only a
        source), so they are not counted.

        One indexed range query (``ix_articles_order`` leads with ``ingested_at``), grouped by
        the minute as text: ISO 8601 text on SQLite (its first 16 characters), ``timestamptz``
        on PostgreSQL (formatted in UTC)."""
        now = time.time() if now is None else now
        keys = [_minute_key(now - 60 * back) for back in range(minutes - 1, -1, -1)]
        if self.engine.dialect.name == "postgresql":
            minute = func.to_char(
                func.timezone("UTC", articles.c.ingested_at), 'YYYY-MM-DD"T"HH24:MI'
            )
        else:
            minute = func.substr(articles.c.ingested_at, 1, 16)
        with self.engine.connect() as conn:
            counted = dict(
                conn.execute(
                    select(minute, func.count())
                    .where(articles.c.ingested_at >= f"{keys[0]}:00+00:00")
                    .group_by(minute)
                ).all()
            )
        # minutes ahead of this clock (another host's) are not "the last minutes": left out
        return [MinuteCount(key, counted.get(key, 0)) for key in keys]

    def busy_holders(self, now: float | None = None) -> list[dict[str, Any]]:
        """Work held under a live lease right now: one row per file or chunk being processed,
        with its holder (a Celery task id, or ``ingest-<uuid>``). Each worker process holds one
        piece at a time, so distinct holders are the worker processes busy now; idle ones hold
        nothing and are not seen."""
        now = time.time() if now is None else now
        held_files = select(
            files.c.task_id.label("holder"),
            files.c.name.label("file"),
            literal(None, Integer).label("chunk"),
            files.c.lease_until,
        ).where(files.c.state.in_(("processing", "stored")), files.c.lease_until > now)
        held_chunks = (
            select(
                chunks.c.task_id.label("holder"),
                files.c.name.label("file"),
                chunks.c.number.label("chunk"),
                chunks.c.lease_until,
            )
            .join(files, files.c.sha256 == chunks.c.sha256)
            .where(chunks.c.state == "processing", chunks.c.lease_until > now)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(held_files.union_all(held_chunks)).mappings().all()
        return sorted(
            (
                {
                    "holder": row["holder"],
                    "file": row["file"],
                    "chunk": row["chunk"],
                    "lease_left_s": round(row["lease_until"] - now, 1),
                }
                for row in rows
            ),
            key=lambda held: (held["file"], held["chunk"] if held["chunk"] is not None else -1),
        )


# Not yet done nor failed: waiting, being worked on, or stored and waiting for the move.
# every state but the two final ones
PENDING_STATES = tuple(state for state in STATES if state not in ("done", "failed"))


@dataclass(frozen=True, slots=True)
class Announcement:
    """A new record as the outbox announces it (the Redis stream entry, the webhook's item)."""

    seq: int
    id: str
    title: str
    language: str | None
    countries: list[str] | None
    duplicate_of: str | None
    file: str
    ingested_at: str


@dataclass(frozen=True, slots=True)
class MinuteCount:
    minute: str  # "2026-11-25T17:47", UTC
    articles: int


def _minute_key(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()[:16]


def _record(row: RowMapping, found_sources: list[Source]) -> ArticleRecord:
    return ArticleRecord(
        id=row["id"],
        title=row["title"],
        body=row["body"],
        image_caption=row["image_caption"],
        image_credit=row["image_credit"],
        lead=row["lead"],
        language=row["language"],
        word_count=row["word_count"],
        reading_time_s=row["reading_time_s"],
        entities=row["entities"],
        countries=row["countries"],
        keywords=row["keywords"],
        quotes=row["quotes"],
        duplicate_of=row["duplicate_of"],
        similarity=row["similarity"],
        sources=found_sources,
        ingested_at=row["ingested_at"],
        pipeline_version=row["pipeline_version"],
        enrich_errors=row["enrich_errors"] or None,
    )
