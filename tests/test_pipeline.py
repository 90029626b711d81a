"""Tests for worker/pipeline.py and worker/driver.py: one file through parse → dedupe → enrich →
publish → finalize, on a real SQLite store and real folders under tmp_path."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from tests.dumps import BRIDGE, HARBOUR, LIBRARY, ORCHARD, render_dump
from tests.helpers_unit import FakeClock, sha
from worker import driver as driver_module
from worker import faults
from worker.driver import FileDriver, Run
from worker.errors import ConfigurationError, TransientError
from worker.models import FileSummary
from worker.pipeline import (
    Resources,
    build_records,
    failed_files,
    requeue_failed,
)
from worker.settings import Settings
from worker.store import LeaseLostError
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


def process_queued_file(
    resources: Resources, sha256: str, owner: str, **run: object
) -> FileSummary | None:
    """What the Celery task ``process_file`` does for the message with id ``owner``."""
    return FileDriver(resources).process_file(sha256, Run(owner=owner, **run))


def ingest_in_place(resources: Resources, path: Path) -> FileSummary:
    """What `newsingest ingest` does with one file."""
    return FileDriver(resources).ingest(path)


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
    """A copy to the work path, then ledger.claim, as the watcher leaves a file."""
    digest = sha(data)
    work = resources.settings.work_dir / digest
    work.write_bytes(data)
    assert resources.store.ledger.claim(digest, name, str(work), len(data)).outcome == "queued"
    return digest


def _articles(resources: Resources):
    return [(r.id, r.title, r.body, r.sources) for r in resources.store.iter_articles()]


class TestProcessQueuedFile:
    def test_claimed_file_is_stored_moved_and_done(self, resources: Resources):
        """A claimed file: records stored, file in processed/, ledger done, counts right; the
        place in processed/ is recorded when the file moves."""
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
        row = resources.store.ledger.get_file(digest)
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

    def test_file_done_carries_where_the_time_went(self, resources: Resources):
        """file.done has ``timings``: each stage's milliseconds for this file (the queue wait,
        reading, parsing, enrichment, signatures, the publish and the finish), each at least 0
        and the parse/enrich/publish ones the same as those events' own duration_ms."""
        digest = _take(resources, "seed.txt", SEED)
        with capture_logs(processors=WITH_CONTEXT) as logs:
            process_queued_file(resources, digest, "task-1")
        events = {e["event"]: e for e in logs}
        timings = events["file.done"]["timings"]
        assert set(timings) == {"queue", "read", "parse", "enrich", "sign", "publish", "finish"}
        assert all(ms >= 0 for ms in timings.values())
        assert timings["parse"] == events["file.parsed"]["duration_ms"]
        assert timings["enrich"] == events["file.enriched"]["duration_ms"]
        assert timings["publish"] == events["file.stored"]["duration_ms"]

    def test_a_takeover_does_not_count_as_queue_time(self, resources: Resources):
        """A file taken over after its first worker died was sent long before this start: the
        wait is not the queue's, and file.done has no ``queue`` timing."""
        ledger = resources.store.ledger
        clock = FakeClock(time.time())
        ledger.clock = clock
        digest = _take(resources, "seed.txt", SEED)
        assert ledger.start(digest, "task-dead", resources.settings.lease_seconds) is not None
        clock.now += resources.settings.lease_seconds + 1  # its lease ran out
        with capture_logs(processors=WITH_CONTEXT) as logs:
            summary = process_queued_file(resources, digest, "task-2")
        assert summary is not None and summary.state == "done"
        (done,) = [e for e in logs if e["event"] == "file.done"]
        assert "queue" not in done["timings"]
        assert {"read", "parse", "enrich", "publish"} <= set(done["timings"])

    def test_hand_claimed_file(self, resources: Resources):
        """A file copied to work/ and claimed with ledger.claim is processed the same way."""
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
        row = resources.store.ledger.get_file(digest)
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
        row = resources.store.ledger.get_file(digest)
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
        assert resources.store.ledger.get_file(digest)["state"] == "failed"

    def test_stored_row_only_moves(self, resources: Resources):
        """A crash after publish and before the move leaves the row "stored"; once the lease
        runs out, the next call only moves the file and marks it done: records unchanged."""
        store, settings = resources.store, resources.settings
        ledger = store.ledger
        digest = _take(resources, "seed.txt", SEED)
        ledger.start(digest, "task-1", settings.lease_seconds)
        final = settings.processed_dir / "seed.txt"
        records, failed, unplaced, encoding = build_records(
            SEED, digest, "seed.txt", resources.enrich
        )
        store.publish(  # what the worker stored ... before it died, here
            digest,
            "seed.txt",
            records,
            owner="task-1",
            failed=failed,
            unplaced=unplaced,
            encoding=encoding,
        )
        assert ledger.get_file(digest)["state"] == "stored"
        before = _articles(resources)
        assert process_queued_file(resources, digest, "task-2") is None  # lease still live
        ledger.renew(digest, "task-1", -1)  # the lease runs out
        with capture_logs() as logs:
            summary = process_queued_file(resources, digest, "task-2")
        assert "file.parsed" not in [e["event"] for e in logs]
        assert (summary.state, summary.found, summary.new, summary.duplicates) == ("done", 2, 2, 0)
        assert final.read_bytes() == SEED
        assert not (settings.work_dir / digest).exists()
        row = ledger.get_file(digest)
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
        assert resources.store.ledger.get_file(digest)["attempts"] == 1

    def test_too_many_attempts_quarantined(self, resources: Resources):
        """A file whose workers died max_attempts times is quarantined with too_many_attempts
        by the next one."""
        store, settings = resources.store, resources.settings
        digest = _take(resources, "seed.txt", SEED)
        for attempt in range(settings.max_attempts):
            owner = f"crashed-{attempt}"
            assert store.ledger.start(digest, owner, settings.lease_seconds) is not None
            store.ledger.renew(digest, owner, -1)  # each worker dies; its lease runs out
        summary = process_queued_file(resources, digest, "task-last")
        assert summary.error["code"] == "too_many_attempts"
        row = store.ledger.get_file(digest)
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


