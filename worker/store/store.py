"""The results store: the file ledger and the article records, in one database.

Every write is idempotent (keyed by content), so a redelivered task changes nothing, and every
state change of the ledger is a conditional UPDATE, so two workers never both own one file.
"""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, Engine, and_, func, or_, select, update
from sqlalchemy.engine import RowMapping

from worker.dedupe.near import MinhashSignature, NearDupConfig, Signature
from worker.models import ArticleRecord, Source
from worker.store import near
from worker.store.db import create_store_engine, insert_ignore
from worker.store.schema import articles, chunks, drops, files, sources

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

FileState = Literal["queued", "processing", "split", "stored", "done", "failed"]
STATES: tuple[FileState, ...] = ("queued", "processing", "split", "stored", "done", "failed")


@dataclass(frozen=True, slots=True)
class Claim:
    outcome: Literal["queued", "duplicate"]
    file: RowMapping  # the ledger row of this content (the earlier one for a duplicate)


@dataclass(frozen=True, slots=True)
class PublishCounts:
    found: int  # every sighting of an article, repeats inside the file included, and failures
    new: int
    duplicates: int
    near_duplicates: int = 0  # of the new ones: versions of a story stored before
    failed: int = 0
    unplaced: int = 0
    file_complete: bool = True  # this publish stored the file's last chunk


@dataclass(frozen=True, slots=True)
class ChunkPlan:
    """A byte range of one part of a dump that starts on an article: a unit of work."""

    number: int
    part_path: str
    part_label: str
    encoding: str
    start_offset: int
    end_offset: int | None
    first_index: int
    first_line: int
    articles: int


