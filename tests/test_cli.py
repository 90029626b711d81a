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


def _store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/records.sqlite"


@pytest.fixture
def stories_store(tmp_path: Path) -> str:
    """A store holding tests/store/test_query.py's stories (entities, countries, a version)."""
    from tests.store.test_query import publish_stories
    from worker.store import Store

    url = _store_url(tmp_path)
    store = Store.from_url(url)
    publish_stories(store)
    store.close()
    return url


def _titles(output: str) -> list[str]:
    return [json.loads(line)["title"] for line in output.splitlines()]


class TestArticlesFilters:
    def test_filters_reach_the_store(self, cli, stories_store: str) -> None:
        """The options become the filter of worker/store/query.py (tested there in full)."""
        from tests.store.test_query import TITLES

        def titles(*options: str) -> list[str]:
            result = cli("--store-url", stories_store, "articles", *options)
            assert result.exit_code == 0, result.output
            return _titles(result.stdout)

        assert titles("--person", "sergei lavrov") == [TITLES["lavrov"]]
        assert titles("--person", "Sergei Lavrov", "--all") == [TITLES["lavrov"]] * 2
        assert titles("--country", "gb") == [TITLES["harbour"]]
        assert titles("--org", "Harbour Board", "--place", "bristol") == [TITLES["harbour"]]
        assert titles("--credit", "reuters", "--language", "ar") == [TITLES["cairo"]]
        assert titles("--search", "50%") == [TITLES["harbour"]]
        assert titles("--since", "2026-11-22", "--until", "2026-11-24") == [
            TITLES["harbour"],
            TITLES["cairo"],
        ]
        assert titles("--since", "2026-11-24T12:00:00.999999Z") == [TITLES["bare"]]
        assert titles("--all", "--limit", "2") == [TITLES["lavrov"]] * 2
        assert titles("--language", "fr") == []

    def test_versions_of_and_the_old_id(self, cli, stories_store: str) -> None:
        """--versions-of ID: the story; --id, its old name, still works (hidden from --help)."""
        from tests.store.test_query import STORIES

        version = STORIES["lavrov_v2"].id
        new = cli("--store-url", stories_store, "articles", "--versions-of", version)
        old = cli("--store-url", stories_store, "articles", "--id", STORIES["lavrov"].id)
        ids = [json.loads(line)["id"] for line in new.stdout.splitlines()]
        assert ids == [STORIES["lavrov"].id, version]
        assert old.stdout == new.stdout
        help_text = cli("articles", "--help").stdout
        assert "--versions-of" in help_text and "--id " not in help_text

    def test_relative_since(self, cli, tmp_path: Path) -> None:
        """--since 2h keeps a record ingested an hour ago, --since 30m does not."""
        from datetime import UTC, datetime, timedelta

        from tests.dumps import HARBOUR
        from tests.helpers_unit import record, sha
        from worker.store import Store

        url = _store_url(tmp_path)
        store = Store.from_url(url)
        an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        store.ledger.claim(sha("a"), "a.txt", "/work/a", 1)
        store.ledger.start(sha("a"), "t", lease_seconds=60)
        records = [record(HARBOUR, sha("a"), "a.txt", ingested_at=an_hour_ago)]
        store.publish(sha("a"), "a.txt", records, owner="t", failed=0, unplaced=0, encoding="utf-8")
        store.close()
        recent = cli("--store-url", url, "articles", "--since", "2h")
        assert _titles(recent.stdout) == [HARBOUR.title]
        assert cli("--store-url", url, "articles", "--since", "30m").stdout == ""
        assert _titles(cli("--store-url", url, "articles", "--until", "30m").stdout) == [
            HARBOUR.title
        ]

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            (["--since", "yesterday"], "ISO 8601"),
            (["--until", "7y"], "ISO 8601"),
            (["--country", "RUS"], "alpha-2"),
            (["--format", "xml"], "jsonl, csv, table"),
            (["--versions-of", "a" * 64, "--id", "b" * 64], "not both"),
            (["--limit", "-1"], "--limit"),
        ],
    )
    def test_bad_values_are_usage_errors(self, cli, options: list[str], message: str) -> None:
        result = cli("articles", *options)
        assert result.exit_code == 2
        assert message in result.output


