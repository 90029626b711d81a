"""Tests for worker/pipeline.py: one file through parse → dedupe → enrich → publish → finalize,
on a real SQLite store and real folders under tmp_path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from tests.dumps import BRIDGE, HARBOUR, LIBRARY, ORCHARD, render_dump
from tests.helpers_unit import sha
from worker.pipeline import (
    Resources,
    build_records,
    failed_files,
    ingest_in_place,
    process_queued_file,
    requeue_failed,
)
from worker.settings import Settings
from worker.watch.inbox import FileTaker

SEED = render_dump([HARBOUR, ORCHARD]).encode("utf-8")
OTHER = render_dump([BRIDGE, HARBOUR], ["marker_20", "full"]).encode("utf-8")
NO_ARTICLES = b"Just A Title\n\n\n\nAnother Lonely Title\n"

# capture_logs keeps only its own processors; add the production chain's contextvars merge so
# that the fields bound for a file (file, sha256) show on its events, as they do in the logs.
WITH_CONTEXT = [structlog.contextvars.merge_contextvars]


@pytest.fixture(autouse=True)
def _clean_contextvars():
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()


@pytest.fixture
def resources(tmp_path: Path):
    settings = Settings(inbox=tmp_path / "inbox", data_dir=tmp_path / "data", store_url=None)
    res = Resources.build(settings)
    yield res
    res.store.close()


def _take(resources: Resources, name: str, data: bytes) -> str:
    """Drop ``data`` in the inbox and let the watcher's FileTaker claim it; returns the sha256."""
    settings = resources.settings
    path = settings.inbox / name
    path.write_bytes(data)
    taker = FileTaker(
        resources.store, settings.inbox, settings.work_dir, settings.processed_dir, lambda s: "t-0"
    )
    assert taker.take(path) == "queued"
    return sha(data)


def _claim_by_hand(resources: Resources, name: str, data: bytes) -> str:
    """store.claim and a copy to the work path, as the watcher leaves a file."""
    digest = sha(data)
    work = resources.settings.work_dir / digest
    work.write_bytes(data)
    assert resources.store.claim(digest, name, str(work), len(data)).outcome == "queued"
    return digest


def _articles(resources: Resources):
    return [(r.id, r.title, r.body, r.sources) for r in resources.store.iter_articles()]


