"""The `newsingest` commands that need no server: ingest, articles, status."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.dumps import BRIDGE, HARBOUR, LIBRARY, ORCHARD, render_dump, seed_like_dump
from worker.cli import app
from worker.queue import QUEUE, TASK_PROCESS_FILE, create_app, queue_depth
from worker.settings import Settings


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Runs commands in tmp_path, so that ./inbox and ./data are the test's own."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, ["--log-format", "json", *args])

    return invoke


def _write(folder: Path, name: str, text: str) -> str:
    """Write a dump in the working directory; returns the name a user there would type."""
    (folder / name).write_text(text, encoding="utf-8")
    return name


class TestIngest:
    def test_summary_per_file_and_files_left_in_place(self, cli, tmp_path: Path) -> None:
        """`ingest --json` reports found/new/duplicates per file and does not move the files."""
        seed = _write(tmp_path, "seed.txt", seed_like_dump())
        overlap = _write(tmp_path, "overlap.txt", render_dump([LIBRARY, HARBOUR, LIBRARY]))
        result = cli("ingest", "--json", seed, overlap)
        assert result.exit_code == 0, result.output
        summaries = json.loads(result.stdout)
        assert [(s["state"], s["found"], s["new"], s["duplicates"]) for s in summaries] == [
            ("done", 2, 2, 0),
            ("done", 3, 1, 2),  # HARBOUR seen before, LIBRARY twice in the file
        ]
        assert (tmp_path / seed).exists() and (tmp_path / overlap).exists()
        assert not (tmp_path / "data" / "processed" / "seed.txt").exists()

    def test_same_bytes_again_is_a_duplicate_file(self, cli, tmp_path: Path) -> None:
        """The same bytes under another name are not processed again."""
        first = _write(tmp_path, "a.txt", seed_like_dump())
        second = _write(tmp_path, "b.txt", seed_like_dump())
        cli("ingest", first)
        result = cli("ingest", "--json", second)
        (summary,) = json.loads(result.stdout)
        assert summary["state"] == "duplicate"
        assert summary["new"] == 0
        assert summary["duplicate_of_file"] == "a.txt"

    def test_a_failed_file_gives_exit_status_1_and_the_rest_is_processed(
        self, cli, tmp_path: Path
    ) -> None:
        """An empty file fails with a clear code; the good file after it is still ingested."""
        empty = _write(tmp_path, "empty.txt", "")
        good = _write(tmp_path, "good.txt", render_dump([BRIDGE]))
        result = cli("ingest", "--json", empty, good)
        assert result.exit_code == 1
        failed, done = json.loads(result.stdout)
        assert failed["state"] == "failed" and failed["error"]["code"] == "empty_file"
        assert done["state"] == "done" and done["new"] == 1

    def test_table_output(self, cli, tmp_path: Path) -> None:
        """Without --json, a table names each file and its counts."""
        _write(tmp_path, "seed.txt", seed_like_dump())
        result = cli("ingest", "seed.txt")
        assert result.exit_code == 0
        assert "seed.txt" in result.stdout and "done" in result.stdout


class TestArticles:
    def test_jsonl_records_have_the_design_fields(self, cli, tmp_path: Path) -> None:
        """Each line is one record with every field of DESIGN.md, in the dump's order."""
        cli("ingest", _write(tmp_path, "seed.txt", seed_like_dump()))
        result = cli("articles", "--format", "jsonl")
        records = [json.loads(line) for line in result.stdout.splitlines()]
        assert [r["title"] for r in records] == [HARBOUR.title, ORCHARD.title]
        expected_fields = {
            "id", "title", "image_caption", "image_credit", "body", "lead", "language",
            "word_count", "reading_time_s", "entities", "countries", "keywords", "quotes",
            "duplicate_of", "similarity", "sources", "ingested_at", "pipeline_version",
        }  # fmt: skip
        assert expected_fields <= set(records[0])
        first = records[0]
        assert first["image_credit"] == "AP"
        assert first["image_caption"] == HARBOUR.caption_line
        assert first["lead"] == HARBOUR.paragraphs[0]
        assert first["word_count"] == sum(len(p.split()) for p in HARBOUR.paragraphs)
        assert "TT" not in first["body"].split("\n")
        assert first["sources"] == [
            {"file": "seed.txt", "sha256": first["sources"][0]["sha256"], "index": 0, "line": 1}
        ]

    def test_one_record_for_the_same_text_in_two_files(self, cli, tmp_path: Path) -> None:
        """An exact duplicate is one record whose sources list both places."""
        cli("ingest", _write(tmp_path, "one.txt", render_dump([ORCHARD])))
        cli(
            "ingest",
            _write(tmp_path, "two.txt", render_dump([LIBRARY, ORCHARD], ["bare", "marker"])),
        )
        records = [json.loads(x) for x in cli("articles").stdout.splitlines()]
        orchard = [r for r in records if r["title"] == ORCHARD.title]
        assert len(orchard) == 1
        assert [(s["file"], s["index"]) for s in orchard[0]["sources"]] == [
            ("one.txt", 0),
            ("two.txt", 1),
        ]

    def test_table_format(self, cli, tmp_path: Path) -> None:
        """`--format table` shows titles."""
        cli("ingest", _write(tmp_path, "seed.txt", seed_like_dump()))
        result = cli("articles", "--format", "table")
        assert result.exit_code == 0
        assert "Harbour Town" in result.stdout


