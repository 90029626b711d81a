"""The real dumps of ../shared/samples (skipped when that folder is absent): every one parses to its
real number of articles, and the seed dump gives exactly the records issue #2 describes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from worker.cli import app
from worker.parse import parse_dump

EXPECTED_ARTICLES = {
    "000_ea8bfdc928b77613.txt": 2,
    "aawsat-en-pages.txt": 2,
    "bbc-business.txt": 510,
    "bbc-entertainment.txt": 386,
    "bbc-politics.txt": 417,
    "bbc-sport.txt": 511,
    "bbc-tech.txt": 401,
    "reuters-1987.txt": 925,
    "aawsat-ar-2015.txt": 1000,
}


@pytest.mark.parametrize("name", sorted(EXPECTED_ARTICLES))
def test_every_sample_parses_to_its_real_article_count(samples: Path, name: str) -> None:
    """Each sample gives its known number of articles and no line left unplaced."""
    result = parse_dump((samples / name).read_bytes())
    assert len(result.articles) == EXPECTED_ARTICLES[name]
    assert result.unplaced == []
    for article in result.articles:
        assert article.title and article.paragraphs
        assert "TT" not in article.paragraphs
        assert article.title not in article.paragraphs


def test_seed_dump_records(samples: Path, tmp_path: Path, monkeypatch) -> None:
    """The seed dump: titles as in the dump, the caption once, credits AP and AFP, bodies with
    no marker, repeated title or caption, and the dump's paragraphs in order."""
    monkeypatch.chdir(tmp_path)
    seed = samples / "000_ea8bfdc928b77613.txt"
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(seed)]).exit_code == 0
    lines = runner.invoke(app, ["articles", "--format", "jsonl"]).stdout.splitlines()
    records = [json.loads(line) for line in lines]

    text = seed.read_text(encoding="utf-8")
    blocks = [b.strip() for b in text.split("\n\n") if b.strip()]
    assert [r["title"] for r in records] == [
        "Turkey Announces Idlib Ceasefire for Jan. 12 as Strikes Continue",
        "Lavrov: Moscow Maintains Communication with Damascus, Will Not Withdraw from the Region",
    ]
    assert [r["image_credit"] for r in records] == ["AP", "AFP"]
    for record in records:
        caption = record["image_caption"]
        assert caption and "\n" not in caption
        assert caption in text
        paragraphs = record["body"].split("\n\n")
        assert "TT" not in record["body"].splitlines()
        assert record["title"] not in paragraphs and caption not in record["body"]
        # in the dump's order: each paragraph is a block of the dump, after the one before it
        positions = [blocks.index(p) for p in paragraphs]
        assert positions == sorted(positions)
        assert record["lead"] == paragraphs[0]
        assert record["language"] == "en"
    assert len(records[0]["body"].split("\n\n")) == 12
    assert len(records[1]["body"].split("\n\n")) == 16


def test_bbc_exact_duplicates(samples: Path, tmp_path: Path, monkeypatch) -> None:
    """The five BBC files hold 2,225 articles, 101 of them exact duplicates: 2,124 records."""
    monkeypatch.chdir(tmp_path)
    bbc = sorted(str(p) for p in samples.glob("bbc-*.txt"))
    # de-duplication is under test here, not enrichment: only the cheap enrichers
    monkeypatch.setenv("NEWSINGEST_ENRICHERS", '["language", "stats"]')
    runner = CliRunner()
    result = runner.invoke(app, ["ingest", "--json", *bbc])
    assert result.exit_code == 0
    summaries = json.loads(result.stdout)
    assert sum(s["found"] for s in summaries) == 2225
    assert sum(s["new"] for s in summaries) == 2124
    assert sum(s["duplicates"] for s in summaries) == 101
    assert sum(s["near_duplicates"] for s in summaries) == 67  # edited versions, linked
    status = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    # records: canonical stories ("articles") and the versions linked to them
    assert status["articles"] + status["near_duplicates"] == 2124
    assert status["near_duplicates"] == 67
    assert status["exact_duplicates"] == 101