class TestProcessQueuedFile:
    def test_claimed_file_is_stored_moved_and_done(self, resources: Resources):
        """A claimed file: records stored, file in processed/, ledger done, counts right."""
        digest = _take(resources, "seed.txt", SEED)
        summary = process_queued_file(resources, digest, "task-1")
        assert (summary.state, summary.found, summary.new, summary.duplicates) == ("done", 2, 2, 0)
        records = list(resources.store.iter_articles())
        assert [r.title for r in records] == [HARBOUR.title, ORCHARD.title]
        assert [r.image_credit for r in records] == ["AP", "AFP"]
        assert records[0].image_caption == HARBOUR.caption_line
        assert records[0].body == "\n\n".join(HARBOUR.paragraphs)
        assert records[0].lead == HARBOUR.paragraphs[0]
        assert records[0].language == "en"
        assert [s.file for s in records[1].sources] == ["seed.txt"]
        processed = resources.settings.processed_dir / "seed.txt"
        assert processed.read_bytes() == SEED
        assert not (resources.settings.work_dir / digest).exists()
        row = resources.store.get_file(digest)
        assert (row["state"], row["found"], row["new"], row["attempts"]) == ("done", 2, 2, 1)
        assert row["final_path"] == str(processed)

    def test_log_events_carry_file_and_sha256(self, resources: Resources):
        """file.parsed, file.stored and file.done are logged with the file's name and sha256."""
        digest = _take(resources, "seed.txt", SEED)
        with capture_logs(processors=WITH_CONTEXT) as logs:
            process_queued_file(resources, digest, "task-1")
        events = {e["event"]: e for e in logs}
        for name in ("file.parsed", "file.stored", "file.done"):
            assert events[name]["file"] == "seed.txt", name
            assert events[name]["sha256"] == digest, name
        assert events["file.parsed"]["articles"] == 2
        assert events["file.stored"]["new"] == 2
        assert events["file.done"]["moved_to"] == str(resources.settings.processed_dir / "seed.txt")
        order = [e["event"] for e in logs if e["event"].startswith("file.")]
        assert order == ["file.parsed", "file.enriched", "file.stored", "file.done"]

    def test_hand_claimed_file(self, resources: Resources):
        """A file claimed with store.claim and copied to work/ is processed the same way."""
        digest = _claim_by_hand(resources, "other.txt", OTHER)
        summary = process_queued_file(resources, digest, "task-1")
        assert (summary.found, summary.new) == (2, 2)
        assert [r.title for r in resources.store.iter_articles()] == [BRIDGE.title, HARBOUR.title]

    def test_no_articles_goes_to_failed_with_report(self, resources: Resources):
        """A file with no article: failed/ holds its exact bytes and NAME.error.json with
        code, message and hint; the ledger says failed; no records."""
        digest = _take(resources, "empty-ish.txt", NO_ARTICLES)
        with capture_logs() as logs:
            summary = process_queued_file(resources, digest, "task-1")
        assert summary.state == "failed"
        assert summary.error["code"] == "no_articles"
        failed = resources.settings.failed_dir / "empty-ish.txt"
        assert failed.read_bytes() == NO_ARTICLES
        report = json.loads((failed.parent / "empty-ish.txt.error.json").read_text())
        assert report["code"] == "no_articles"
        assert report["message"]
        assert report["hint"]
        assert (report["file"], report["sha256"], report["line"]) == ("empty-ish.txt", digest, 1)
        row = resources.store.get_file(digest)
        assert (row["state"], row["error"]["code"], row["final_path"]) == (
            "failed",
            "no_articles",
            str(failed),
        )
        assert list(resources.store.iter_articles()) == []
        assert [e["code"] for e in logs if e["event"] == "file.failed"] == ["no_articles"]
        assert not (resources.settings.work_dir / digest).exists()

    def test_changed_work_copy_fails_as_file_changed(self, resources: Resources):
        """A work copy whose bytes no longer match the claimed hash fails with file_changed."""
        digest = _take(resources, "seed.txt", SEED)
        work = resources.settings.work_dir / digest
        work.write_bytes(SEED + b"\nappended later\n")
        summary = process_queued_file(resources, digest, "task-1")
        assert summary.error["code"] == "file_changed"
        row = resources.store.get_file(digest)
        assert (row["state"], row["error"]["code"]) == ("failed", "file_changed")
        failed = resources.settings.failed_dir / "seed.txt"
        assert failed.read_bytes() == SEED + b"\nappended later\n"
        assert json.loads(Path(f"{failed}.error.json").read_text())["code"] == "file_changed"
        assert list(resources.store.iter_articles()) == []

    def test_missing_work_copy_fails_as_file_changed(self, resources: Resources):
        """A claimed file missing from work/ fails with file_changed (nothing to move)."""
        digest = _take(resources, "seed.txt", SEED)
        (resources.settings.work_dir / digest).unlink()
        summary = process_queued_file(resources, digest, "task-1")
        assert summary.error["code"] == "file_changed"
        assert resources.store.get_file(digest)["state"] == "failed"

    def test_stored_row_only_moves(self, resources: Resources):
        """A crash after publish and before the move leaves the row "stored"; once the lease
        runs out, the next call only moves the file and marks it done: records unchanged."""
        store, settings = resources.store, resources.settings
        digest = _take(resources, "seed.txt", SEED)
        store.start(digest, "task-1", settings.lease_seconds)
        final = settings.processed_dir / "seed.txt"
        records, failed, unplaced, encoding = build_records(
            SEED, digest, "seed.txt", resources.enrich
        )
        store.publish(  # what the worker stored ... before it died, here
            digest,
            "seed.txt",
            records,
            failed=failed,
            unplaced=unplaced,
            encoding=encoding,
            final_path=str(final),
        )
        assert store.get_file(digest)["state"] == "stored"
        before = _articles(resources)
        assert process_queued_file(resources, digest, "task-2") is None  # lease still live
        store.renew(digest, -1)  # the lease runs out
        with capture_logs() as logs:
            summary = process_queued_file(resources, digest, "task-2")
        assert "file.parsed" not in [e["event"] for e in logs]
        assert (summary.state, summary.found, summary.new, summary.duplicates) == ("done", 2, 2, 0)
        assert final.read_bytes() == SEED
        assert not (settings.work_dir / digest).exists()
        row = store.get_file(digest)
        assert (row["state"], row["attempts"], row["task_id"]) == ("done", 2, "task-2")
        assert _articles(resources) == before

    def test_done_file_is_skipped(self, resources: Resources):
        """A redelivered message for a done file does nothing and returns None."""
        digest = _take(resources, "seed.txt", SEED)
        process_queued_file(resources, digest, "task-1")
        before = _articles(resources)
        with capture_logs() as logs:
            assert process_queued_file(resources, digest, "task-1") is None
        assert [e["event"] for e in logs] == ["file.skipped"]
        assert _articles(resources) == before
        assert resources.store.get_file(digest)["attempts"] == 1

    def test_too_many_attempts_quarantined(self, resources: Resources):
        """A file started more than max_attempts times is quarantined with too_many_attempts."""
        store, settings = resources.store, resources.settings
        digest = _take(resources, "seed.txt", SEED)
        for attempt in range(settings.max_attempts):
            assert store.start(digest, f"crashed-{attempt}", settings.lease_seconds) is not None
            store.renew(digest, -1)  # each worker dies; its lease runs out
        summary = process_queued_file(resources, digest, "task-last")
        assert summary.error["code"] == "too_many_attempts"
        row = resources.store.get_file(digest)
        assert (row["state"], row["attempts"]) == ("failed", settings.max_attempts + 1)
        failed = settings.failed_dir / "seed.txt"
        assert failed.read_bytes() == SEED
        report = json.loads(Path(f"{failed}.error.json").read_text())
        assert (report["code"], report["attempts"]) == ("too_many_attempts", 4)
        assert list(store.iter_articles()) == []

    def test_same_article_in_second_file(self, resources: Resources):
        """A second file sharing an article: one record with both sources, counts right."""
        first = _take(resources, "seed.txt", SEED)
        process_queued_file(resources, first, "task-1")
        second = _take(resources, "other.txt", OTHER)
        summary = process_queued_file(resources, second, "task-2")
        assert (summary.found, summary.new, summary.duplicates) == (2, 1, 1)
        harbour = next(r for r in resources.store.iter_articles() if r.title == HARBOUR.title)
        assert sorted((s.file, s.index) for s in harbour.sources) == [
            ("other.txt", 1),
            ("seed.txt", 0),
        ]
        assert len(list(resources.store.iter_articles())) == 3

    def test_same_article_twice_in_one_file(self, resources: Resources):
        """An article repeated in one file is one record with two sources, counted once new."""
        data = render_dump([LIBRARY, HARBOUR, LIBRARY], ["bare", "full", "marker"]).encode()
        digest = _take(resources, "twice.txt", data)
        summary = process_queued_file(resources, digest, "task-1")
        assert (summary.found, summary.new, summary.duplicates) == (3, 2, 1)
        library = next(r for r in resources.store.iter_articles() if r.title == LIBRARY.title)
        assert [s.index for s in library.sources] == [0, 2]
        assert resources.store.status()["exact_duplicates"] == 1