class TestIngest:
    def test_leaves_file_and_returns_summary(self, resources: Resources, tmp_path: Path):
        """ingest stores the records but leaves the file where it lies."""
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
        row = resources.store.ledger.get_file(sha(SEED))
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
        assert resources.store.ledger.get_file(sha(NO_ARTICLES))["state"] == "failed"
        assert list(resources.settings.failed_dir.iterdir()) == []

    def test_unreadable_file(self, resources: Resources, tmp_path: Path):
        """A missing file gives a failed summary with code unreadable."""
        summary = ingest_in_place(resources, tmp_path / "missing.txt")
        assert (summary.state, summary.error["code"]) == ("failed", "unreadable")

    def test_context_unbound_after_ingest(self, resources: Resources, tmp_path: Path):
        """ingest leaves no file/sha256 bound for the events that follow."""
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
            resources.store.ledger.start(digest, f"crashed-{attempt}", lease_seconds=-1)
        summary = process_queued_file(resources, digest, "last")
        assert summary is not None and summary.error["code"] == "too_many_attempts"
        failed = settings.failed_dir / "stuck.txt"
        assert failed.exists()

        assert requeue_failed(resources, failed) == digest
        assert not failed.exists()
        assert not (settings.failed_dir / "stuck.txt.error.json").exists()
        row = resources.store.ledger.get_file(digest)
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
        assert resources.store.ledger.get_file(digest)["near_duplicates"] == 1


class _FailingPublish:
    """Stands in for ``publish_articles``: raises ``error`` the first ``times`` calls."""

    def __init__(self, error: Exception, times: int) -> None:
        self.error, self.times, self.calls = error, times, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls <= self.times:
            raise self.error
        return _REAL_PUBLISH(*args, **kwargs)


