"""The pipeline for one file: parse → dedupe → enrich → publish → finalize.

Plain functions over a ``Resources`` object built once per process. The Celery tasks, the
``ingest`` command and the tests all call these; none of this imports Celery.

A file is read as a stream. A first pass parses it without enrichment and plans its chunks
(``chunk_articles`` articles each, cut on article boundaries): a small file is then published at
once from that pass; a big one is *split*, each chunk a unit of work that any worker takes. The
publish that stores a file's last chunk finishes the file: moved, counted and logged once.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import structlog
from sqlalchemy.engine import RowMapping

from worker import PIPELINE_VERSION
from worker.dedupe import NearDupConfig, article_id
from worker.enrich import EnrichPipeline, build_pipeline
from worker.errors import DumpError, FileChangedError
from worker.files import destination, move, sha256_file, write_error_report
from worker.log import get_logger
from worker.models import ArticleRecord, FileSummary, ParsedArticle, Source, Unplaced
from worker.parse import (
    DumpPart,
    ReadLimits,
    iter_part,
    parse_dump,
    prepare_dump,
    remove_scratch,
    require_articles,
)
from worker.settings import Settings
from worker.store import ChunkPlan, PublishCounts, Store

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
    def build(cls, settings: Settings) -> Resources:
        settings.ensure_dirs()
        store = Store.from_url(settings.resolved_store_url, NearDupConfig.from_settings(settings))
        return cls(settings, store, build_pipeline(settings))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


# --- parse, enrich, records ----------------------------------------------------------------------


def records_from_articles(
    articles: Sequence[ParsedArticle],
    labels: Sequence[str],
    sha256: str,
    file_name: str,
    enrich: EnrichPipeline,
) -> tuple[list[ArticleRecord], int]:
    """Enrich articles and make records: one per distinct text, with every place it was seen.

    Returns:
        The records and the number of articles that failed enrichment.
    """
    started = time.perf_counter()
    enriched = enrich.run(articles)
    log.info(
        "file.enriched",
        articles=len(articles),
        failed=len(enriched.errors),
        enrichers=enriched.timings_ms,
        duration_ms=_ms(started),
    )
    ingested_at = datetime.now(UTC).isoformat()
    by_id: dict[str, ArticleRecord] = {}
    for article, label, fields in zip(articles, labels, enriched.fields, strict=True):
        if fields is None:
            continue
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
        duration_ms=_ms(started),
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


def _log_unplaced(unplaced: Sequence[Unplaced]) -> None:
    for item in unplaced[:_LOGGED_UNPLACED]:
        log.warning("parse.unplaced_line", line=item.line, text=item.text[:120])


def _publish(
    resources: Resources,
    sha256: str,
    file_name: str,
    articles: Sequence[ParsedArticle],
    labels: Sequence[str],
    unplaced: int,
    encoding: str,
    final_path: Path | None,
    chunk: ChunkPlan | RowMapping | None = None,
) -> PublishCounts:
    records, failed = records_from_articles(articles, labels, sha256, file_name, resources.enrich)
    # near-duplicate signatures: computed here, in parallel across workers, not under the lock
    signatures = resources.store.signer.many([(r.title, r.body) for r in records])
    started = time.perf_counter()
    counts = resources.store.publish(
        sha256,
        file_name,
        records,
        failed=failed,
        unplaced=unplaced,
        encoding=encoding,
        final_path=str(final_path) if final_path else None,
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
        duration_ms=_ms(started),
    )
    return counts


def _summary(name: str, sha256: str, state: str, counts: PublishCounts) -> FileSummary:
    return FileSummary(
        file=name,
        sha256=sha256,
        state=state,
        found=counts.found,
        new=counts.new,
        duplicates=counts.duplicates,
        failed=counts.failed,
        unplaced_lines=counts.unplaced,
        near_duplicates=counts.near_duplicates,
    )


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


def _publish_chunk(
    resources: Resources, file: RowMapping, chunk: RowMapping, final_path: Path | None
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
    _log_unplaced(unplaced)
    log.info(
        "chunk.parsed", chunk=chunk["number"], articles=len(articles), duration_ms=_ms(started)
    )
    labels = [chunk["part_label"]] * len(articles)
    return _publish(
        resources,
        file["sha256"],
        file["name"] if file["moves"] else file["path"],
        articles,
        labels,
        len(unplaced),
        file["encoding"],
        final_path,
        chunk,
    )


# --- one-shot: `newsingest ingest FILE…` ---------------------------------------------------------


def ingest_in_place(resources: Resources, path: Path) -> FileSummary:
    """Process a file where it lies (not moved). Bytes done before, or being processed by the
    watcher's workers right now, are reported as a duplicate and not redone."""
    started = time.perf_counter()
    store = resources.store
    with structlog.contextvars.bound_contextvars(file=str(path)):
        try:
            size = path.stat().st_size
            sha256 = sha256_file(path)
        except OSError as exc:
            error = {"code": "unreadable", "message": str(exc), "line": None}
            log.error("file.failed", **error)
            return FileSummary(file=str(path), sha256="", state="failed", error=error)
        with structlog.contextvars.bound_contextvars(sha256=sha256):
            claim = store.claim(sha256, path.name, str(path), size, moves=False)
            row = claim.file
            if claim.outcome == "duplicate":
                ours = not row["moves"]  # an earlier `ingest` of these bytes, not the watcher's
                if row["state"] == "failed" and ours:
                    store.requeue(sha256, path=str(path))  # the user asks to try again
                elif row["state"] == "done" or not ours:
                    log.info("file.duplicate", first_seen_as=row["name"], state=row["state"])
                    return summary_from_ledger(dict(row), "duplicate", str(path))
            task_id = f"ingest-{uuid.uuid4()}"
            row = store.start(sha256, task_id, resources.settings.lease_seconds)
            if row is None:
                log.info("file.duplicate", first_seen_as=claim.file["name"], state="processing")
                return summary_from_ledger(dict(claim.file), "duplicate", str(path))
            scratch = resources.settings.work_dir / f"{sha256}.parts"
            try:
                counts = _run_in_place(resources, row, path, scratch, task_id)
            except DumpError as exc:
                store.mark_failed(sha256, exc.report())
                log.error("file.failed", **exc.report(), duration_ms=_ms(started))
                return FileSummary(
                    file=str(path), sha256=sha256, state="failed", error=exc.report()
                )
            finally:
                remove_scratch(scratch)
            store.mark_done(sha256)
            summary = _summary(str(path), sha256, "done", counts)
            _log_done(summary, started)
            return summary