class TestArticlesFormats:
    def test_csv_parses_back_to_the_jsonl_records(self, cli, tmp_path: Path) -> None:
        """One row per record under a header of every field; lists and objects as JSON text in
        their cells, null as an empty cell; bodies with blank lines survive the round trip."""
        import csv
        import io

        from worker.export import FIELDS

        cli("ingest", _write(tmp_path, "seed.txt", seed_like_dump()))
        cli("ingest", _write(tmp_path, "more.txt", render_dump([LIBRARY, BRIDGE])))
        expected = [json.loads(line) for line in cli("articles", "--all").stdout.splitlines()]
        result = cli("articles", "--all", "--format", "csv")
        assert result.exit_code == 0, result.output
        reader = csv.reader(io.StringIO(result.stdout, newline=""))
        header, *rows = list(reader)
        assert tuple(header) == FIELDS
        assert len(rows) == len(expected) == 4
        for row, record in zip(rows, expected, strict=True):
            for name, cell in zip(header, row, strict=True):
                value = record[name]
                if value is None:
                    assert cell == "", name
                elif isinstance(value, dict | list):
                    assert json.loads(cell) == value, name
                else:
                    assert cell == str(value), name
        assert "\n\n" in rows[0][header.index("body")]

    def test_table_streams_in_batches_with_one_header(self, cli, tmp_path: Path) -> None:
        """More rows than a printed batch: every record is there, the header once."""
        from tests.store.test_query import bulk_insert
        from worker.export import TABLE_BATCH
        from worker.store import Store

        url = _store_url(tmp_path)
        store = Store.from_url(url)
        bulk_insert(store, TABLE_BATCH * 2 + 5)
        store.close()
        result = cli("--store-url", url, "articles", "--format", "table")
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert sum("title" in line and "sources" in line for line in lines) == 1
        assert sum(line.lstrip().startswith("0000000000") for line in lines) == TABLE_BATCH * 2 + 5
        for i in (0, TABLE_BATCH, TABLE_BATCH * 2 + 4):
            assert any(f"record {i} " in line + " " for line in lines), i

    def test_an_empty_store_gives_a_header_only(self, cli) -> None:
        assert cli("articles", "--format", "csv").stdout.splitlines() == [
            ",".join(__import__("worker.export", fromlist=["FIELDS"]).FIELDS)
        ]
        assert cli("articles").stdout == ""
        assert "title" in cli("articles", "--format", "table").stdout