_REAL_PUBLISH = driver_module.publish_articles


class TestAttemptsCountCrashesNotRetries:
    """Since the reliability refactor, ``attempts`` counts crashes only: a transient or
    configuration error hands the file back (``Ledger.release``) and its retry uses no attempt.
    (Before, every start counted, and max_attempts transient errors quarantined a good file.)"""

    def test_transient_errors_past_max_attempts_never_quarantine(self, resources, monkeypatch):
        """More transient errors than max_attempts: each hands the file back (queued, attempts
        0, still in work/); the task's retry then finishes it with a single attempt counted."""
        settings = resources.settings
        digest = _take(resources, "seed.txt", SEED)
        times = settings.max_attempts + 2
        monkeypatch.setattr(
            driver_module, "publish_articles", _FailingPublish(TransientError("store away"), times)
        )
        for retry in range(times):
            with pytest.raises(TransientError):
                process_queued_file(resources, digest, "task-1", retries=retry)
            row = resources.store.ledger.get_file(digest)
            assert (row["state"], row["attempts"]) == ("queued", 0), retry
            assert (settings.work_dir / digest).exists()
        summary = process_queued_file(resources, digest, "task-1", retries=times)
        assert (summary.state, summary.new) == ("done", 2)
        assert resources.store.ledger.get_file(digest)["attempts"] == 1
        assert not settings.failed_dir.exists() or list(settings.failed_dir.iterdir()) == []

    def test_configuration_error_pauses_the_file(self, resources, monkeypatch):
        """A configuration error (e.g. the near-duplicate index built with other settings) is
        raised for the task to retry; the file waits queued in work/, no attempt used, nothing
        quarantined, and the reconciler sends it again later, not at once."""
        settings = resources.settings
        digest = _take(resources, "seed.txt", SEED)
        monkeypatch.setattr(
            driver_module,
            "publish_articles",
            _FailingPublish(ConfigurationError("index built with other settings"), 1),
        )
        with pytest.raises(ConfigurationError):
            process_queued_file(resources, digest, "task-1")
        row = resources.store.ledger.get_file(digest)
        assert (row["state"], row["attempts"], row["error"]) == ("queued", 0, None)
        assert row["next_send_at"] > row["updated_at"]
        assert (settings.work_dir / digest).exists()
        assert not settings.failed_dir.exists() or list(settings.failed_dir.iterdir()) == []
        assert resources.store.ledger.due(settings.requeue_after_seconds).files == []

    def test_a_crash_counts_an_attempt(self, resources):
        """A worker that dies holding the file (its lease runs out) used an attempt: the next
        one starts at attempts 2."""
        ledger = resources.store.ledger
        digest = _take(resources, "seed.txt", SEED)
        ledger.start(digest, "died", resources.settings.lease_seconds)
        ledger.renew(digest, "died", -1)
        summary = process_queued_file(resources, digest, "task-2")
        assert summary.state == "done"
        assert ledger.get_file(digest)["attempts"] == 2


@pytest.fixture
def split_resources(tmp_path: Path):
    """Resources that split any dump of more than one article: one chunk per article."""
    settings = Settings(
        inbox=tmp_path / "inbox", data_dir=tmp_path / "data", store_url=None, chunk_articles=1
    )
    res = Resources.build(settings)
    yield res
    res.store.close()


