"""Issue 8, item 7: an article one enricher fails on is stored, not lost.

It is stored with that enricher's fields null and ``enrich_errors`` naming it; the file's summary
counts it in ``failed`` (and in ``found`` and ``new``); ``newsingest reenrich --failed`` runs the
enrichers again on exactly those articles and clears ``enrich_errors`` when they succeed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import worker.pipeline as pipeline
from tests.dumps import BRIDGE, HARBOUR, ORCHARD, render_dump
from worker.cli import app
from worker.driver import FileDriver
from worker.enrich.basic import StatsEnricher
from worker.pipeline import Resources, reenrich_articles
from worker.settings import Settings

CHEAP = ["language", "stats", "lead"]
REASON = "RuntimeError: stats broke on the orchard story"
_ORIGINAL_STATS = StatsEnricher.enrich


def _break_stats(monkeypatch: pytest.MonkeyPatch, seen: list[str] | None = None) -> None:
    """StatsEnricher raises on any batch holding ORCHARD; ``seen`` collects the titles given."""

    def enrich(self, articles):
        if seen is not None:
            seen.extend(a.title for a in articles)
        if any(a.title == ORCHARD.title for a in articles):
            raise RuntimeError("stats broke on the orchard story")
        return _ORIGINAL_STATS(self, articles)

    monkeypatch.setattr(StatsEnricher, "enrich", enrich)


def _fix_stats(monkeypatch: pytest.MonkeyPatch, seen: list[str]) -> None:
    def enrich(self, articles):
        seen.extend(a.title for a in articles)
        return _ORIGINAL_STATS(self, articles)

    monkeypatch.setattr(StatsEnricher, "enrich", enrich)


def _resources(tmp_path: Path, enrichers: list[str] = CHEAP) -> Resources:
    settings = Settings(inbox=tmp_path / "inbox", data_dir=tmp_path / "data", enrichers=enrichers)
    return Resources.build(settings)


def _by_title(resources: Resources) -> dict:
    return {r.title: r for r in resources.store.iter_articles(include_duplicates=True)}


class TestStored:
    def test_failed_article_is_stored_with_the_enricher_fields_null(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The other articles and the failed one are stored; the failed one has language and
        lead, no word count, and enrich_errors naming stats; the summary counts it in failed."""
        _break_stats(monkeypatch)
        resources = _resources(tmp_path)
        dump = tmp_path / "dump.txt"
        dump.write_text(render_dump([HARBOUR, ORCHARD, BRIDGE]), encoding="utf-8")
        summary = FileDriver(resources).ingest(dump)
        assert summary.state == "done"
        assert (summary.found, summary.new, summary.duplicates, summary.failed) == (3, 3, 0, 1)
        records = _by_title(resources)
        assert set(records) == {HARBOUR.title, ORCHARD.title, BRIDGE.title}
        orchard = records[ORCHARD.title]
        assert (orchard.word_count, orchard.reading_time_s) == (None, None)
        assert orchard.language == "en"
        assert orchard.lead == ORCHARD.paragraphs[0]
        assert orchard.enrich_errors == {"stats": REASON}
        for title in (HARBOUR.title, BRIDGE.title):
            assert records[title].enrich_errors is None
            assert records[title].word_count
        resources.store.close()

    def test_counts_with_a_repeat_and_a_file_seen_before(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """found is every sighting, failed every sighting with an error; a failed article seen
        again in a later file is a duplicate, not new, and still counted failed there."""
        _break_stats(monkeypatch)
        resources = _resources(tmp_path)
        first = tmp_path / "first.txt"
        first.write_text(render_dump([ORCHARD, HARBOUR, ORCHARD]), encoding="utf-8")
        summary = FileDriver(resources).ingest(first)
        assert (summary.found, summary.new, summary.duplicates, summary.failed) == (3, 2, 1, 2)
        second = tmp_path / "second.txt"
        second.write_text(render_dump([BRIDGE, ORCHARD]), encoding="utf-8")
        summary = FileDriver(resources).ingest(second)
        assert (summary.found, summary.new, summary.duplicates, summary.failed) == (2, 1, 1, 1)
        orchard = _by_title(resources)[ORCHARD.title]
        assert sorted((Path(s.file).name, s.index) for s in orchard.sources) == [
            ("first.txt", 0),
            ("first.txt", 2),
            ("second.txt", 1),
        ]
        assert orchard.enrich_errors == {"stats": REASON}
        resources.store.close()

    def test_article_ids_failed_selects_only_articles_with_errors(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        _break_stats(monkeypatch)
        resources = _resources(tmp_path)
        dump = tmp_path / "dump.txt"
        dump.write_text(render_dump([HARBOUR, ORCHARD, BRIDGE]), encoding="utf-8")
        FileDriver(resources).ingest(dump)
        orchard = _by_title(resources)[ORCHARD.title]
        assert resources.store.article_ids(failed=True) == [orchard.id]
        assert len(resources.store.article_ids()) == 3
        assert resources.store.article_ids(older_than="0.0.1", failed=True) == []
        resources.store.close()


class TestReenrichFailed:
    def test_reenrich_keeps_errors_of_enrichers_it_did_not_run(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A re-run without stats cannot clear the stats error: it stays, fields still null."""
        _break_stats(monkeypatch)
        resources = _resources(tmp_path)
        dump = tmp_path / "dump.txt"
        dump.write_text(render_dump([HARBOUR, ORCHARD]), encoding="utf-8")
        FileDriver(resources).ingest(dump)
        resources.store.close()
        monkeypatch.setattr(StatsEnricher, "enrich", _ORIGINAL_STATS)

        without_stats = _resources(tmp_path, ["language", "lead"])
        ids = without_stats.store.article_ids(failed=True)
        assert reenrich_articles(without_stats, ids) == 1
        orchard = _by_title(without_stats)[ORCHARD.title]
        assert orchard.enrich_errors == {"stats": REASON}
        assert orchard.word_count is None
        assert without_stats.store.article_ids(failed=True) == ids
        without_stats.store.close()

    def test_reenrich_that_fails_again_keeps_the_error(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        _break_stats(monkeypatch)
        resources = _resources(tmp_path)
        dump = tmp_path / "dump.txt"
        dump.write_text(render_dump([HARBOUR, ORCHARD]), encoding="utf-8")
        FileDriver(resources).ingest(dump)
        ids = resources.store.article_ids(failed=True)
        assert reenrich_articles(resources, ids) == 1
        orchard = _by_title(resources)[ORCHARD.title]
        assert orchard.enrich_errors == {"stats": REASON}
        assert orchard.language == "en"
        resources.store.close()

    def test_reenrich_nulls_the_fields_of_an_enricher_that_now_fails(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A stored article an enricher now fails on: its old values are not left beside the
        error, they become null."""
        resources = _resources(tmp_path)
        dump = tmp_path / "dump.txt"
        dump.write_text(render_dump([HARBOUR, ORCHARD]), encoding="utf-8")
        FileDriver(resources).ingest(dump)
        assert _by_title(resources)[ORCHARD.title].word_count
        _break_stats(monkeypatch)
        assert reenrich_articles(resources, resources.store.article_ids()) == 2
        records = _by_title(resources)
        assert records[ORCHARD.title].word_count is None
        assert records[ORCHARD.title].enrich_errors == {"stats": REASON}
        assert records[HARBOUR.title].word_count and records[HARBOUR.title].enrich_errors is None
        resources.store.close()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`newsingest` in-process, in tmp_path (./data is the test's own), cheap enrichers only."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEWSINGEST_ENRICHERS", json.dumps(CHEAP))
    runner = CliRunner()

    def invoke(*args: str):
        result = runner.invoke(app, ["--log-format", "json", *args])
        assert result.exit_code == 0, result.output
        return result

    return invoke


def _jsonl(cli) -> dict[str, dict]:
    lines = cli("articles", "--format", "jsonl", "--all").stdout.splitlines()
    records = [json.loads(line) for line in lines]
    return {r["title"]: r for r in records}


def test_cli_ingest_then_reenrich_failed(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ingest` counts the article in failed and stores it; `articles` prints enrich_errors;
    `reenrich --failed --in-process` with stats fixed fills its fields and clears the errors,
    and re-enriches no other article."""
    _break_stats(monkeypatch)
    monkeypatch.setattr(pipeline, "PIPELINE_VERSION", "0.1.0")
    (tmp_path / "dump.txt").write_text(render_dump([HARBOUR, ORCHARD, BRIDGE]), encoding="utf-8")
    (summary,) = json.loads(cli("ingest", "--json", "dump.txt").stdout)
    assert (summary["state"], summary["found"], summary["new"]) == ("done", 3, 3)
    assert (summary["duplicates"], summary["failed"]) == (0, 1)

    before = _jsonl(cli)
    assert set(before) == {HARBOUR.title, ORCHARD.title, BRIDGE.title}
    assert before[ORCHARD.title]["enrich_errors"] == {"stats": REASON}
    assert before[ORCHARD.title]["word_count"] is None
    assert before[HARBOUR.title]["enrich_errors"] is None

    monkeypatch.setattr(pipeline, "PIPELINE_VERSION", "0.2.0")
    seen: list[str] = []
    _fix_stats(monkeypatch, seen)
    result = cli("reenrich", "--failed", "--in-process")
    assert "re-enriched 1 articles" in result.stdout
    assert seen == [ORCHARD.title]

    after = _jsonl(cli)
    orchard = after[ORCHARD.title]
    assert orchard["enrich_errors"] is None
    assert orchard["word_count"] == sum(len(p.split()) for p in ORCHARD.paragraphs)
    assert orchard["reading_time_s"]
    assert orchard["pipeline_version"] == "0.2.0"
    for title in (HARBOUR.title, BRIDGE.title):
        assert after[title] == before[title]  # untouched, still pipeline 0.1.0
        assert after[title]["pipeline_version"] == "0.1.0"

    seen.clear()
    assert "re-enriched 0 articles" in cli("reenrich", "--failed", "--in-process").stdout
    assert seen == []
