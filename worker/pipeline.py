"""The pipeline for one file: parse → dedupe → enrich → publish → finalize.

Plain functions over a ``Resources`` object built once per process. The Celery task, the
``ingest`` command and the tests all call these; none of this imports Celery.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass
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
from worker.models import ArticleRecord, FileSummary, Source
from worker.parse import parse_dump
from worker.settings import Settings
from worker.store import Store

log = get_logger("newsingest.pipeline")


@dataclass
class Resources:
    """What a process builds once and every file shares: store, enrichers, settings."""

    settings: Settings
    store: Store
    enrich: EnrichPipeline

    @classmethod
    def build(cls, settings: Settings) -> Resources:
        settings.ensure_dirs()
        store = Store.from_url(settings.resolved_store_url, NearDupConfig.from_settings(settings))
        return cls(settings, store, build_pipeline(settings))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def build_records(
    data: bytes, sha256: str, file_name: str, enrich: EnrichPipeline
) -> tuple[list[ArticleRecord], int, int, str]:
    """Parse and enrich a dump.

    Returns:
        The records (one per distinct text, each with every place it was seen in this file), the
        number of articles that failed enrichment, the number of unplaced lines, the encoding.
    """
    started = time.perf_counter()
    parsed = parse_dump(data)
    for unplaced in parsed.unplaced:
        log.warning("parse.unplaced_line", line=unplaced.line, text=unplaced.text[:120])
    log.info(
        "file.parsed",
        articles=len(parsed.articles),
        unplaced_lines=len(parsed.unplaced),
        encoding=parsed.encoding,
        duration_ms=_ms(started),
    )

    started = time.perf_counter()
    enriched = enrich.run(parsed.articles)
    log.info(
        "file.enriched",
        articles=len(parsed.articles),
        failed=len(enriched.errors),
        enrichers=enriched.timings_ms,
        duration_ms=_ms(started),
    )

    ingested_at = datetime.now(UTC).isoformat()
    by_id: dict[str, ArticleRecord] = {}
    for article, fields in zip(parsed.articles, enriched.fields, strict=True):
        if fields is None:
            continue
        source = Source(file=file_name, sha256=sha256, index=article.index, line=article.line)
        key = article_id(article)
        if key in by_id:  # the same text twice in one file: one record, two sources
            by_id[key].sources.append(source)
            continue
        by_id[key] = ArticleRecord(
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
            setattr(by_id[key], name, value)
    return list(by_id.values()), len(enriched.errors), len(parsed.unplaced), parsed.encoding


def publish_file(
    resources: Resources, sha256: str, file_name: str, data: bytes, final_path: Path | None
) -> FileSummary:
    """Parse, enrich and store one file's bytes; the ledger row goes to ``stored``."""
    records, failed, unplaced, encoding = build_records(data, sha256, file_name, resources.enrich)
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
    )
    # sightings beyond the distinct records are duplicates inside this very file
    in_file_repeats = sum(len(r.sources) - 1 for r in records)
    summary = FileSummary(
        file=file_name,
        sha256=sha256,
        state="done",
        found=counts.found + in_file_repeats,
        new=counts.new,
        duplicates=counts.duplicates + in_file_repeats,
        failed=failed,
        unplaced_lines=unplaced,
        near_duplicates=counts.near_duplicates,
    )
    log.info(
        "file.stored",
        found=summary.found,
        new=summary.new,
        duplicates=summary.duplicates,
        near_duplicates=summary.near_duplicates,
        failed=summary.failed,
        duration_ms=_ms(started),
    )
    return summary


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
        error=row["error"],
        duplicate_of_file=row["name"] if state == "duplicate" else None,
    )


# --- one-shot: `newsingest ingest FILE…` ---------------------------------------------------------