class TestExport:
    @pytest.fixture
    def seeded(self, cli, tmp_path: Path) -> list[dict]:
        cli("ingest", _write(tmp_path, "seed.txt", seed_like_dump()))
        cli("ingest", _write(tmp_path, "more.txt", render_dump([LIBRARY, BRIDGE])))
        return [json.loads(line) for line in cli("articles").stdout.splitlines()]

    def _done_event(self, result) -> dict:
        events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
        (done,) = [e for e in events if e["event"] == "export.done"]
        return done

    def test_jsonl_to_a_file_and_to_stdout(self, cli, tmp_path: Path, seeded) -> None:
        result = cli("export", "--output", "out.jsonl")
        assert result.exit_code == 0, result.output
        written = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
        assert [json.loads(line) for line in written] == seeded
        assert not list(tmp_path.glob("*.part"))
        done = self._done_event(result)
        assert (done["records"], done["format"], done["output"]) == (4, "jsonl", "out.jsonl")
        assert done["duration_ms"] >= 0
        to_stdout = cli("export")
        assert [json.loads(line) for line in to_stdout.stdout.splitlines()] == seeded
        assert self._done_event(to_stdout)["output"] == "-"

    def test_csv_with_a_filter(self, cli, tmp_path: Path, seeded) -> None:
        import csv

        result = cli("export", "--format", "csv", "--output", "out.csv", "--credit", "ap")
        assert result.exit_code == 0, result.output
        with (tmp_path / "out.csv").open(newline="", encoding="utf-8") as stream:
            rows = list(csv.DictReader(stream))
        expected = [r for r in seeded if r["image_credit"] == "AP"]
        assert expected and [r["id"] for r in rows] == [r["id"] for r in expected]
        assert json.loads(rows[0]["sources"]) == expected[0]["sources"]
        assert self._done_event(result)["records"] == len(expected)

    def test_parquet_reads_back(self, cli, tmp_path: Path, seeded, monkeypatch) -> None:
        """Typed columns, one row per record, in row groups of PARQUET_ROW_GROUP records."""
        pq = pytest.importorskip("pyarrow.parquet")
        import worker.export

        monkeypatch.setattr(worker.export, "PARQUET_ROW_GROUP", 3)
        result = cli("export", "--format", "parquet", "--output", "all.parquet")
        assert result.exit_code == 0, result.output
        parquet = pq.ParquetFile(tmp_path / "all.parquet")
        assert parquet.metadata.num_rows == 4
        assert parquet.metadata.num_row_groups == 2  # 3 + 1
        rows = parquet.read().to_pylist()
        assert [r["id"] for r in rows] == [r["id"] for r in seeded]
        for row, record in zip(rows, seeded, strict=True):
            assert row["title"] == record["title"] and row["body"] == record["body"]
            assert row["sources"] == record["sources"]
            assert row["countries"] == record["countries"]
            assert row["entities"] == record["entities"]
            assert row["quotes"] == record["quotes"]
            assert row["ingested_at"].isoformat() == record["ingested_at"]
        assert self._done_event(result)["format"] == "parquet"

    def test_parquet_row_groups_from_smaller_arrow_batches(self, tmp_path: Path, monkeypatch):
        """Records become Arrow data a few at a time; row groups still hold PARQUET_ROW_GROUP
        records each, in order."""
        pq = pytest.importorskip("pyarrow.parquet")
        import worker.export
        from worker.models import ArticleRecord

        monkeypatch.setattr(worker.export, "PARQUET_ROW_GROUP", 5)
        monkeypatch.setattr(worker.export, "_ARROW_BATCH", 2)
        records = [
            ArticleRecord(
                id=str(i), title=f"t{i}", body="b", image_caption=None, image_credit=None,
                ingested_at="2026-11-25T17:47:37+00:00",
            )
            for i in range(12)
        ]  # fmt: skip
        with (tmp_path / "r.parquet").open("wb") as stream:
            assert sum(worker.export.write_parquet(iter(records), stream)) == 12
        parquet = pq.ParquetFile(tmp_path / "r.parquet")
        groups = [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)]
        assert groups == [5, 5, 2]
        assert parquet.read().column("id").to_pylist() == [str(i) for i in range(12)]

    def test_parquet_of_an_empty_selection_is_a_valid_file(self, cli, tmp_path: Path) -> None:
        pq = pytest.importorskip("pyarrow.parquet")
        result = cli("export", "--format", "parquet", "-o", "none.parquet", "--language", "xx")
        assert result.exit_code == 0, result.output
        table = pq.read_table(tmp_path / "none.parquet")
        assert table.num_rows == 0 and "entities" in table.column_names

    def test_parquet_needs_a_file(self, cli, seeded) -> None:
        result = cli("export", "--format", "parquet")
        assert result.exit_code == 2
        assert "--output" in result.output

    def test_parquet_without_pyarrow_says_how_to_get_it(
        self, cli, tmp_path: Path, seeded, monkeypatch
    ) -> None:
        for name in ("pyarrow", "pyarrow.parquet"):
            monkeypatch.setitem(sys.modules, name, None)  # import fails as if not installed
        result = cli("export", "--format", "parquet", "--output", "all.parquet")
        assert result.exit_code == 2
        assert "pip install 'newsingest[parquet]'" in result.stderr
        assert not (tmp_path / "all.parquet").exists()

    def test_an_output_in_no_folder_is_a_usage_error(self, cli, tmp_path: Path) -> None:
        result = cli("export", "--output", "nowhere/out.jsonl")
        assert result.exit_code == 2
        assert "no folder 'nowhere'" in result.output

    def test_a_failed_export_leaves_no_file(self, cli, tmp_path: Path, seeded, monkeypatch):
        """Written as NAME.part and renamed when complete: a failure leaves neither."""
        import worker.export

        def broken(records, stream):
            yield 1
            raise RuntimeError("disk full, say")

        monkeypatch.setitem(worker.export.WRITERS, "jsonl", broken)
        result = cli("export", "--output", "out.jsonl")
        assert result.exit_code != 0
        assert not (tmp_path / "out.jsonl").exists()
        assert not list(tmp_path.glob("*.part"))

    def test_progress_bar_only_on_a_terminal(self) -> None:
        """The bar draws on a terminal, and is off when stderr is not one or logs are JSON."""
        import io

        from rich.console import Console

        from worker.export import ExportProgress

        assert not ExportProgress(show=True, console=Console(file=io.StringIO())).enabled
        screen = io.StringIO()
        terminal = Console(file=screen, force_terminal=True, width=100)
        assert not ExportProgress(show=False, console=terminal).enabled
        progress = ExportProgress(show=True, console=terminal)
        assert progress.enabled
        progress.start(10, "[red]out{1}.jsonl")  # a file name is not markup
        progress.advance(10)
        progress.close()
        assert "10/10" in screen.getvalue() and "[red]out{1}.jsonl" in screen.getvalue()


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
    the model, the enrichers, Celery or the MinHash code, which cost them over a second each;
    nor must `export` to JSON lines or CSV."""

    HEAVY = ("spacy", "thinc", "celery", "datasketch", "numpy", "scipy")

    @pytest.mark.parametrize(
        "command",
        [
            ["status", "--json"],
            ["status"],
            ["articles", "--limit", "10"],
            ["articles", "--all"],
            ["articles", "--format", "csv", "--person", "Ann Smith", "--since", "7d"],
            ["articles", "--format", "table", "--country", "gb"],
            ["export", "--format", "csv", "--search", "harbour"],
        ],
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