class TestIngestInPlace:
    def test_leaves_file_and_returns_summary(self, resources: Resources, tmp_path: Path):
        """ingest_in_place stores the records but leaves the file where it lies."""
        path = tmp_path / "elsewhere" / "seed.txt"
        path.parent.mkdir()
        path.write_bytes(SEED)
        summary = ingest_in_place(resources, path)
        assert (summary.state, summary.found, summary.new, summary.duplicates) == ("done", 2, 2, 0)
        assert summary.file == str(path)
        assert summary.sha256 == sha(SEED)
        assert path.read_bytes() == SEED
        assert list(resources.settings.processed_dir.iterdir()) == []
        assert [r.title for r in resources.store.iter_articles()] == [HARBOUR.title, ORCHARD.title]
        row = resources.store.get_file(sha(SEED))
        assert (row["state"], row["moves"]) == ("done", 0)

    def test_second_call_is_duplicate(self, resources: Resources, tmp_path: Path):
        """The same bytes ingested again (any name) are a duplicate: no new records."""
        path = tmp_path / "seed.txt"
        path.write_bytes(SEED)
        ingest_in_place(resources, path)
        before = _articles(resources)
        copy = tmp_path / "copy.txt"
        shutil.copy(path, copy)
        summary = ingest_in_place(resources, copy)
        assert summary.state == "duplicate"
        assert (summary.new, summary.duplicates, summary.duplicate_of_file) == (0, 2, "seed.txt")
        assert _articles(resources) == before
        assert copy.exists()
        assert resources.store.status()["duplicate_files"] == 1

    def test_bad_file_fails_in_place(self, resources: Resources, tmp_path: Path):
        """A file with no articles fails with its error, stays in place, no report is written."""
        path = tmp_path / "bad.txt"
        path.write_bytes(NO_ARTICLES)
        summary = ingest_in_place(resources, path)
        assert (summary.state, summary.error["code"]) == ("failed", "no_articles")
        assert path.read_bytes() == NO_ARTICLES
        assert resources.store.get_file(sha(NO_ARTICLES))["state"] == "failed"
        assert list(resources.settings.failed_dir.iterdir()) == []

    def test_unreadable_file(self, resources: Resources, tmp_path: Path):
        """A missing file gives a failed summary with code unreadable."""
        summary = ingest_in_place(resources, tmp_path / "missing.txt")
        assert (summary.state, summary.error["code"]) == ("failed", "unreadable")

    def test_context_unbound_after_ingest(self, resources: Resources, tmp_path: Path):
        """ingest_in_place leaves no file/sha256 bound for the events that follow."""
        path = tmp_path / "seed.txt"
        path.write_bytes(SEED)
        ingest_in_place(resources, path)
        assert structlog.contextvars.get_contextvars() == {}

    def test_ingest_of_a_file_the_watcher_queued_does_not_strand_it(
        self, resources: Resources, tmp_path: Path
    ):
        """Ingesting bytes the watcher already queued must not leave its copy stuck in work/."""
        digest = _take(resources, "seed.txt", SEED)
        copy = tmp_path / "copy.txt"
        copy.write_bytes(SEED)
        ingest_in_place(resources, copy)
        process_queued_file(resources, digest, "task-1")
        assert not (resources.settings.work_dir / digest).exists()
        assert (resources.settings.processed_dir / "seed.txt").read_bytes() == SEED