def _run_in_place(
    resources: Resources, row: RowMapping, path: Path, scratch: Path, task_id: str
) -> PublishCounts:
    store, settings = resources.store, resources.settings
    parts = prepare_dump(path, scratch, resources.limits)
    plan = plan_dump(parts, settings.chunk_articles, resources.limits)
    if plan.articles is not None:
        _log_unplaced(plan.unplaced)
        return _publish(
            resources,
            row["sha256"],
            str(path),
            plan.articles,
            plan.labels,
            len(plan.unplaced),
            plan.encoding,
            None,
        )
    counts = None
    for chunk in store.split(row["sha256"], plan.chunks, plan.encoding):
        if chunk["state"] == "stored":
            continue
        taken = store.start_chunk(row["sha256"], chunk["number"], task_id, settings.lease_seconds)
        if taken is not None:
            counts = _publish_chunk(resources, row, taken, None)
    if counts is None or not counts.file_complete:
        raise FileChangedError("another process is working on the same bytes")
    return counts


def _log_done(summary: FileSummary, started: float, **extra: object) -> None:
    log.info(
        "file.done",
        found=summary.found,
        new=summary.new,
        duplicates=summary.duplicates,
        near_duplicates=summary.near_duplicates,
        failed=summary.failed,
        unplaced_lines=summary.unplaced_lines,
        **extra,
        duration_ms=_ms(started),
    )


# --- queued work: what the Celery tasks run -------------------------------------------------------