class TestSplitFile:
    def test_chunks_are_sent_and_the_last_one_finishes_the_file(self, split_resources):
        """A split file: its chunks are sent; each is stored by its own task; the task that
        stores the last one is made the file's holder, moves it and marks it done."""
        resources = split_resources
        ledger = resources.store.ledger
        digest = _take(resources, "seed.txt", SEED)
        sent: list[tuple[str, int]] = []
        summary = process_queued_file(
            resources, digest, "task-1", enqueue_chunk=lambda s, n: sent.append((s, n))
        )
        assert summary is not None and summary.state == "split"
        assert sent == [(digest, 0), (digest, 1)]
        assert ledger.get_file(digest)["state"] == "split"
        driver = FileDriver(resources)
        assert driver.process_chunk(digest, 0, Run(owner="chunk-0")) is None
        assert ledger.get_file(digest)["state"] == "split"
        with capture_logs(processors=WITH_CONTEXT) as logs:
            done = driver.process_chunk(digest, 1, Run(owner="chunk-1"))
        assert done is not None
        # the file's last event names it, like the rest of its story (grep by file name)
        (finished,) = [e for e in logs if e["event"] == "file.done"]
        assert (finished["file"], finished["sha256"]) == ("seed.txt", digest)
        assert {"parse", "enrich", "publish", "finish"} <= set(finished["timings"])
        assert (done.state, done.found, done.new, done.duplicates) == ("done", 2, 2, 0)
        row = ledger.get_file(digest)
        assert (row["state"], row["task_id"], row["found"], row["new"]) == ("done", "chunk-1", 2, 2)
        assert [c["state"] for c in ledger.chunk_rows(digest)] == ["stored", "stored"]
        assert (resources.settings.processed_dir / "seed.txt").read_bytes() == SEED
        assert not (resources.settings.work_dir / digest).exists()
        assert [r.title for r in resources.store.iter_articles()] == [HARBOUR.title, ORCHARD.title]

    def test_redelivered_chunk_changes_nothing(self, split_resources):
        """A chunk message delivered again after its chunk was stored does nothing."""
        resources = split_resources
        digest = _take(resources, "seed.txt", SEED)
        process_queued_file(resources, digest, "task-1", enqueue_chunk=lambda s, n: None)
        driver = FileDriver(resources)
        driver.process_chunk(digest, 0, Run(owner="chunk-0"))
        before = _articles(resources)
        assert driver.process_chunk(digest, 0, Run(owner="chunk-0")) is None
        assert driver.process_chunk(digest, 0, Run(owner="chunk-0b")) is None
        assert _articles(resources) == before
        assert resources.store.ledger.chunk_rows(digest)[0]["attempts"] == 1

    def test_ingest_runs_the_chunks_itself(self, split_resources, tmp_path: Path):
        """``ingest`` of a big dump runs its chunks one after the other, in place; its
        file.done gives the whole file's time: the read before the split and every chunk's
        enrichment, not the last chunk's alone."""
        path = tmp_path / "seed.txt"
        path.write_bytes(SEED)
        with capture_logs() as logs:
            summary = ingest_in_place(split_resources, path)
        (done,) = [e for e in logs if e["event"] == "file.done"]
        enriched = [e["duration_ms"] for e in logs if e["event"] == "file.enriched"]
        assert len(enriched) == 2  # one per chunk
        assert "read" in done["timings"]
        assert done["timings"]["enrich"] == pytest.approx(sum(enriched), abs=0.2)
        assert (summary.state, summary.file, summary.found, summary.new) == (
            "done",
            str(path),
            2,
            2,
        )
        assert path.read_bytes() == SEED
        assert len(split_resources.store.ledger.chunk_rows(sha(SEED))) == 2