def ingest_in_place(resources: Resources, path: Path) -> FileSummary:
    """Process a file where it lies (not moved). Bytes done before, or being processed by the
    watcher's workers right now, are reported as a duplicate and not redone."""
    started = time.perf_counter()
    store = resources.store
    with structlog.contextvars.bound_contextvars(file=str(path)):
        try:
            data = path.read_bytes()
        except OSError as exc:
            error = {"code": "unreadable", "message": str(exc), "line": None}
            log.error("file.failed", **error)
            return FileSummary(file=str(path), sha256="", state="failed", error=error)
        sha256 = hashlib.sha256(data).hexdigest()
        with structlog.contextvars.bound_contextvars(sha256=sha256):
            claim = store.claim(sha256, path.name, str(path), len(data), moves=False)
            row = claim.file
            if claim.outcome == "duplicate":
                ours = not row["moves"]  # an earlier `ingest` of these bytes, not the watcher's
                if row["state"] == "failed" and ours:
                    store.requeue(sha256)  # a one-shot run is the user asking to try again
                elif row["state"] == "done" or not ours:
                    log.info("file.duplicate", first_seen_as=row["name"], state=row["state"])
                    return summary_from_ledger(dict(row), "duplicate", str(path))
            if (
                store.start(sha256, f"ingest-{uuid.uuid4()}", resources.settings.lease_seconds)
                is None
            ):
                log.info("file.duplicate", first_seen_as=row["name"], state="processing")
                return summary_from_ledger(dict(row), "duplicate", str(path))
            try:
                summary = publish_file(resources, sha256, str(path), data, None)
            except DumpError as exc:
                store.mark_failed(sha256, exc.report())
                log.error("file.failed", **exc.report(), duration_ms=_ms(started))
                return FileSummary(
                    file=str(path), sha256=sha256, state="failed", error=exc.report()
                )
            store.mark_done(sha256)
            log.info(
                "file.done",
                found=summary.found,
                new=summary.new,
                duplicates=summary.duplicates,
                failed=summary.failed,
                duration_ms=_ms(started),
            )
            return summary


# --- queued work: what the Celery task runs -------------------------------------------------------


def process_queued_file(resources: Resources, sha256: str, task_id: str) -> FileSummary | None:
    """Process a file the watcher claimed: publish its articles, then move it out of work/.

    Returns None when there is nothing to do (done already, or another worker holds the lease).
    Raises anything that is not the file's own fault, for the caller to retry.
    """
    settings, store = resources.settings, resources.store
    started = time.perf_counter()
    row = store.start(sha256, task_id, settings.lease_seconds)
    if row is None:
        current = store.get_file(sha256)
        log.info("file.skipped", reason="not due", state=current["state"] if current else None)
        return None
    with structlog.contextvars.bound_contextvars(file=row["name"], sha256=sha256):
        return _process_started(resources, row, started)


def _process_started(resources: Resources, row: RowMapping, started: float) -> FileSummary:
    settings, store = resources.settings, resources.store
    sha256, name = row["sha256"], row["name"]
    work_path = Path(row["path"])
    if row["attempts"] > settings.max_attempts:
        error = {
            "code": "too_many_attempts",
            "message": f"started {row['attempts'] - 1} times without finishing (crash or timeout)",
            "line": None,
            "hint": "look for a worker crash in the logs for this file, then `newsingest requeue`",
        }
        return _fail(resources, row, error, started)

    if row["state"] == "processing":
        try:
            data = work_path.read_bytes()
        except FileNotFoundError:
            error = FileChangedError("the claimed file is missing from the work folder").report()
            return _fail(resources, row, error, started)
        if hashlib.sha256(data).hexdigest() != sha256:
            return _fail(
                resources,
                row,
                FileChangedError("the file changed after it was taken").report(),
                started,
            )
        final_path = destination(settings.processed_dir, name, sha256)
        try:
            summary = publish_file(resources, sha256, name, data, final_path)
        except DumpError as exc:
            return _fail(resources, row, exc.report(), started)
    else:  # "stored" by an earlier attempt that died before the move: only the move is left
        row = store.get_file(sha256) or row
        summary = summary_from_ledger(dict(row), "done")
        final_path = Path(row["final_path"])

    _finish_move(work_path, final_path)
    store.mark_done(sha256)
    log.info(
        "file.done",
        found=summary.found,
        new=summary.new,
        duplicates=summary.duplicates,
        failed=summary.failed,
        moved_to=str(final_path),
        duration_ms=_ms(started),
    )
    return summary


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


def _finish_move(work_path: Path, final_path: Path) -> None:
    if work_path.exists():
        move(work_path, final_path)
    elif not final_path.exists():
        log.warning("file.move_lost", expected=str(final_path))


def _fail(resources: Resources, row, error: dict, started: float) -> FileSummary:
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
    store.mark_failed(sha256, error, str(target))
    log.error("file.failed", **error, moved_to=str(target), duration_ms=_ms(started))
    return FileSummary(file=name, sha256=sha256, state="failed", error=error)