def process_queued_file(
    resources: Resources,
    sha256: str,
    task_id: str,
    enqueue_chunk: EnqueueChunk | None = None,
) -> FileSummary | None:
    """Process a file the watcher claimed: publish it whole, or split it into chunks for the
    workers (``enqueue_chunk``), then move it out of work/ once it is stored.

    Returns None when there is nothing to do (done already, or another worker holds the lease).
    Raises anything that is not the file's own fault, for the caller to retry.
    """
    settings, store = resources.settings, resources.store
    started = time.perf_counter()
    row = store.start(sha256, task_id, settings.lease_seconds)
    if row is None:
        current = store.get_file(sha256)
        if current is not None and current["state"] == "split" and enqueue_chunk is not None:
            _send_due_chunks(resources, sha256, enqueue_chunk)
            return None
        log.info("file.skipped", reason="not due", state=current["state"] if current else None)
        return None
    with structlog.contextvars.bound_contextvars(file=row["name"], sha256=sha256):
        return _process_started(resources, row, started, enqueue_chunk)


def _process_started(
    resources: Resources,
    row: RowMapping,
    started: float,
    enqueue_chunk: EnqueueChunk | None,
) -> FileSummary | None:
    settings, store = resources.settings, resources.store
    sha256, name = row["sha256"], row["name"]
    work_path = Path(row["path"])
    if row["attempts"] > settings.max_attempts:
        return _fail(resources, row, _too_many_attempts(row["attempts"]), started)
    final_path = destination(settings.processed_dir, name, sha256)
    if row["state"] == "stored":  # an earlier attempt died before the move: only that is left
        row = store.get_file(sha256) or row
        return _finish(resources, row, Path(row["final_path"]), started)

    scratch = settings.work_dir / f"{sha256}.parts"
    try:
        try:
            if sha256_file(work_path) != sha256:
                raise FileChangedError("the file changed after it was taken")
        except FileNotFoundError as exc:
            raise FileChangedError("the claimed file is missing from the work folder") from exc
        parts = prepare_dump(work_path, scratch, resources.limits)
        plan = plan_dump(parts, settings.chunk_articles, resources.limits)
        if plan.articles is not None:
            _log_unplaced(plan.unplaced)
            _publish(
                resources,
                sha256,
                name,
                plan.articles,
                plan.labels,
                len(plan.unplaced),
                plan.encoding,
                final_path,
            )
            return _finish(resources, store.get_file(sha256) or row, final_path, started)
    except DumpError as exc:
        return _fail(resources, row, exc.report(), started)

    # A big dump: every worker takes chunks of it; the last chunk stored finishes the file.
    chunks = store.split(sha256, plan.chunks, plan.encoding)
    log.info("file.split", chunks=len(chunks), articles=sum(c["articles"] for c in chunks))
    if enqueue_chunk is None:
        raise RuntimeError("a split file needs a way to enqueue its chunks")
    for chunk in chunks:
        if chunk["state"] != "stored":
            enqueue_chunk(sha256, chunk["number"])
    return FileSummary(file=name, sha256=sha256, state="split")


def _send_due_chunks(resources: Resources, sha256: str, enqueue_chunk: EnqueueChunk) -> None:
    for chunk in resources.store.chunk_rows(sha256):
        if chunk["state"] == "queued":
            enqueue_chunk(sha256, chunk["number"])


def process_queued_chunk(
    resources: Resources, sha256: str, number: int, task_id: str
) -> FileSummary | None:
    """Store one chunk of a split file; the worker that stores the last one finishes the file."""
    settings, store = resources.settings, resources.store
    started = time.perf_counter()
    file = store.get_file(sha256)
    if file is None or file["state"] != "split":
        log.info("chunk.skipped", sha256=sha256, chunk=number, state=file and file["state"])
        return None
    chunk = store.start_chunk(sha256, number, task_id, settings.lease_seconds)
    if chunk is None:
        log.info("chunk.skipped", sha256=sha256, chunk=number, reason="stored or leased")
        return None
    with structlog.contextvars.bound_contextvars(file=file["name"], sha256=sha256, chunk=number):
        if chunk["attempts"] > settings.max_attempts:
            return _fail(resources, file, _too_many_attempts(chunk["attempts"], number), started)
        final_path = destination(settings.processed_dir, file["name"], sha256)
        try:
            counts = _publish_chunk(resources, file, chunk, final_path)
        except DumpError as exc:
            return _fail(resources, file, exc.report(), started)
        if not counts.file_complete:
            return None
        return _finish(resources, store.get_file(sha256) or file, final_path, started)


