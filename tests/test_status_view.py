"""`newsingest status` figures (worker/snapshot.py and the store's queries behind them), the
`status --watch` view (worker/status_view.py) and `ingest`'s progress bar
(worker/ingest_progress.py).

The figures are read from a real SQLite store written through its own API; the commands run as
real processes, where a terminal (a pseudo-terminal) or its absence is what is tested."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

from tests.dumps import BRIDGE, HARBOUR, LIBRARY, ORCHARD, render_dump
from tests.helpers_unit import FakeClock, record, sha, sqlite_store
from worker.settings import Settings
from worker.snapshot import take_snapshot
from worker.status_view import format_age, render
from worker.store import ChunkPlan, Store

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z: a minute's start, so that offsets are exact
SHA_A, SHA_B, SHA_C = sha("a"), sha("b"), sha("c")
# no spaCy model for the commands run here: seconds saved, and none may be installed
MODEL_FREE = {"NEWSINGEST_ENRICHERS": '["language","stats"]'}


@pytest.fixture
def store(tmp_path: Path):
    store = sqlite_store(tmp_path)
    store.ledger.clock = FakeClock(NOW)
    yield store
    store.close()


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()  # as the pipeline writes ingested_at


def _publish(store: Store, sha256: str, name: str, records: list, owner: str = "task-1") -> None:
    store.ledger.claim(sha256, name, f"/work/{sha256}", 1)
    assert store.ledger.start(sha256, owner, lease_seconds=60) is not None
    store.publish(sha256, name, records, owner=owner, failed=0, unplaced=0, encoding="utf-8")


class TestOldestPendingAge:
    def test_the_oldest_file_not_done_nor_failed(self, store: Store) -> None:
        clock = store.ledger.clock
        store.ledger.claim(SHA_A, "a.txt", "/work/a", 1)  # at NOW
        clock.advance(30)
        store.ledger.claim(SHA_B, "b.txt", "/work/b", 1)  # at NOW + 30
        assert store.oldest_pending_age(NOW + 100) == 100
        # a file being worked on is still pending; one that failed is not
        store.ledger.start(SHA_A, "task-1", lease_seconds=60)
        assert store.oldest_pending_age(NOW + 100) == 100
        store.ledger.fail(SHA_A, {"code": "empty_file", "message": "empty"}, None)
        assert store.oldest_pending_age(NOW + 100) == 70

    def test_none_when_nothing_is_pending(self, store: Store) -> None:
        assert store.oldest_pending_age(NOW) is None
        _publish(store, SHA_A, "a.txt", [record(HARBOUR, SHA_A, "a.txt")])
        assert store.ledger.finish(SHA_A, "task-1")
        assert store.oldest_pending_age(NOW + 5) is None


class TestArticlesByMinute:
    def test_new_records_counted_in_their_minute(self, store: Store) -> None:
        """Records in each of the last minutes, the current (running) one last; older ones and
        ones stamped ahead of this clock are outside the window."""
        stamps = {
            HARBOUR: NOW - 4 * 60 + 1,  # the first minute of a 5-minute window
            ORCHARD: NOW - 60 + 59,  # the minute before the current one
            LIBRARY: NOW + 30,  # the current minute
            BRIDGE: NOW - 5 * 60,  # one minute before the window
        }
        records = [
            record(story, SHA_A, "a.txt", index, ingested_at=_iso(at))
            for index, (story, at) in enumerate(stamps.items())
        ]
        _publish(store, SHA_A, "a.txt", records)
        counts = store.articles_by_minute(5, NOW + 45)
        assert [(c.minute, c.articles) for c in counts] == [
            ("2027-01-15T07:56", 1),
            ("2027-01-15T07:57", 0),
            ("2027-01-15T07:58", 0),
            ("2027-01-15T07:59", 1),
            ("2027-01-15T08:00", 1),
        ]
        assert [c.articles for c in store.articles_by_minute(2, NOW - 61)] == [0, 0]

    def test_an_exact_duplicate_makes_no_record(self, store: Store) -> None:
        at = _iso(NOW)
        _publish(store, SHA_A, "a.txt", [record(HARBOUR, SHA_A, "a.txt", ingested_at=at)])
        _publish(store, SHA_B, "b.txt", [record(HARBOUR, SHA_B, "b.txt", ingested_at=at)])
        assert [c.articles for c in store.articles_by_minute(1, NOW)] == [1]


class TestBusyHolders:
    def test_live_leases_on_files_and_chunks(self, store: Store) -> None:
        ledger = store.ledger
        ledger.claim(SHA_A, "a.txt", "/work/a", 1)
        ledger.start(SHA_A, "task-1", lease_seconds=60)
        ledger.claim(SHA_B, "big.txt", "/work/b", 1)
        ledger.start(SHA_B, "task-2", lease_seconds=60)
        plans = [
            ChunkPlan(n, "/work/b", "", "utf-8", n * 100, (n + 1) * 100, n * 10, n * 40, 10)
            for n in range(2)
        ]
        ledger.split(SHA_B, "task-2", plans, "utf-8")
        ledger.start_chunk(SHA_B, 1, "task-3", lease_seconds=30)
        ledger.claim(SHA_C, "c.txt", "/work/c", 1)  # queued: nobody holds it
        busy = store.busy_holders(NOW + 10)
        assert [(b["holder"], b["file"], b["chunk"]) for b in busy] == [
            ("task-1", "a.txt", None),
            ("task-3", "big.txt", 1),
        ]
        assert busy[0]["lease_left_s"] == 50
        # a lease run out: its holder is gone (or stuck), not busy
        assert [b["holder"] for b in store.busy_holders(NOW + 45)] == ["task-1"]
        assert store.busy_holders(NOW + 61) == []


class TestSnapshot:
    def test_figures_and_json(self, store: Store, tmp_path: Path) -> None:
        at = _iso(NOW)
        _publish(store, SHA_A, "a.txt", [record(HARBOUR, SHA_A, "a.txt", ingested_at=at)])
        store.ledger.claim(SHA_B, "b.txt", "/work/b", 1)
        store.ledger.claim(SHA_C, "c.txt", "/work/c", 1)
        error = {"code": "empty_file", "message": "the file is empty"}
        store.ledger.fail(SHA_C, error, None)
        snapshot = take_snapshot(store, Settings(data_dir=tmp_path), now=NOW + 30)
        report = json.loads(json.dumps(snapshot.as_dict()))  # what --json prints
        assert report["files"]["stored"] == 1 and report["files"]["failed"] == 1
        assert report["articles"] == 1
        assert report["queue_depth"] == 0
        assert report["oldest_pending_age_s"] == 30  # a.txt: stored, not yet moved
        assert len(report["articles_per_minute"]) == 5
        assert report["articles_per_minute"][-1] == {"minute": "2027-01-15T08:00", "articles": 1}
        # task-1 still holds a.txt, 30 s left of its 60 s lease
        assert report["workers"]["busy"] == 1
        assert report["workers"]["work"][0]["lease_left_s"] == 30
        assert report["recent_failures"][0]["code"] == "empty_file"

    def test_the_view_shows_the_figures(self, store: Store, tmp_path: Path) -> None:
        store.ledger.claim(SHA_B, "b.txt", "/work/b", 1)
        store.ledger.claim(SHA_C, "c.txt", "/work/c", 1)
        store.ledger.fail(SHA_C, {"code": "not_a_dump", "message": "no articles found"}, None)
        snapshot = take_snapshot(store, Settings(data_dir=tmp_path), now=NOW + 100)
        console = Console(record=True, width=120)
        console.print(render(snapshot))
        shown = console.export_text()
        assert "oldest pending    │ 1m 40s" in shown
        assert "not_a_dump" in shown and "no articles found" in shown
        assert "08:01 0" in shown


def test_format_age() -> None:
    assert [format_age(s) for s in (None, 0, 59.9, 60, 3599, 3600, 7860)] == [
        "none",
        "0s",
        "59s",
        "1m 00s",
        "59m 59s",
        "1h 00m",
        "2h 11m",
    ]


# --- the commands -----------------------------------------------------------------------------


def _newsingest(cwd: Path, *args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **MODEL_FREE}
    command = [sys.executable, "-m", "worker", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, **kwargs)


def _dumps(folder: Path) -> list[str]:
    (folder / "a.txt").write_text(render_dump([HARBOUR, ORCHARD]), encoding="utf-8")
    (folder / "b.txt").write_text(render_dump([LIBRARY, HARBOUR]), encoding="utf-8")
    return ["a.txt", "b.txt"]


class TestStatusCommand:
    def test_json_has_the_new_figures(self, tmp_path: Path) -> None:
        assert _newsingest(tmp_path, "ingest", *_dumps(tmp_path)).returncode == 0
        report = json.loads(_newsingest(tmp_path, "status", "--json").stdout)
        assert report["files"]["done"] == 2
        assert report["oldest_pending_age_s"] is None
        assert sum(m["articles"] for m in report["articles_per_minute"]) == 3
        assert report["workers"] == {"busy": 0, "work": []}

    def test_watch_json_is_a_feed_of_lines_until_ctrl_c(self, tmp_path: Path) -> None:
        """Not on a terminal, `status --watch --json` writes one JSON object per line per
        interval; SIGINT (Ctrl-C) ends it with status 0."""
        env = {**os.environ, **MODEL_FREE}
        command = [sys.executable, "-m", "worker", "status", "--watch", "--json"]
        watcher = subprocess.Popen(
            [*command, "--interval", "0.3"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            lines = [watcher.stdout.readline() for _ in range(2)]  # waits for both
            watcher.send_signal(signal.SIGINT)
            rest, errors = watcher.communicate(timeout=20)
        finally:
            if watcher.poll() is None:
                watcher.kill()
        assert watcher.returncode == 0, errors
        reports = [json.loads(line) for line in [*lines, *rest.splitlines()]]
        assert len(reports) >= 2
        assert all("oldest_pending_age_s" in report for report in reports)
        assert reports[0]["at"] < reports[1]["at"]
        assert "Traceback" not in errors


def _run_in_terminal(
    cwd: Path, *args: str, timeout: float = 60, interrupt_after: float | None = None
) -> tuple[int, str]:
    """Run newsingest with stdin, stdout and stderr on a pseudo-terminal; its exit status and
    everything it wrote there. ``interrupt_after``: send SIGINT (Ctrl-C) after that long."""
    master, slave = pty.openpty()
    env = {**os.environ, **MODEL_FREE, "COLUMNS": "160"}
    env.pop("FORCE_COLOR", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "worker", *args],
        cwd=cwd,
        env=env,
        stdin=slave,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    output = bytearray()
    deadline = time.monotonic() + timeout
    interrupt_at = None if interrupt_after is None else time.monotonic() + interrupt_after
    try:
        while time.monotonic() < deadline:
            if interrupt_at is not None and time.monotonic() > interrupt_at:
                process.send_signal(signal.SIGINT)
                interrupt_at = None
            ready, _, _ = select.select([master], [], [], 0.1)
            if not ready:
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other end is closed, the process is done
                break
            if not data:
                break
            output += data
        return process.wait(timeout=10), output.decode("utf-8", "replace")
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()


def test_watch_on_a_terminal_is_a_live_view(tmp_path: Path) -> None:
    """On a terminal, `status --watch` redraws one view in place (cursor moves, not a table
    printed again and again) until Ctrl-C, which ends it with status 0."""
    status, shown = _run_in_terminal(
        tmp_path, "status", "--watch", "--interval", "0.3", interrupt_after=3
    )
    assert status == 0, shown
    assert shown.count("newsingest status,") >= 2, shown  # drawn more than once
    assert "\x1b[1A" in shown or "\x1b[2K" in shown  # ...over itself: rich's cursor codes
    assert "Traceback" not in shown


class TestIngestProgress:
    def test_a_progress_bar_on_a_terminal(self, tmp_path: Path) -> None:
        status, shown = _run_in_terminal(tmp_path, "ingest", *_dumps(tmp_path))
        assert status == 0, shown
        assert "2/2" in shown and "files" in shown, shown
        assert "4 articles (3 new)" in shown, shown  # HARBOUR twice: 4 sightings, 3 records
        assert "━" in shown  # the bar itself

    def test_no_bar_and_only_json_lines_off_a_terminal(self, tmp_path: Path) -> None:
        done = _newsingest(tmp_path, "ingest", "--json", *_dumps(tmp_path))
        assert done.returncode == 0, done.stderr
        assert len(json.loads(done.stdout)) == 2  # the summary, and nothing else, on stdout
        lines = done.stderr.splitlines()
        assert lines and all(json.loads(line)["event"] for line in lines)
        assert "━" not in done.stderr and "2/2" not in done.stderr

    def test_no_bar_for_json_logs_on_a_terminal(self, tmp_path: Path) -> None:
        """`--log-format json` on a terminal: a machine reads the logs, so no bar among them."""
        status, shown = _run_in_terminal(
            tmp_path, "--log-format", "json", "ingest", "--json", *_dumps(tmp_path)
        )
        assert status == 0, shown
        assert "━" not in shown and "articles (" not in shown
