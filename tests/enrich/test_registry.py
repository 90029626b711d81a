"""Tests for worker/enrich/__init__.py and nlp.py: the registry and the shared spaCy pass."""

from __future__ import annotations

import pytest

from tests.enrich.conftest import ARABIC, MINISTER, PROSE
from worker.enrich import ENRICHERS, EnrichResources, build_pipeline
from worker.enrich.nlp import MODEL_EXCLUDE, RULER_NAME, ArticleAnalyzer
from worker.settings import Settings


class TestRegistry:
    def test_issue_five_enrichers_registered_and_on_by_default(self) -> None:
        """Entities, countries, quotes and keywords are known and in the default settings."""
        for name in ("entities", "countries", "quotes", "keywords"):
            assert name in ENRICHERS
            assert name in Settings().enrichers

    def test_switch_off(self, resources: EnrichResources) -> None:
        """Only the enrichers named run; the others' fields are absent."""
        pipeline = build_pipeline(Settings(), ["language", "countries"], resources)
        (fields,) = pipeline.run([MINISTER]).fields
        assert set(fields) == {"language", "countries"}

    def test_unknown_name(self) -> None:
        """A misspelt enricher name fails at start-up, naming the known ones."""
        with pytest.raises(ValueError, match="unknown enrichers"):
            build_pipeline(Settings(), ["entity"])

    def test_whole_pipeline_fields(self, resources: EnrichResources) -> None:
        """Every record field of issue 5 is set; Arabic gets entities and quotes None."""
        pipeline = build_pipeline(Settings(), None, resources)
        result = pipeline.run([MINISTER, ARABIC])
        english, arabic = result.fields
        assert english is not None and arabic is not None
        assert english["language"] == "en" and arabic["language"] == "ar"
        assert english["entities"]["person"] and english["quotes"]
        assert arabic["entities"] is None and arabic["quotes"] is None
        assert arabic["countries"] and arabic["keywords"]


class TestSharedAnalysis:
    def test_model_components(self, resources: EnrichResources) -> None:
        """Only the parser and the recogniser (and their embedding layer) are loaded, with our
        entity patterns just in front of the recogniser."""
        assert resources.analyzer.nlp.pipe_names == ["tok2vec", "parser", RULER_NAME, "ner"]
        assert not set(MODEL_EXCLUDE) & set(resources.analyzer.nlp.pipe_names)

    def test_one_spacy_pass_per_batch(self, resources: EnrichResources) -> None:
        """The enrichers asking for the same batch get the same analyses, not a second pass."""
        analyzer = resources.analyzer
        first = analyzer.analyses([MINISTER, PROSE])
        second = analyzer.analyses([PROSE])
        assert second[0] is first[1]

    def test_new_batch_replaces_the_old(self, resources: EnrichResources) -> None:
        """A new batch drops the previous batch's analyses: memory stays one batch."""
        analyzer = ArticleAnalyzer(resources.analyzer.nlp)
        (old,) = analyzer.analyses([MINISTER])
        analyzer.analyses([PROSE])
        (again,) = analyzer.analyses([MINISTER])
        assert again is not old
        assert again == old