class TestLateHolder:
    def test_a_late_worker_does_not_fail_a_file_taken_over_and_stored(self, resources, monkeypatch):
        """Worker A stalls past its lease; B takes the file over, stores it and moves it to
        processed/. A then wakes, finds the work copy gone (file_changed) and quarantines: it
        must not, since it no longer holds the file. The row must stay B's."""
        store, settings = resources.store, resources.settings
        ledger = store.ledger
        clock = FakeClock(1_000_000.0)
        ledger.clock = clock
        digest = _take(resources, "seed.txt", SEED)
        real_verify = FileDriver._verify

        def stalled_verify(self, row, path):
            clock.now += settings.lease_seconds + 1  # A's lease ran out while it stalled
            assert ledger.start(digest, "task-B", settings.lease_seconds) is not None
            records, failed, unplaced, encoding = build_records(
                SEED, digest, "seed.txt", resources.enrich
            )
            store.publish(
                digest, "seed.txt", records, owner="task-B",
                failed=failed, unplaced=unplaced, encoding=encoding,
            )  # fmt: skip
            final = ledger.choose_final_path(digest, str(settings.processed_dir / "seed.txt"))
            Path(final).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(settings.work_dir / digest), final)  # B moved it, not yet done
            return real_verify(self, row, path)

        monkeypatch.setattr(FileDriver, "_verify", stalled_verify)
        with pytest.raises(LeaseLostError):  # the task lets go: the file is B's
            process_queued_file(resources, digest, "task-A")
        row = ledger.get_file(digest)
        assert (row["state"], row["task_id"]) == ("stored", "task-B")
        assert (settings.processed_dir / "seed.txt").read_bytes() == SEED
        assert not (settings.processed_dir / "seed.txt.error.json").exists()
        assert not settings.failed_dir.exists() or list(settings.failed_dir.iterdir()) == []
        assert ledger.finish(digest, "task-B")


class Crash(BaseException):
    """A worker killed at a fault point (no ``except Exception`` stops it)."""


class TestSameNameAgain:
    def test_duplicate_dropped_while_the_first_waits_to_move_gets_its_own_copy(
        self, resources, monkeypatch
    ):
        """A worker dies after choosing processed/seed.txt and before moving there; the same
        bytes are dropped as seed.txt again meanwhile. In the end processed/ holds two copies,
        one per drop, under different names."""
        settings, ledger = resources.settings, resources.store.ledger
        digest = _take(resources, "seed.txt", SEED)

        def point(name: str) -> None:
            if name == "finish.before_move":
                raise Crash(name)

        with monkeypatch.context() as patch:
            patch.setattr(faults, "point", point)
            with pytest.raises(Crash):
                process_queued_file(resources, digest, "task-1")
        row = ledger.get_file(digest)
        assert (row["state"], row["final_path"]) == (
            "stored",
            str(settings.processed_dir / "seed.txt"),
        )
        (settings.inbox / "seed.txt").write_bytes(SEED)
        taker = FileTaker(
            resources.store, settings.inbox, settings.work_dir, settings.processed_dir, str
        )
        assert taker.take(settings.inbox / "seed.txt") == "duplicate"
        ledger.renew(digest, "task-1", -1)  # the dead worker's lease runs out
        summary = process_queued_file(resources, digest, "task-2")
        assert summary is not None and summary.state == "done"
        final = Path(ledger.get_file(digest)["final_path"])
        copies = sorted(p.name for p in settings.processed_dir.iterdir())
        assert len(copies) == 2, copies
        assert final.name in copies
        assert all(p.read_bytes() == SEED for p in settings.processed_dir.iterdir())


class TestInterruptedIngest:
    def test_a_second_ingest_finishes_a_split_file_the_first_left(
        self, split_resources, tmp_path: Path, monkeypatch
    ):
        """`ingest` dies right after splitting a big dump; `ingest` of the same file again
        stores its chunks and finishes it."""
        resources = split_resources
        path = tmp_path / "seed.txt"
        path.write_bytes(SEED)

        def point(name: str) -> None:
            if name == "split.after_commit":
                raise Crash(name)

        with monkeypatch.context() as patch:
            patch.setattr(faults, "point", point)
            with pytest.raises(Crash):
                ingest_in_place(resources, path)
        assert resources.store.ledger.get_file(sha(SEED))["state"] == "split"
        summary = ingest_in_place(resources, path)
        assert (summary.state, summary.found, summary.new) == ("done", 2, 2)
        assert resources.store.ledger.get_file(sha(SEED))["state"] == "done"