class TestStatus:
    def test_json_counts(self, cli, tmp_path: Path) -> None:
        """`status --json` counts files by state, articles and duplicates."""
        cli("ingest", _write(tmp_path, "a.txt", render_dump([HARBOUR, HARBOUR])))
        cli("ingest", _write(tmp_path, "b.txt", ""))
        report = json.loads(cli("status", "--json").stdout)
        assert report["files"]["done"] == 1
        assert report["files"]["failed"] == 1
        assert report["articles"] == 1
        assert report["exact_duplicates"] == 1
        assert report["recent_failures"][0]["code"] == "empty_file"
        assert report["queue_depth"] == 0

    def test_queue_depth_on_the_embedded_broker(self, cli, tmp_path: Path) -> None:
        """On the embedded SQLite broker the queue depth is 0 when empty, then counts a waiting
        message."""
        assert json.loads(cli("status", "--json").stdout)["queue_depth"] == 0
        celery = create_app(Settings(data_dir=tmp_path / "data"))
        celery.send_task(TASK_PROCESS_FILE, ["0" * 64])
        celery.send_task(TASK_PROCESS_FILE, ["1" * 64])
        # status counts in SQL on kombu's tables; kombu's own count must agree
        assert json.loads(cli("status", "--json").stdout)["queue_depth"] == 2
        assert queue_depth(celery) == 2
        with celery.connection_for_write() as connection:
            connection.default_channel.basic_get(QUEUE)  # a worker takes one (not acked yet)
            assert json.loads(cli("status", "--json").stdout)["queue_depth"] == 1
            assert queue_depth(celery) == 1

    @pytest.mark.integration
    def test_queue_depth_on_redis_is_0_for_an_empty_queue(self, cli, redis_url: str) -> None:
        """Redis deletes an empty list, so an empty queue does not exist there: the depth is 0,
        not null (unknown), and the watcher's compose health check passes on an idle stack. A
        waiting message counts 1, and the queue is 0 again once it is gone."""

        def depth() -> int | None:
            return json.loads(cli("--broker-url", redis_url, "status", "--json").stdout)[
                "queue_depth"
            ]

        assert depth() == 0
        celery = create_app(Settings(broker_url=redis_url))
        celery.send_task(TASK_PROCESS_FILE, ["0" * 64])
        assert depth() == 1
        celery.control.purge()
        assert depth() == 0

    @pytest.mark.integration
    def test_queue_depth_on_a_sqlalchemy_broker_on_postgresql(self, cli, postgres_url: str) -> None:
        """kombu's SQLAlchemy transport takes any database: `status` counts a `sqla+postgresql`
        broker's messages as kombu does (it once looked for SQLite's catalogue there, and gave
        null)."""
        broker_url = f"sqla+{postgres_url}"

        def depth() -> int | None:
            return json.loads(cli("--broker-url", broker_url, "status", "--json").stdout)[
                "queue_depth"
            ]

        assert depth() == 0  # kombu has not made its tables yet
        celery = create_app(Settings(broker_url=broker_url))
        try:
            celery.send_task(TASK_PROCESS_FILE, ["0" * 64])
            celery.send_task(TASK_PROCESS_FILE, ["1" * 64])
            assert depth() == 2
            assert queue_depth(celery) == 2
        finally:
            # kombu's sessions and its class-wide engine cache would hold the schema that the
            # fixture drops
            from kombu.transport.sqlalchemy import Channel
            from sqlalchemy.orm import close_all_sessions

            celery.close()
            close_all_sessions()
            engine, _ = Channel._engines.pop(broker_url.removeprefix("sqla+"))
            engine.dispose()

    def test_queue_depth_is_null_when_the_broker_cannot_be_reached(self, cli) -> None:
        """A broker that cannot be reached gives null, which fails the health check."""
        with socket.socket() as sock:  # a port with nothing listening on it
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        result = cli("--broker-url", f"redis://127.0.0.1:{port}/0", "status", "--json")
        assert json.loads(result.stdout)["queue_depth"] is None

    def test_table(self, cli) -> None:
        """`status` without --json prints a table even on an empty store."""
        result = cli("status")
        assert result.exit_code == 0
        assert "files done" in result.stdout


class TestReadCommandsStayLight:
    """`status` and `articles` answer a monitoring script that polls them: they must not import
    the model, the enrichers, Celery or the MinHash code, which cost them over a second each."""

    HEAVY = ("spacy", "thinc", "celery", "datasketch", "numpy", "scipy")

    @pytest.mark.parametrize(
        "command",
        [["status", "--json"], ["status"], ["articles", "--limit", "10"], ["articles", "--all"]],
    )
    def test_no_heavy_import(self, tmp_path: Path, command: list[str]) -> None:
        # a store with a record, so that `articles` reads rows and sources
        _write(tmp_path, "seed.txt", seed_like_dump())
        without_model = {**os.environ, "NEWSINGEST_ENRICHERS": '["language","stats"]'}
        ingest = [sys.executable, "-m", "worker", "ingest", "seed.txt"]
        done = subprocess.run(ingest, cwd=tmp_path, capture_output=True, env=without_model)
        assert done.returncode == 0, done.stderr
        script = (
            "import runpy, sys\n"
            f"sys.argv = ['newsingest', *{command!r}]\n"
            "try:\n"
            "    runpy.run_module('worker', run_name='__main__')\n"
            "except SystemExit as stop:\n"
            "    assert not stop.code, stop.code\n"
            f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {self.HEAVY!r}"
            " or m.startswith('worker.enrich'))\n"
            "print('HEAVY', heavy, file=sys.stderr)\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        assert "HEAVY []" in result.stderr, result.stderr[-2000:]
