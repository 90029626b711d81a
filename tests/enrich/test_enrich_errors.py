"""Tests for worker/enrich/pipeline.py: an enricher failing on one article (issue 8, item 7).

The article keeps the other enrichers' fields; the failing enricher's fields are null and its name
and reason are in the result's errors. No spaCy here: fake enrichers and the cheap real ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from tests.enrich.conftest import PROSE, TABLE, article
from worker.enrich import EnrichPipeline, Fields, build_pipeline
from worker.enrich.base import enricher_fields
from worker.enrich.basic import CreditEnricher, StatsEnricher
from worker.models import ParsedArticle
from worker.settings import Settings

BAD = article("A Story That Breaks One Enricher", "Its only paragraph.", index=1)


class Upper:
    name = "upper"

    def enrich(self, articles: Sequence[ParsedArticle]) -> list[Fields]:
        return [{"upper": a.title.upper()} for a in articles]


class Flaky:
    """Sets two fields; raises on any batch that holds BAD."""

    name = "flaky"
    calls = 0

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error or ValueError("boom")

    def enrich(self, articles: Sequence[ParsedArticle]) -> list[Fields]:
        self.calls += 1
        if any(a.title == BAD.title for a in articles):
            raise self.error
        return [{"a": len(a.title), "b": a.index} for a in articles]


def _raise_on_bad(original):
    def enrich(self, articles):
        if any(a.title == BAD.title for a in articles):
            raise RuntimeError(f"cannot count {len(articles)} articles")
        return original(self, articles)

    return enrich


class TestOneEnricherFails:
    def test_failed_article_keeps_other_fields_and_names_the_enricher(self) -> None:
        """Flaky fails on BAD only: BAD has upper, and a/b null; the others are whole."""
        result = EnrichPipeline([Upper(), Flaky()]).run([PROSE, BAD, TABLE])
        prose, bad, table = result.fields
        assert prose == {"upper": PROSE.title.upper(), "a": len(PROSE.title), "b": 0}
        assert table == {"upper": TABLE.title.upper(), "a": len(TABLE.title), "b": 0}
        assert bad == {"upper": BAD.title.upper(), "a": None, "b": None}
        assert result.errors == {1: {"flaky": "ValueError: boom"}}

    def test_enrichers_after_the_failing_one_still_run_on_the_article(self) -> None:
        """The failing enricher comes first: the later one still sets its field on BAD."""
        result = EnrichPipeline([Flaky(), Upper()]).run([BAD, PROSE])
        assert result.fields[0] == {"a": None, "b": None, "upper": BAD.title.upper()}
        assert result.errors == {0: {"flaky": "ValueError: boom"}}

    def test_two_failing_enrichers_are_both_named(self) -> None:
        """Each failing enricher has its own entry, with the exception type and message; the
        fields it declares are null (flaky declares none and no other article shows them)."""

        class Declared(Flaky):
            name = "declared"
            fields = ("c",)

        result = EnrichPipeline([Flaky(), Declared(KeyError("k"))]).run([BAD])
        assert result.errors == {0: {"flaky": "ValueError: boom", "declared": "KeyError: 'k'"}}
        assert result.fields == [{"c": None}]

    def test_no_failure_no_errors(self) -> None:
        result = EnrichPipeline([Upper(), Flaky()]).run([PROSE, TABLE])
        assert result.errors == {}
        assert all(f is not None and f["a"] for f in result.fields)

    def test_fields_of_a_real_enricher_are_null_even_alone_in_its_batch(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """No other article shows which fields stats sets: its declared fields are null."""
        monkeypatch.setattr(StatsEnricher, "enrich", _raise_on_bad(StatsEnricher.enrich))
        pipeline = build_pipeline(Settings(), ["stats", "lead"])
        result = pipeline.run([BAD])
        assert result.fields == [
            {"word_count": None, "reading_time_s": None, "lead": "Its only paragraph."}
        ]
        assert result.errors == {0: {"stats": "RuntimeError: cannot count 1 articles"}}

    def test_credit_failure_nulls_the_credit(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A failed credit enricher leaves image_credit null, not the raw caption credit."""
        monkeypatch.setattr(CreditEnricher, "enrich", _raise_on_bad(CreditEnricher.enrich))
        result = build_pipeline(Settings(), ["credit"]).run([BAD])
        assert result.fields == [{"image_credit": None}]

    def test_every_registered_enricher_declares_its_fields(self) -> None:
        """The fields a failed enricher nulls are known for every enricher in the registry."""
        from worker.enrich import ENRICHERS

        for name in ENRICHERS:
            assert enricher_fields(name), name