def _too_many_attempts(attempts: int, chunk: int | None = None) -> dict[str, object]:
    where = f" (chunk {chunk})" if chunk is not None else ""
    return {
        "code": "too_many_attempts",
        "message": f"started {attempts - 1} times{where} without finishing (crash or timeout)",
        "line": None,
        "hint": "look for a worker crash in the logs for this file, then `newsingest requeue`",
    }


def _finish(resources: Resources, row: RowMapping, final_path: Path, started: float) -> FileSummary:
    """The file's articles are stored: move it to processed/, clean up, mark it done."""
    sha256 = row["sha256"]
    _finish_move(Path(row["path"]), final_path)
    remove_scratch(resources.settings.work_dir / f"{sha256}.parts")
    resources.store.mark_done(sha256)
    summary = summary_from_ledger(dict(row), "done")
    _log_done(summary, started, moved_to=str(final_path))
    return summary


def _finish_move(work_path: Path, final_path: Path) -> None:
    if work_path.exists():
        move(work_path, final_path)
    elif not final_path.exists():
        log.warning("file.move_lost", expected=str(final_path))


def _fail(resources: Resources, row: RowMapping, error: dict, started: float) -> FileSummary:
    """Quarantine: the bytes go to failed/ as they arrived, with a report beside them."""
    settings, store = resources.settings, resources.store
    sha256, name = row["sha256"], row["name"]
    work_path = Path(row["path"])
    target = destination(settings.failed_dir, name, sha256)
    if work_path.exists():
        move(work_path, target)
        write_error_report(
            target, {"file": name, "sha256": sha256, **error, "attempts": row["attempts"]}
        )
    remove_scratch(settings.work_dir / f"{sha256}.parts")
    store.mark_failed(sha256, error, str(target))
    log.error("file.failed", **error, moved_to=str(target), duration_ms=_ms(started))
    return FileSummary(file=name, sha256=sha256, state="failed", error=error)


# --- `newsingest reenrich`: new enrichers over stored articles ------------------------------------


def reenrich_articles(resources: Resources, ids: Sequence[str]) -> int:
    """Run the enrichers again on stored articles, from their stored text.

    Ids, text, sources and near-duplicate links are not touched: no re-parse, no de-duplication.
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
    updates = [
        {"id": row["id"], **fields, "pipeline_version": PIPELINE_VERSION}
        for row, fields in zip(rows, enriched.fields, strict=True)
        if fields is not None
    ]
    changed = resources.store.update_enrichment(updates)
    log.info(
        "articles.reenriched",
        articles=changed,
        failed=len(enriched.errors),
        enrichers=enriched.timings_ms,
        pipeline_version=PIPELINE_VERSION,
        duration_ms=_ms(started),
    )
    return changed


# --- after a fix: `newsingest requeue` ------------------------------------------------------------


def requeue_failed(resources: Resources, failed_file: Path) -> str | None:
    """Put a quarantined file back to work (after a fix): returns its sha256 to enqueue, or None
    if the file is not a failed file of the ledger."""
    store = resources.store
    sha256 = sha256_file(failed_file)
    row = store.get_file(sha256)
    if row is None or row["state"] != "failed":
        log.warning(
            "file.requeue_refused",
            file=failed_file.name,
            sha256=sha256,
            state=row["state"] if row else None,
        )
        return None
    work_path = resources.settings.work_dir / sha256
    move(failed_file, work_path)
    failed_file.with_name(failed_file.name + ".error.json").unlink(missing_ok=True)
    store.requeue(sha256, path=str(work_path))
    log.info("file.requeued_by_user", file=row["name"], sha256=sha256)
    return sha256


def failed_files(resources: Resources) -> list[Path]:
    """Quarantined files still in failed/, oldest first."""
    return [
        Path(row["final_path"])
        for row in resources.store.files_in_state("failed")
        if row["final_path"] and Path(row["final_path"]).exists()
    ]