class TestRequeueFailed:
    def test_quarantined_file_goes_back_to_work_and_is_then_processed(self, resources) -> None:
        """A file quarantined after too many attempts is put back by requeue_failed and then
        processed normally: report removed, attempts reset, records stored."""
        settings = resources.settings
        digest = _take(resources, "stuck.txt", SEED)
        for attempt in range(settings.max_attempts + 1):
            resources.store.start(digest, f"crashed-{attempt}", lease_seconds=0)
        summary = process_queued_file(resources, digest, "last")
        assert summary is not None and summary.error["code"] == "too_many_attempts"
        failed = settings.failed_dir / "stuck.txt"
        assert failed.exists()

        assert requeue_failed(resources, failed) == digest
        assert not failed.exists()
        assert not (settings.failed_dir / "stuck.txt.error.json").exists()
        row = resources.store.get_file(digest)
        assert (row["state"], row["attempts"]) == ("queued", 0)

        done = process_queued_file(resources, digest, "after-fix")
        assert done is not None and done.state == "done" and done.new == 2
        assert (settings.processed_dir / "stuck.txt").read_bytes() == SEED

    def test_a_file_that_is_not_failed_is_refused(self, resources, tmp_path: Path) -> None:
        """Bytes the ledger does not hold as failed are left where they are."""
        stray = tmp_path / "stray.txt"
        stray.write_bytes(SEED)
        assert requeue_failed(resources, stray) is None
        assert stray.exists()

    def test_failed_files_lists_quarantined_files(self, resources) -> None:
        """failed_files finds what is in failed/ according to the ledger."""
        digest = _take(resources, "empty.txt", b"   \n")
        process_queued_file(resources, digest, "t")
        assert failed_files(resources) == [resources.settings.failed_dir / "empty.txt"]


class TestNearDuplicateCounts:
    def test_a_version_is_counted_in_the_file_summary_and_the_ledger(self, resources) -> None:
        """A re-scraped, lightly edited story: the watcher-path summary (read back from the
        ledger) and the ledger row both count it as a near-duplicate."""
        import dataclasses

        _take(resources, "first.txt", render_dump([HARBOUR]).encode())
        first = sha(render_dump([HARBOUR]).encode())
        process_queued_file(resources, first, "t-1")
        edited = dataclasses.replace(
            HARBOUR,
            paragraphs=(*HARBOUR.paragraphs[:-1], "The new timetable takes effect in April."),
        )
        data = render_dump([edited]).encode()
        digest = _take(resources, "update.txt", data)
        summary = process_queued_file(resources, digest, "t-2")
        assert (summary.new, summary.near_duplicates) == (1, 1)
        assert resources.store.get_file(digest)["near_duplicates"] == 1