class Store:
    """Ledger and records. Build one per process and share it; it holds the connection pool."""

    def __init__(self, engine: Engine, near_dup: NearDupConfig | None = None) -> None:
        self.engine = engine
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

    # --- ledger -------------------------------------------------------------------------------

    def claim(self, sha256: str, name: str, path: str, size: int, *, moves: bool = True) -> Claim:
        """Record a drop of these bytes; the first drop of a content queues it."""
        now = time.time()
        with self.engine.begin() as conn:
            inserted = conn.execute(
                insert_ignore(self.engine, files).values(
                    sha256=sha256,
                    name=name,
                    path=path,
                    size=size,
                    state="queued",
                    attempts=0,
                    enqueued_at=now,
                    created_at=now,
                    updated_at=now,
                    moves=int(moves),
                )
            ).rowcount
            outcome: Literal["queued", "duplicate"] = "queued" if inserted == 1 else "duplicate"
            conn.execute(
                drops.insert().values(sha256=sha256, name=name, dropped_at=now, outcome=outcome)
            )
            row = conn.execute(select(files).where(files.c.sha256 == sha256)).mappings().one()
        return Claim(outcome, row)

    def get_file(self, sha256: str) -> RowMapping | None:
        with self.engine.connect() as conn:
            return conn.execute(select(files).where(files.c.sha256 == sha256)).mappings().first()

    def start(self, sha256: str, task_id: str, lease_seconds: float) -> RowMapping | None:
        """Take a file for processing; None if it is done or another worker holds a live lease.

        A queued file becomes ``processing``. A file left ``processing`` or ``stored`` by a worker
        whose lease ran out, or by an earlier delivery of this same task, is taken over in the
        state it was left in.
        """
        now = time.time()
        # The same task id coming back means the broker redelivered it: the run that held the
        # lease is gone (acks late + reject on worker lost), so there is no need to wait it out.
        expired = or_(
            files.c.lease_until.is_(None), files.c.lease_until < now, files.c.task_id == task_id
        )
        lease = {"task_id": task_id, "lease_until": now + lease_seconds, "updated_at": now}
        with self.engine.begin() as conn:
            taken = conn.execute(
                update(files)
                .where(files.c.sha256 == sha256, files.c.state == "queued")
                .values(state="processing", attempts=files.c.attempts + 1, **lease)
            ).rowcount
            if not taken:
                taken = conn.execute(
                    update(files)
                    .where(
                        files.c.sha256 == sha256,
                        files.c.state.in_(("processing", "stored")),
                        expired,
                    )
                    .values(attempts=files.c.attempts + 1, **lease)
                ).rowcount
            if not taken:
                return None
            return conn.execute(select(files).where(files.c.sha256 == sha256)).mappings().one()

    def renew(self, sha256: str, lease_seconds: float) -> None:
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(
                update(files)
                .where(files.c.sha256 == sha256)
                .values(lease_until=now + lease_seconds, updated_at=now)
            )

    def mark_done(self, sha256: str) -> None:
        self._set_state(sha256, "done", lease_until=None)

    def mark_failed(
        self, sha256: str, error: dict[str, Any], final_path: str | None = None
    ) -> None:
        self._set_state(sha256, "failed", error=error, final_path=final_path, lease_until=None)

    def requeue(self, sha256: str, path: str | None = None) -> None:
        """Put a failed file back in the queue, attempts reset (after a fix). Chunks it had
        stored stay stored; the others start again from nothing."""
        values: dict[str, Any] = {"attempts": 0, "error": None, "enqueued_at": time.time()}
        if path is not None:
            values["path"] = path
        self._set_state(sha256, "queued", lease_until=None, final_path=None, **values)
        with self.engine.begin() as conn:
            conn.execute(
                update(chunks)
                .where(chunks.c.sha256 == sha256, chunks.c.state != "stored")
                .values(state="queued", attempts=0, lease_until=None, task_id=None)
            )

    def files_in_state(self, state: FileState) -> list[RowMapping]:
        with self.engine.connect() as conn:
            query = select(files).where(files.c.state == state).order_by(files.c.updated_at)
            return list(conn.execute(query).mappings())

    def _set_state(self, sha256: str, state: FileState | None, **values: Any) -> None:
        if state is not None:
            values["state"] = state
        values["updated_at"] = time.time()
        with self.engine.begin() as conn:
            conn.execute(update(files).where(files.c.sha256 == sha256).values(**values))

    def due_for_enqueue(self, requeue_after: float) -> list[str]:
        """Files whose message may be lost: queued too long, or a lease that ran out.

        Marks them as enqueued now, so that two reconcilers don't both send them.
        """
        now = time.time()
        stale = or_(
            and_(files.c.state == "queued", files.c.enqueued_at < now - requeue_after),
            and_(files.c.state.in_(("processing", "stored")), files.c.lease_until < now),
        )
        with self.engine.begin() as conn:
            due = list(conn.execute(select(files.c.sha256).where(stale)).scalars())
            if due:
                conn.execute(
                    update(files).where(files.c.sha256.in_(due), stale).values(enqueued_at=now)
                )
        return due

    def mark_enqueued(self, sha256: str) -> None:
        self._set_state(sha256, None, enqueued_at=time.time())

    # --- chunks ---------------------------------------------------------------------------------

    def split(
        self, sha256: str, plans: Sequence[ChunkPlan], encoding: str = ""
    ) -> list[RowMapping]:
        """Record a file's chunks (once: a re-run finds the same plan) and mark the file split.

        Returns the chunk rows, stored ones included."""
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(
                insert_ignore(self.engine, chunks),
                [
                    {
                        "sha256": sha256,
                        **{k: getattr(p, k) for k in ChunkPlan.__dataclass_fields__},
                        "state": "queued",
                        "attempts": 0,
                        "enqueued_at": now,
                    }
                    for p in plans
                ],
            )
            conn.execute(
                update(files)
                .where(files.c.sha256 == sha256, files.c.state == "processing")
                .values(state="split", lease_until=None, encoding=encoding, updated_at=now)
            )
            return list(
                conn.execute(
                    select(chunks).where(chunks.c.sha256 == sha256).order_by(chunks.c.number)
                ).mappings()
            )

    def chunk_rows(self, sha256: str) -> list[RowMapping]:
        with self.engine.connect() as conn:
            query = select(chunks).where(chunks.c.sha256 == sha256).order_by(chunks.c.number)
            return list(conn.execute(query).mappings())

    def start_chunk(
        self, sha256: str, number: int, task_id: str, lease_seconds: float
    ) -> RowMapping | None:
        """Take a chunk, like ``start`` takes a file: None if stored or leased by another."""
        now = time.time()
        key = and_(chunks.c.sha256 == sha256, chunks.c.number == number)
        takeable = or_(
            chunks.c.state == "queued",
            and_(
                chunks.c.state == "processing",
                or_(
                    chunks.c.lease_until.is_(None),
                    chunks.c.lease_until < now,
                    chunks.c.task_id == task_id,
                ),
            ),
        )
        with self.engine.begin() as conn:
            taken = conn.execute(
                update(chunks)
                .where(key, takeable)
                .values(
                    state="processing",
                    attempts=chunks.c.attempts + 1,
                    task_id=task_id,
                    lease_until=now + lease_seconds,
                )
            ).rowcount
            if not taken:
                return None
            return conn.execute(select(chunks).where(key)).mappings().one()

    def due_chunks(self, requeue_after: float) -> list[tuple[str, int]]:
        """Chunks of split files whose message or worker may be lost; marked as sent now."""
        now = time.time()
        stale = or_(
            and_(chunks.c.state == "queued", chunks.c.enqueued_at < now - requeue_after),
            and_(chunks.c.state == "processing", chunks.c.lease_until < now),
        )
        live = chunks.c.sha256.in_(select(files.c.sha256).where(files.c.state == "split"))
        with self.engine.begin() as conn:
            due = [
                (row.sha256, row.number)
                for row in conn.execute(select(chunks.c.sha256, chunks.c.number).where(stale, live))
            ]
            for sha256, number in due:
                conn.execute(
                    update(chunks)
                    .where(chunks.c.sha256 == sha256, chunks.c.number == number)
                    .values(enqueued_at=now)
                )
        return due

    # --- articles -------------------------------------------------------------------------------

    def publish(
        self,
        sha256: str,
        file_name: str,
        records: Sequence[ArticleRecord],
        *,
        failed: int,
        unplaced: int,
        encoding: str,
        final_path: str | None,
        signatures: Sequence[Signature | None] | None = None,
        chunk: int | None = None,
        index_range: tuple[int, int] | None = None,
    ) -> PublishCounts:
        """Store a file's articles and mark it stored, in one transaction.

        An article already in the store (same id) is not changed; this file is added to its
        sources. "New" counts the articles that this file brought first, so that the counts are
        the same whether or not an earlier attempt stored some of them before a crash.

        Each new article, in file order, is checked against the near-duplicate index under a lock
        that serializes these decisions across all workers (``worker/store/near.py``): a version of
        a stored story gets ``duplicate_of`` (that story's canonical id) and ``similarity``.

        Args:
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
            new, versions = self._count_first_seen(conn, sha256, ids, index_range)
            found = sum(len(r.sources) for r in records) + failed
            counts = PublishCounts(
                found=found,
                new=new,
                duplicates=found - failed - new,
                near_duplicates=versions,
                failed=failed,
                unplaced=unplaced,
            )
            if chunk is None:
                self._mark_stored(conn, sha256, counts, encoding, final_path, from_state=None)
            else:
                counts = self._store_chunk(conn, sha256, chunk, counts, encoding, final_path)
        return counts

    @staticmethod
    def _mark_stored(
        conn: Connection,
        sha256: str,
        counts: PublishCounts,
        encoding: str,
        final_path: str | None,
        from_state: FileState | None,
    ) -> int:
        query = update(files).where(files.c.sha256 == sha256)
        if from_state is not None:
            query = query.where(files.c.state == from_state)
        return conn.execute(
            query.values(
                state="stored",
                found=counts.found,
                new=counts.new,
                duplicates=counts.duplicates,
                near_duplicates=counts.near_duplicates,
                failed=counts.failed,
                unplaced=counts.unplaced,
                encoding=encoding,
                final_path=final_path,
                updated_at=time.time(),
            )
        ).rowcount

    def _store_chunk(
        self,
        conn: Connection,
        sha256: str,
        number: int,
        counts: PublishCounts,
        encoding: str,
        final_path: str | None,
    ) -> PublishCounts:
        conn.execute(
            update(chunks)
            .where(chunks.c.sha256 == sha256, chunks.c.number == number)
            .values(
                state="stored",
                lease_until=None,
                found=counts.found,
                new=counts.new,
                duplicates=counts.duplicates,
                near_duplicates=counts.near_duplicates,
                failed=counts.failed,
                unplaced=counts.unplaced,
            )
        )
        totals = conn.execute(
            select(
                func.count(),
                func.count().filter(chunks.c.state != "stored"),
                *(
                    func.coalesce(func.sum(chunks.c[name]), 0)
                    for name in ("found", "new", "duplicates", "near_duplicates", "failed")
                ),
                func.coalesce(func.sum(chunks.c.unplaced), 0),
            ).where(chunks.c.sha256 == sha256)
        ).one()
        _, remaining, found, new, duplicates, versions, failed, unplaced = totals
        if remaining:
            return dataclasses.replace(counts, file_complete=False)
        whole = PublishCounts(found, new, duplicates, versions, failed, unplaced)
        # only the publish that flips split → stored finishes the file
        flipped = self._mark_stored(conn, sha256, whole, encoding, final_path, from_state="split")
        return whole if flipped else dataclasses.replace(whole, file_complete=False)

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
        self, *, include_duplicates: bool = False, article_id: str | None = None
    ) -> Iterator[ArticleRecord]:
        """Records in the order they were first ingested, each with all its sources."""
        query = select(articles).order_by(
            articles.c.ingested_at, articles.c.first_sha256, articles.c.first_index
        )
        if article_id is not None:
            query = query.where(
                or_(articles.c.id == article_id, articles.c.duplicate_of == article_id)
            )
        elif not include_duplicates:
            query = query.where(articles.c.duplicate_of.is_(None))
        with self.engine.connect() as conn:
            found_sources: dict[str, list[Source]] = defaultdict(list)
            for row in conn.execute(
                select(sources).order_by(sources.c.article_id, sources.c.sha256, sources.c.idx)
            ).mappings():
                found_sources[row["article_id"]].append(
                    Source(
                        file=row["file"], sha256=row["sha256"], index=row["idx"], line=row["line"]
                    )
                )
            for row in conn.execute(query).mappings():
                yield _record(row, found_sources.get(row["id"], []))

    # --- re-enrichment --------------------------------------------------------------------------

    def article_ids(self, older_than: str | None = None) -> list[str]:
        """Ids of stored articles, all or those made by a pipeline older than ``older_than``."""
        from packaging.version import InvalidVersion, Version

        with self.engine.connect() as conn:
            rows = conn.execute(
                select(articles.c.id, articles.c.pipeline_version).order_by(articles.c.id)
            ).all()
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
        """What enrichment reads of stored articles: id, title, body, caption and credit."""
        columns = (
            articles.c.id,
            articles.c.title,
            articles.c.body,
            articles.c.image_caption,
            articles.c.image_credit,
            articles.c.first_index,
        )
        found: list[RowMapping] = []
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                query = select(*columns).where(articles.c.id.in_(ids[start : start + 500]))
                found.extend(conn.execute(query).mappings())
        order = {article_id: n for n, article_id in enumerate(ids)}
        return sorted(found, key=lambda row: order[row["id"]])

    def update_enrichment(self, updates: Sequence[dict[str, Any]]) -> int:
        """Replace the enrichment fields of stored articles; ids, text and links stay."""
        allowed = set(ENRICHED_FIELDS) | {"pipeline_version"}
        changed = 0
        with self.engine.begin() as conn:
            for values in updates:
                fields = {k: v for k, v in values.items() if k in allowed}
                changed += conn.execute(
                    update(articles).where(articles.c.id == values["id"]).values(**fields)
                ).rowcount
        return changed

    # --- status ---------------------------------------------------------------------------------

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
    )
