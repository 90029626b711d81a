"""Tests for worker/enrich/keywords.py."""

from __future__ import annotations

import pytest

from tests.enrich.conftest import ARABIC, MINISTER, PROSE, article
from worker.enrich import EnrichResources, KeywordsEnricher


@pytest.fixture(scope="module")
def enricher(resources: EnrichResources) -> KeywordsEnricher:
    return KeywordsEnricher(resources.analyzer)


class TestKeywordsEnricher:
    def test_key_phrases(self, enricher: KeywordsEnricher) -> None:
        """The story's subject is among its key phrases; at most ten."""
        (fields,) = enricher.enrich([PROSE])
        keywords = fields["keywords"]
        assert 0 < len(keywords) <= 10
        assert any("wheat harvest" in k or "Grain traders" in k for k in keywords)

    def test_no_phrase_repeats_another(self, enricher: KeywordsEnricher) -> None:
        """A phrase whose words a kept phrase already holds is left out."""
        (fields,) = enricher.enrich([MINISTER])
        words = [set(k.casefold().split()) for k in fields["keywords"]]
        for i, a in enumerate(words):
            for b in words[i + 1 :]:
                assert not (a <= b or b <= a)

    def test_arabic_without_punctuation(self, enricher: KeywordsEnricher) -> None:
        """Arabic key phrases, with no Arabic comma or quotation mark inside them."""
        (fields,) = enricher.enrich([ARABIC])
        assert fields["keywords"]
        assert not any(ch in k for k in fields["keywords"] for ch in '،"“”')

    def test_empty_article(self, enricher: KeywordsEnricher) -> None:
        """No text, no key phrases."""
        assert enricher.enrich([article("", "")]) == [{"keywords": []}]


class TestOverlapRules:
    def test_edge_overlap_and_fragments_are_overlaps(self) -> None:
        """A word-run inside another, or one phrase ending where the other starts, overlaps."""
        from worker.enrich.keywords import overlaps, phrase_words

        assert overlaps(phrase_words("Harbour Lane"), phrase_words("old Harbour Lane bridge"))
        assert overlaps(phrase_words("ferry to stop"), phrase_words("stop the crossing"))
        assert not overlaps(phrase_words("ferry crews"), phrase_words("harbour master"))

    def test_function_words_trimmed_at_edges(self) -> None:
        """Articles, prepositions and reporting verbs go from the edges; other words stay."""
        from worker.enrich.keywords import trim_function_words

        assert trim_function_words("past Tomas Berg") == "past Tomas Berg"
        assert trim_function_words("the ferry crews of") == "ferry crews"
        assert trim_function_words("Statistics showed") == "Statistics"

    def test_no_overlapping_phrases_in_output(self, enricher: KeywordsEnricher) -> None:
        """No kept phrase overlaps another (checked word by word, as the bench does)."""
        from worker.enrich.keywords import overlaps, phrase_words

        text = (
            "The Office for Harbour Statistics showed freight volumes falling at the port of "
            "Kelso Bay. The Harbour Statistics office said the Kelso Bay ferry crews would strike "
            "over pay, and the ferry crews union said the strike at Kelso Bay port would last "
            "two weeks. Harbour master Tomas Berg said the Kelso Bay ferry timetable would change."
        )
        (fields,) = enricher.enrich([article("Port strike", text)])
        words = [phrase_words(k) for k in fields["keywords"]]
        assert words
        for i, a in enumerate(words):
            for b in words[i + 1 :]:
                assert not overlaps(a, b), (a, b)
