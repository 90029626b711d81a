"""The pipeline for one file: parse → dedupe → enrich → publish → finalize.

Plain functions over a ``Resources`` object built once per process. The Celery tasks, the
``ingest`` command and the tests all call these; none of this imports Celery.

The life of a file around these (leases, moves, failures) is ``worker/driver.py``'s.

A file is read as a stream. A first pass parses it without enrichment and plans its chunks
(``chunk_articles`` articles each, cut on article boundaries): a small file is then published at
once from that pass; a big one is *split*, each chunk a unit of work that any worker takes. The
publish that stores a file's last chunk finishes the file: moved, counted and logged once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import RowMapping

from worker import PIPELINE_VERSION, metrics
from worker.dedupe import NearDupConfig, article_id
from worker.enrich import EnrichPipeline, build_pipeline
from worker.files import copy_into_work, sha256_file
from worker.log import elapsed_ms, get_logger
from worker.models import ArticleRecord, FileSummary, ParsedArticle, Source, Unplaced
from worker.parse import (
    DumpPart,
    ReadLimits,
    iter_part,
    parse_dump,
    require_articles,
)
from worker.settings import Settings
from worker.store import ChunkPlan, PublishCounts, Store
from worker.timings import stage_ms

log = get_logger("newsingest.pipeline")

EnqueueChunk = Callable[[str, int], str]
_LOGGED_UNPLACED = 20  # per chunk: enough to find the problem, not a flood


@dataclass
class Resources:
    """What a process builds once and every file shares: store, enrichers, settings."""

    settings: Settings
    store: Store
    enrich: EnrichPipeline
    limits: ReadLimits = field(default_factory=ReadLimits)

    @classmethod
    def build(cls, settings: Settings, enrich: EnrichPipeline | None = None) -> Resources:
        """``enrich``: enrichers built before (a worker's main process builds them once, before
        its pool forks, and every child shares them); built here if None."""
        settings.ensure_dirs()
        store = Store.from_url(settings.resolved_store_url, NearDupConfig.from_settings(settings))
        return cls(settings, store, enrich if enrich is not None else build_pipeline(settings))


# --- parse, enrich, records ----------------------------------------------------------------------


def records_from_articles(
    articles: Sequence[ParsedArticle],
    labels: Sequence[str],
    sha256: str,
    file_name: str,
    enrich: EnrichPipeline,
) -> tuple[list[ArticleRecord], int]:
    """Enrich articles and make records: one per distinct text, with every place it was seen.

    An article an enricher failed on is a record too: that enricher's fields null, the reason in
    ``enrich_errors`` (``newsingest reenrich --failed`` runs the enrichers on it again).

    Returns:
        The records (all of them) and the number of articles (sightings) with an enricher error.
    """
    started = time.perf_counter()
    enriched = enrich.run(articles)
    log.info(
        "file.enriched",
        articles=len(articles),
        failed=len(enriched.errors),
        enrichers=enriched.timings_ms,
        duration_ms=stage_ms("enrich", started),
    )
    ingested_at = datetime.now(UTC).isoformat()
    by_id: dict[str, ArticleRecord] = {}
    for position, (article, label, fields) in enumerate(
        zip(articles, labels, enriched.fields, strict=True)
    ):
        place = f"{file_name}:{label}" if label else file_name
        source = Source(file=place, sha256=sha256, index=article.index, line=article.line)
        key = article_id(article)
        if key in by_id:  # the same text twice in one file: one record, two sources
            by_id[key].sources.append(source)
            continue
        record = ArticleRecord(
            id=key,
            title=article.title,
            body=article.body,
            image_caption=article.image_caption,
            image_credit=article.image_credit,
            sources=[source],
            ingested_at=ingested_at,
            pipeline_version=PIPELINE_VERSION,
            enrich_errors=enriched.errors.get(position),
        )
        for name, value in fields.items():
            setattr(record, name, value)
        by_id[key] = record
    return list(by_id.values()), len(enriched.errors)


def build_records(
    data: bytes, sha256: str, file_name: str, enrich: EnrichPipeline
) -> tuple[list[ArticleRecord], int, int, str]:
    """Parse and enrich a dump held in memory (benchmarks, tools).

    Returns:
        The records, the number of articles that failed enrichment, the number of unplaced lines
        and the encoding.
    """
    parsed = parse_dump(data)
    records, failed = records_from_articles(
        parsed.articles, parsed.labels, sha256, file_name, enrich
    )
    return records, failed, len(parsed.unplaced), parsed.encoding


@dataclass
class _Plan:
    """The first pass over a dump: its chunks, and its articles when it is only one chunk."""

    chunks: list[ChunkPlan]
    encoding: str
    articles: list[ParsedArticle] | None  # None once there is more than one chunk
    labels: list[str]
    unplaced: list[Unplaced]


def plan_dump(parts: Sequence[DumpPart], per_chunk: int, limits: ReadLimits) -> _Plan:
    """Parse every part without enriching and cut it into chunks of ``per_chunk`` articles.

    Memory stays bounded: articles are kept only while the whole dump still fits in one chunk.

    Raises:
        DumpError: (a subclass) bad bytes, or no article at all.
    """
    started = time.perf_counter()
    encoding = ",".join(dict.fromkeys(part.detected for part in parts))
    plan = _Plan(chunks=[], encoding=encoding, articles=[], labels=[], unplaced=[])
    total = 0
    for part in parts:
        start, first_index, first_line, count = 0, total, 1, 0
        for offset, item in iter_part(part, limits, first_index=total):
            if not isinstance(item, ParsedArticle):
                if len(plan.unplaced) < 10 * _LOGGED_UNPLACED:
                    plan.unplaced.append(item)
                continue
            if count == per_chunk:
                plan.chunks.append(
                    _chunk(len(plan.chunks), part, start, offset, first_index, first_line, count)
                )
                start, first_index, first_line, count = offset, item.index, item.line, 0
            count += 1
            total += 1
            if plan.articles is not None:
                plan.articles.append(item)
                plan.labels.append(part.label)
                if total > per_chunk:
                    plan.articles, plan.labels = None, []
        plan.chunks.append(
            _chunk(len(plan.chunks), part, start, None, first_index, first_line, count)
        )
    require_articles(total, plan.unplaced)
    log.info(
        "file.parsed",
        articles=total,
        chunks=len(plan.chunks),
        encoding=encoding,
        duration_ms=stage_ms("parse", started),
    )
    return plan


def _chunk(
    number: int,
    part: DumpPart,
    start: int,
    end: int | None,
    first_index: int,
    first_line: int,
    count: int,
) -> ChunkPlan:
    return ChunkPlan(
        number=number,
        part_path=str(part.path),
        part_label=part.label,
        encoding=part.encoding,
        start_offset=start,
        end_offset=end,
        first_index=first_index,
        first_line=first_line,
        articles=count,
    )


def log_unplaced(unplaced: Sequence[Unplaced]) -> None:
    for item in unplaced[:_LOGGED_UNPLACED]:
        log.warning("parse.unplaced_line", line=item.line, text=item.text[:120])


def publish_articles(
    resources: Resources,
    sha256: str,
    file_name: str,
    articles: Sequence[ParsedArticle],
    labels: Sequence[str],
    unplaced: int,
    encoding: str,
    owner: str,
    chunk: RowMapping | None = None,
) -> PublishCounts:
    """Enrich and store articles of a file (or of one chunk of it) held by ``owner``."""
    records, failed = records_from_articles(articles, labels, sha256, file_name, resources.enrich)
    # near-duplicate signatures: computed here, in parallel across workers, not under the lock
    started = time.perf_counter()
    signatures = resources.store.signer.many([(r.title, r.body) for r in records])
    stage_ms("sign", started)
    started = time.perf_counter()
    counts = resources.store.publish(
        sha256,
        file_name,
        records,
        failed=failed,
        unplaced=unplaced,
        encoding=encoding,
        owner=owner,
        lease_seconds=resources.settings.lease_seconds,
        signatures=signatures,
        chunk=None if chunk is None else chunk["number"],
        index_range=None
        if chunk is None
        else (chunk["first_index"], chunk["first_index"] + chunk["articles"]),
    )
    log.info(
        "chunk.stored" if chunk is not None else "file.stored",
        **({"chunk": chunk["number"]} if chunk is not None else {}),
        found=counts.found,
        new=counts.new,
        duplicates=counts.duplicates,
        near_duplicates=counts.near_duplicates,
        failed=counts.failed,
        duration_ms=stage_ms("publish", started),
    )
    metrics.observe_publish(counts)
    return counts


def summary_from_ledger(row: dict, state: str, file_name: str | None = None) -> FileSummary:
    return FileSummary(
        file=file_name or row["name"],
        sha256=row["sha256"],
        state=state,
        found=row["found"] or 0,
        new=0 if state == "duplicate" else row["new"] or 0,
        duplicates=(row["found"] or 0) if state == "duplicate" else row["duplicates"] or 0,
        failed=row["failed"] or 0,
        unplaced_lines=row["unplaced"] or 0,
        near_duplicates=0 if state == "duplicate" else row["near_duplicates"] or 0,
        error=row["error"],
        duplicate_of_file=row["name"] if state == "duplicate" else None,
    )


def _chunk_part(chunk: RowMapping) -> DumpPart:
    path = Path(chunk["part_path"])
    return DumpPart(chunk["part_label"], path, chunk["encoding"], 0, chunk["encoding"])


def publish_chunk(
    resources: Resources, file: RowMapping, chunk: RowMapping, owner: str
) -> PublishCounts:
    """Read, enrich and store one chunk of a split file."""
    started = time.perf_counter()
    articles: list[ParsedArticle] = []
    unplaced: list[Unplaced] = []
    for _, item in iter_part(
        _chunk_part(chunk),
        resources.limits,
        start=chunk["start_offset"],
        end=chunk["end_offset"],
        first_line=chunk["first_line"],
        first_index=chunk["first_index"],
    ):
        (articles if isinstance(item, ParsedArticle) else unplaced).append(item)
    log_unplaced(unplaced)
    log.info(
        "chunk.parsed",
        chunk=chunk["number"],
        articles=len(articles),
        duration_ms=stage_ms("parse", started),
    )
    labels = [chunk["part_label"]] * len(articles)
    return publish_articles(
        resources,
        file["sha256"],
        file["name"] if file["moves"] else file["path"],
        articles,
        labels,
        len(unplaced),
        file["encoding"],
        owner,
        chunk,
    )


# --- `newsingest reenrich`: new enrichers over stored articles ------------------------------------


def reenrich_articles(resources: Resources, ids: Sequence[str]) -> int:
    """Run the enrichers again on stored articles, from their stored text.

    Ids, text, sources and near-duplicate links are not touched: no re-parse, no de-duplication.
    ``enrich_errors`` becomes the errors of this run, plus the stored errors of enrichers that
    this pipeline does not run (their fields are still null): null once every enricher that
    failed on the article has succeeded. An enricher that fails now has its fields set null.
    Returns the number of records updated.
    """
    started = time.perf_counter()
    rows = resources.store.texts(ids)
    articles = [
        ParsedArticle(
            title=row["title"],
            paragraphs=tuple(row["body"].split("\n\n")),
            image_caption=row["image_caption"],
            image_credit=row["image_credit"],
            index=row["first_index"],
        )
        for row in rows
    ]
    enriched = resources.enrich.run(articles)
    ran = set(resources.enrich.names)
    updates = []
    for position, (row, fields) in enumerate(zip(rows, enriched.fields, strict=True)):
        errors = {
            name: reason for name, reason in (row["enrich_errors"] or {}).items() if name not in ran
        }
        errors.update(enriched.errors.get(position, {}))
        updates.append(
            {
                "id": row["id"],
                **fields,
                "enrich_errors": errors or None,
                "pipeline_version": PIPELINE_VERSION,
            }
        )
    changed = resources.store.update_enrichment(updates)
    log.info(
        "articles.reenriched",
        articles=changed,
        failed=len(enriched.errors),
        enrichers=enriched.timings_ms,
        pipeline_version=PIPELINE_VERSION,
        duration_ms=elapsed_ms(started),
    )
    return changed


# --- after a fix: `newsingest requeue` ------------------------------------------------------------


def requeue_failed(resources: Resources, failed_file: Path) -> str | None:
    """Put a quarantined file back to work (after a fix): returns its sha256 to enqueue, or None
    if the file is not a failed file of the ledger."""
    store = resources.store
    sha256 = sha256_file(failed_file)
    row = store.ledger.get_file(sha256)
    if row is None or row["state"] != "failed":
        log.warning(
            "file.requeue_refused",
            file=failed_file.name,
            sha256=sha256,
            state=row["state"] if row else None,
        )
        return None
    # copy, commit, then remove: a crash at any line leaves the file in failed/ or queued
    taken = copy_into_work(failed_file, resources.settings.work_dir)
    work_path = resources.settings.work_dir / taken.sha256
    if taken.sha256 != sha256 or not store.ledger.requeue(sha256, path=str(work_path)):
        log.warning("file.requeue_refused", file=failed_file.name, sha256=sha256, state="changed")
        return None
    failed_file.unlink(missing_ok=True)
    failed_file.with_name(failed_file.name + ".error.json").unlink(missing_ok=True)
    log.info("file.requeued_by_user", file=row["name"], sha256=sha256)
    return sha256


def failed_files(resources: Resources) -> list[Path]:
    """Quarantined files still in failed/, oldest first."""
    return [
        Path(row["final_path"])
        for row in resources.store.ledger.files_in_state("failed")
        if row["final_path"] and Path(row["final_path"]).exists()
    ]
